import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildApp, synthesize } from "../stacks/app";
import { PROJECT_ROOT, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

/** Every string in the JSON that names a file of the stack folder. */
function referencedFiles(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === "string" && /^assets\//.test(value)) found.add(value);
  else if (Array.isArray(value)) value.forEach((v) => referencedFiles(v, found));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => referencedFiles(v, found));
  return found;
}

describe("hand-off: the stack folder is self-contained", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({}, "handoff");
  });

  test("copied elsewhere, every file it names exists relative to it", () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "platform-team-"));
    fs.cpSync(stack.dir, elsewhere, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(elsewhere, "cdk.tf.json"), "utf8"));
    const files = [...referencedFiles(json.resource)];
    expect(files.length).toBeGreaterThanOrEqual(3); // the zip and the two entry points at least
    for (const file of files) expect({ file, exists: fs.existsSync(path.join(elsewhere, file)) }).toEqual({ file, exists: true });
    const onDisk = fs.readdirSync(path.join(elsewhere, "assets"), { recursive: true, encoding: "utf8" }).filter((f) => fs.statSync(path.join(elsewhere, "assets", f)).isFile());
    expect(onDisk.map((f) => `assets/${f}`).sort()).toEqual(files.sort());
  });

  test("REVIEW.md lists resources by type, every IAM grant, public exposure and asset hashes", () => {
    const review = fs.readFileSync(path.join(stack.dir, "REVIEW.md"), "utf8").split("\n");
    for (const [type, resources] of Object.entries(stack.json.resource)) {
      expect(review).toContain(`| \`${type}\` | ${Object.keys(resources).length} |`);
    }
    expect(review).toContain("| api-pagos-replication-change-trigger | `s3:PutObject` | `${aws_s3_bucket." + stack.one("aws_s3_bucket").name + ".arn}/changes/*` |  |");
    expect(review).toContain("| api-pagos-replication-change-trigger | `dynamodb:ListStreams` | `*` |  |");
    expect(review).toContain("None: no resource policy allows `*`, and every S3 bucket blocks public access.");
    const fn = stack.one("aws_lambda_function").body;
    const zipHash = createHash("sha256").update(fs.readFileSync(path.join(stack.dir, fn.filename))).digest("hex");
    expect(review).toContain(`| \`${fn.filename}\` | \`${zipHash}\` |`);
  });
});

describe("cdktf synth --hcl", () => {
  test("writes cdk.tf declaring the same resources, data sources and outputs as the JSON", () => {
    const [jsonOut, hclOut] = [fs.mkdtempSync(path.join(os.tmpdir(), "json-")), fs.mkdtempSync(path.join(os.tmpdir(), "hcl-"))];
    synthesize(buildApp({ projectRoot: PROJECT_ROOT, outdir: jsonOut }));
    // cdktf synth --hcl sets SYNTH_HCL_OUTPUT for the app; run the app command the same way.
    const { app } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "cdktf.json"), "utf8")) as { app: string };
    const [command, ...args] = app.split(/\s+/);
    execFileSync(command === "node" ? process.execPath : command, args, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, SYNTH_HCL_OUTPUT: "true", CDKTF_OUTDIR: hclOut },
      stdio: "pipe",
    });
    const [stackName] = fs.readdirSync(path.join(jsonOut, "stacks"));
    const stackDir = path.join(hclOut, "stacks", stackName);
    expect(fs.existsSync(path.join(stackDir, "cdk.tf.json"))).toBe(false);
    const hcl = fs.readFileSync(path.join(stackDir, "cdk.tf"), "utf8");
    const json = JSON.parse(fs.readFileSync(path.join(jsonOut, "stacks", stackName, "cdk.tf.json"), "utf8"));
    const declared = (kind: string) => [...hcl.matchAll(new RegExp(`^${kind} "([^"]+)" "([^"]+)" \\{`, "gm"))].map((m) => `${m[1]}.${m[2]}`).sort();
    const fromJson = (blocks: Record<string, Record<string, unknown>>) =>
      Object.entries(blocks).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`)).sort();
    expect(declared("resource")).toEqual(fromJson(json.resource));
    expect(declared("data")).toEqual(fromJson(json.data));
    expect([...hcl.matchAll(/^output "([^"]+)" \{/gm)].map((m) => m[1]).sort()).toEqual(Object.keys(json.output).sort());
    expect(fs.existsSync(path.join(stackDir, "REVIEW.md"))).toBe(true);
    for (const file of referencedFiles(json.resource)) expect(fs.existsSync(path.join(stackDir, file))).toBe(true);
  });
});
