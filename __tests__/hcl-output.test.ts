/**
 * `cdktf synth --hcl` for a reviewer who reads HCL: cdk.tf must be HCL that HashiCorp's parser
 * accepts and must say, value by value, what cdk.tf.json says; and whichever format a synth
 * writes, each stack folder is left with that one configuration.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ProjectConfigInput } from "../stacks/config/schema";
import { runAppCommand } from "./helpers/app-command";
import { configurationDifferences, parseHcl } from "./helpers/hcl";
import { referencedFiles } from "./helpers/synth";

/** Each configuration another test file synthesizes, as one environment of a project. */
const VARIANTS = {
  environments: {
    "customer-managed-key": {
      allowedAccountIds: ["100000000001"],
      encryption: { customerManagedKey: true },
      deletes: "mirror",
      alarms: { email: "oncall@example.com" },
    },
    "configured-controls": {
      allowedAccountIds: ["100000000002"],
      encryption: { customerManagedKey: true },
      deletionProtection: false,
      sourceTable: { ttlAttribute: "expires_at" },
      logRetentionDays: 365,
      bucket: { noncurrentVersionDays: 7, rejectedManifestDays: 400 },
      alarms: { email: "oncall@example.com", iteratorAgeSeconds: 120 },
    },
    "backup-keeps-expired": {
      allowedAccountIds: ["100000000003"],
      sourceTable: { ttlAttribute: "expires_at" },
      backupTable: { expireWithSource: false },
    },
    "existing-source-table": {
      allowedAccountIds: ["100000000004"],
      sourceTable: { existing: true, partitionKey: { name: "pk", type: "S" }, sortKey: { name: "sk", type: "N" } },
    },
    transform: {
      allowedAccountIds: ["100000000005"],
      deletes: "mirror",
      transform: { rename: { amount: "importe" }, drop: ["debug"] },
      fullCopyJob: { verifyWrites: false, scanSegments: 64 },
      applyChangesJob: { timeBudgetSeconds: 900 },
    },
    "composite-key-spark": {
      region: "eu-west-3",
      sourceTable: { name: "payments", partitionKey: { name: "pk", type: "N" }, sortKey: { name: "sk", type: "B" } },
      backupTable: { name: "payments-copy" },
      deletes: "mirror",
      lambda: { memoryMb: 512, runtime: "nodejs20.x", architecture: "x86_64" },
      stream: { batchSize: 500 },
      applyChangesJob: { type: "glueetl" },
      fullCopyJob: { schedule: null },
      tags: { team: "payments" },
    },
    "cloud-workspace-tags": {
      allowedAccountIds: ["100000000006"],
      backend: { type: "cloud", organization: "acme", workspaceTags: ["replication", "prod"], hostname: "tfe.example.com" },
      providerVersion: ">= 6.25, < 7.0",
    },
    // The two environments of environments.test.ts: an S3 backend, and Terraform Cloud.
    staging: {
      region: "eu-west-1",
      namePrefix: "payments-staging",
      sourceTable: { name: "api-pagos-staging" },
      backupTable: { name: "api-pos-backup-staging" },
      backend: { type: "s3", bucket: "acme-terraform-state", kmsKeyId: "alias/terraform-state" },
      tags: { "cost-center": "payments" },
      lambda: { memoryMb: 128 },
    },
    prod: {
      region: "eu-west-1",
      allowedAccountIds: ["111122223333"],
      backend: { type: "cloud", organization: "acme", workspace: "payments-replication-prod" },
      fullCopyJob: { numberOfWorkers: 10 },
    },
  },
} satisfies ProjectConfigInput;
const DEFAULT_STACK = "api-pagos-replication";

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
    const hcl = await parseHcl("cdk.tf", fs.readFileSync(path.join(hclDir, "cdk.tf"), "utf8"));
    const json = JSON.parse(fs.readFileSync(path.join(stackDir("json", name), "cdk.tf.json"), "utf8"));
    expect(Object.keys(json.resource).length).toBeGreaterThan(20);
    expect(configurationDifferences(json, hcl)).toEqual([]);
    expect(fs.existsSync(path.join(hclDir, "REVIEW.md"))).toBe(true);
    for (const file of referencedFiles(json.resource)) expect({ file, exists: fs.existsSync(path.join(hclDir, file)) }).toEqual({ file, exists: true });
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
