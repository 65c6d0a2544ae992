/**
 * `cdktf synth --hcl` for a reviewer who reads HCL: cdk.tf must be HCL that HashiCorp's parser
 * accepts, must write as a block what Terraform reads as a block (and as an argument what it reads
 * as an argument), and must say, value by value, what cdk.tf.json says; and whichever format a synth
 * writes, each stack folder is left with that one configuration.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ProjectConfigInput } from "../stacks/config/schema";
import { runAppCommand } from "./helpers/app-command";
import { blockStructureProblems, configurationDifferences, parseHcl } from "./helpers/hcl";
import { loadProviderSchema } from "./helpers/provider-schema";
import { referencedFiles } from "./helpers/synth";
import { DEFAULT_STACK, VARIANTS } from "./helpers/variants";


/** The schema of hashicorp/aws 6.25.0, the version the stack pins (see SOURCES.md beside it). */

const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

function configFile(config: ProjectConfigInput): string {
  const file = path.join(tempDir("hcl-config-"), "replication.config.json");
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

const configurationFiles = (stackDir: string) => fs.readdirSync(stackDir).filter((file) => /\.tf(\.json)?$/.test(file)).sort();

describe("cdktf synth --hcl writes valid HCL that says what cdk.tf.json says", () => {
  const out = { json: tempDir("hcl-compare-json-"), hcl: tempDir("hcl-compare-hcl-") };
  beforeAll(() => {
    const variants = { REPLICATION_CONFIG: configFile(VARIANTS) };
    for (const format of ["json", "hcl"] as const) {
      // The default stack comes from no configuration at all, the variants from one project.
      runAppCommand({ outdir: path.join(out[format], "default"), hcl: format === "hcl", env: { REPLICATION_CONFIG: "" } });
      runAppCommand({ outdir: path.join(out[format], "variants"), hcl: format === "hcl", env: variants });
    }
  });
  const stackDir = (format: "json" | "hcl", name: string) => path.join(out[format], name === DEFAULT_STACK ? "default" : "variants", "stacks", name);

  test.each([DEFAULT_STACK, ...Object.keys(VARIANTS.environments)])("%s", async (name) => {
    const hclDir = stackDir("hcl", name);
    expect(configurationFiles(hclDir)).toEqual(["cdk.tf"]);
    const text = fs.readFileSync(path.join(hclDir, "cdk.tf"), "utf8");
    const hcl = await parseHcl("cdk.tf", text);
    // hcl2json reads a list of blocks and a list of objects alike: the structure is checked on the text.
    expect(blockStructureProblems(text, loadProviderSchema())).toEqual([]);
    const json = JSON.parse(fs.readFileSync(path.join(stackDir("json", name), "cdk.tf.json"), "utf8"));
    expect(Object.keys(json.resource).length).toBeGreaterThan(20);
    expect(configurationDifferences(json, hcl)).toEqual([]);
    expect(fs.existsSync(path.join(hclDir, "REVIEW.md"))).toBe(true);
    for (const file of referencedFiles(json.resource)) expect({ file, exists: fs.existsSync(path.join(hclDir, file)) }).toEqual({ file, exists: true });
  });
});

describe("the block-structure check sees what hcl2json cannot", () => {
  const schema = () => loadProviderSchema();
  const table = (lifecycle: string) => `data "aws_dynamodb_table" "source" {
name = "api-pagos"
lifecycle {
${lifecycle}
}
}
`;
  // What cdktf 0.21 wrote for sourceTable.existing before HclSafeDataAwsDynamodbTable.
  const asArgument = table(`  postcondition = [
{
condition = "\${self.stream_enabled}"
error_message = "Table api-pagos must have its stream enabled."
},
]`);
  const asBlock = table(`postcondition {
condition = "\${self.stream_enabled}"
error_message = "Table api-pagos must have its stream enabled."
}`);

  test("a block written as an argument is reported, though hcl2json reads it as the block", async () => {
    expect(await parseHcl("argument.tf", asArgument)).toEqual(await parseHcl("block.tf", asBlock));
    expect(blockStructureProblems(asArgument, schema())).toEqual([
      `data.aws_dynamodb_table.source.lifecycle.postcondition (line 4): a block, written as an argument "postcondition = ..."`,
    ]);
    expect(blockStructureProblems(asBlock, schema())).toEqual([]);
  });

  test("each name is judged where it stands, and nothing inside a string or heredoc is structure", () => {
    const config = `data "aws_iam_policy_document" "p" {
statement {
actions = ["s3:GetObject"]
condition {
test = "Bool"
variable = "aws:SecureTransport"
values = ["true"]
}
}
}
resource "aws_dynamodb_table" "t" {
name = "t"
point_in_time_recovery = {
enabled = true
}
tags {
a = "b"
}
lifecycle {
postcondition {
condition = "\${self.stream_view_type == "NEW_AND_OLD_IMAGES" && length({ a = 1 }) == 1}"
error_message = <<EOF
a heredoc with } and
attribute = {
EOF
}
}
}
`;
    expect(blockStructureProblems(config, schema())).toEqual([
      `resource.aws_dynamodb_table.t.point_in_time_recovery (line 13): a block, written as an argument "point_in_time_recovery = ..."`,
      `resource.aws_dynamodb_table.t.tags (line 16): an argument, written as a block "tags {"`,
    ]);
  });
});

describe("after any synth, each stack folder holds one configuration format", () => {
  const environments = ["prod", "staging"];
  const twoEnvironments = () => configFile({ environments: { prod: VARIANTS.environments.prod, staging: VARIANTS.environments.staging } });

  test.each([[["json", "hcl", "json"]], [["hcl", "json"]]] as const)("%j: the other format's file is removed, with one line for each", (sequence) => {
    const outdir = tempDir("hcl-sequence-");
    const env = { REPLICATION_CONFIG: twoEnvironments() };
    const written: Record<string, string> = {};
    sequence.forEach((format, step) => {
      const printed = runAppCommand({ outdir, hcl: format === "hcl", env });
      const file = format === "hcl" ? "cdk.tf" : "cdk.tf.json";
      const other = format === "hcl" ? "cdk.tf.json" : "cdk.tf";
      for (const name of environments) expect({ name, files: configurationFiles(path.join(outdir, "stacks", name)) }).toEqual({ name, files: [file] });
      const removed = printed.split("\n").filter((line) => line.startsWith("Removed "));
      const expected = step === 0 ? [] : environments.map((name) => expect.stringContaining(`${path.join("stacks", name, other)}: this synth wrote ${file} beside it`));
      expect(removed.sort()).toEqual(expected);
      const text = fs.readFileSync(path.join(outdir, "stacks", "prod", file), "utf8");
      // The same format written again is the same file: nothing of the other format leaked into it.
      if (written[format] !== undefined) expect(text).toBe(written[format]);
      written[format] = text;
    });
  });
});
