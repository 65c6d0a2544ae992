import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, loadProjectConfig, parseProjectConfig } from "../stacks/config/load";
import type { z } from "zod";
import { environmentSchema, type EnvironmentInput } from "../stacks/config/schema";
import { EVERY_SETTING } from "./helpers/variants";

const reject = (input: EnvironmentInput) => () => parseProjectConfig({ environments: { prod: input } }, "replication.config.json");

/** Each setting's path and value; objects are walked, arrays and records of the user's are values. */
function leaves(value: unknown, at = "", found = new Map<string, string>()): Map<string, string> {
  const records = new Set(["tags", "transform.rename", "lambda.environment"]);
  if (value && typeof value === "object" && !Array.isArray(value) && !records.has(at)) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, at ? `${at}.${key}` : key, found);
  } else found.set(at, JSON.stringify(value));
  return found;
}

/** Every setting the schema declares, optional ones included, walked from its shape. */
function settingPaths(schema: z.ZodType, at = ""): string[] {
  const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
  if (["optional", "default", "prefault", "nullable"].includes(def.type)) return settingPaths(def.innerType, at);
  if (def.type === "object" && at !== "tags" && !at.endsWith(".rename")) {
    return Object.entries(def.shape as Record<string, z.ZodType>).flatMap(([key, inner]) => settingPaths(inner, at ? `${at}.${key}` : key));
  }
  if (def.type === "union") return [...new Set((def.options as z.ZodType[]).flatMap((option) => settingPaths(option, at)))];
  return [at];
}

describe("configuration defaults", () => {
  test("EVERY_SETTING, the configuration the Terraform tests apply, sets every setting away from its default", () => {
    const defaults = leaves(parseProjectConfig({}).environments["api-pagos-replication"]);
    const every = leaves(parseProjectConfig({ environments: { every: EVERY_SETTING } }).environments.every);
    const same = [...defaults].filter(([setting, value]) => every.get(setting) === value).map(([setting]) => setting);
    expect(same).toEqual([]);
    // One backend at a time: the local and Terraform Cloud ones are set by other configurations the tests apply or plan.
    const otherBackends = ["backend.path", "backend.organization", "backend.workspace", "backend.workspaceTags", "backend.hostname"];
    const unset = settingPaths(environmentSchema).filter((setting) => !every.has(setting) && !otherBackends.includes(setting));
    expect(unset).toEqual([]);
  });

  test("no configuration is the seed pipeline api-pagos -> api-pos-backup in us-east-1", () => {
    const { environments } = parseProjectConfig({});
    expect(Object.keys(environments)).toEqual(["api-pagos-replication"]);
    const env = environments["api-pagos-replication"];
    expect(env).toMatchObject({
      region: "us-east-1",
      sourceTable: { name: "api-pagos", partitionKey: { name: "id", type: "S" } },
      backupTable: { name: "api-pos-backup" },
      deletes: "retain",
      retainedAttribute: "_deleted_from_source",
      lambda: { runtime: "nodejs22.x", architecture: "arm64", memoryMb: 256 },
      stream: { batchSize: 100, batchingWindowSeconds: 5, maximumRetryAttempts: 5 },
    });
    expect(env.sourceTable.sortKey).toBeUndefined();
  });

  test("partial settings keep the defaults of their siblings", () => {
    const env = parseProjectConfig({ environments: { dev: { lambda: { memoryMb: 1024 }, sourceTable: { sortKey: { name: "ts", type: "N" } } } } }).environments.dev;
    expect(env.lambda).toMatchObject({ memoryMb: 1024, runtime: "nodejs22.x" });
    expect(env.sourceTable).toEqual({ name: "api-pagos", partitionKey: { name: "id", type: "S" }, sortKey: { name: "ts", type: "N" }, existing: false });
  });
});

describe("bad configuration fails with the setting, the value and what is allowed", () => {
  test.each<[string, EnvironmentInput, string]>([
    ["table name too short", { sourceTable: { name: "ab" } }, 'environments.prod.sourceTable.name = "ab": must be 3 to 255 characters of a-z, A-Z, 0-9'],
    ["table name with a bad character", { backupTable: { name: "api pos" } }, 'environments.prod.backupTable.name = "api pos": must be 3 to 255 characters'],
    ["key type", { sourceTable: { partitionKey: { name: "id", type: "X" as "S" } } }, 'environments.prod.sourceTable.partitionKey.type = "X": must be one of "S", "N", "B"'],
    ["same name for both tables", { backupTable: { name: "api-pagos" } }, 'environments.prod.backupTable.name = "api-pagos": must differ from sourceTable.name'],
    ["batch size 0", { stream: { batchSize: 0 } }, "environments.prod.stream.batchSize = 0: must be a whole number from 1 to 10000"],
    ["batch size 10001", { stream: { batchSize: 10001 } }, "environments.prod.stream.batchSize = 10001: must be a whole number from 1 to 10000"],
    ["batching window above 300 s", { stream: { batchingWindowSeconds: 301 } }, "environments.prod.stream.batchingWindowSeconds = 301: must be a whole number from 0 to 300"],
    ["infinite retries", { stream: { maximumRetryAttempts: -1 } }, "environments.prod.stream.maximumRetryAttempts = -1: must be a whole number from 0 to 10000"],
    ["unbounded record age", { stream: { maximumRecordAgeSeconds: -1 } }, "environments.prod.stream.maximumRecordAgeSeconds = -1: must be a whole number from 60 to 604800"],
    ["parallelization factor", { stream: { parallelizationFactor: 11 } }, "environments.prod.stream.parallelizationFactor = 11: must be a whole number from 1 to 10"],
    ["fractional batch size", { stream: { batchSize: 2.5 } }, "environments.prod.stream.batchSize = 2.5: must be a whole number from 1 to 10000"],
    ["apply time budget beyond the job timeout", { applyChangesJob: { timeoutMinutes: 10, timeBudgetSeconds: 590 } }, "environments.prod.applyChangesJob.timeBudgetSeconds = 590: must end at least 420 s before the job's timeout (applyChangesJob.timeoutMinutes = 10)"],
    ["one Spark apply worker (the driver alone)", { applyChangesJob: { type: "glueetl", maxWorkers: 1 } }, "environments.prod.applyChangesJob.maxWorkers = 1: must be a whole number from 2 to 299"],
    ["more Spark apply workers than Glue allows for G.1X", { applyChangesJob: { maxWorkers: 300 } }, "environments.prod.applyChangesJob.maxWorkers = 300: must be a whole number from 2 to 299"],
    ["unknown runtime", { lambda: { runtime: "python3.12" as "nodejs22.x" } }, 'environments.prod.lambda.runtime = "python3.12": must be one of "nodejs22.x", "nodejs24.x"'],
    ["the deprecated nodejs20.x runtime", { lambda: { runtime: "nodejs20.x" as "nodejs22.x" } }, 'environments.prod.lambda.runtime = "nodejs20.x": Node.js 20 reached end of life in April 2026 and AWS deprecated the nodejs20.x runtime: must be one of "nodejs22.x", "nodejs24.x"'],
    ["memory below 128", { lambda: { memoryMb: 64 } }, "environments.prod.lambda.memoryMb = 64: must be a whole number from 128 to 10240"],
    ["memory above 10240", { lambda: { memoryMb: 20000 } }, "environments.prod.lambda.memoryMb = 20000: must be a whole number from 128 to 10240"],
    ["malformed region", { region: "US_EAST_1" }, 'environments.prod.region = "US_EAST_1": must be an AWS region name such as us-east-1'],
    ["unknown setting", { lambda: { memory: 512 } as never }, 'environments.prod.lambda: unknown setting "memory"'],
    ["log retention", { logRetentionDays: 10 }, "environments.prod.logRetentionDays = 10: must be one of the CloudWatch Logs retention periods 1, 3, 5, 7, 14"],
    ["renaming a key attribute", { transform: { rename: { id: "payment_id" } } }, 'environments.prod.transform.rename.id = "payment_id": cannot rename to or from a key attribute (id)'],
    ["dropping a key attribute", { transform: { drop: ["id"] } }, 'environments.prod.transform.drop.0 = "id": cannot drop a key attribute (id)'],
    ["a variable the Lambda runtime sets", { lambda: { environment: { AWS_REGION: "eu-west-1" } } }, 'environments.prod.lambda.environment.AWS_REGION = "eu-west-1": is reserved by the Lambda runtime'],
    ["two attributes renamed to one name", { transform: { rename: { a: "x", b: "x" } } }, 'environments.prod.transform.rename.b = "x": renames to the same name as a'],
    ["a TTL attribute the transform drops", { sourceTable: { ttlAttribute: "expires" }, transform: { drop: ["expires"] } }, 'environments.prod.sourceTable.ttlAttribute = "expires": is renamed or dropped by transform'],
    ["a reserved Lambda variable", { lambda: { environment: { MANIFEST_BUCKET: "x" } } }, 'environments.prod.lambda.environment.MANIFEST_BUCKET = "x": is set by the pipeline'],
    ["an empty retained attribute", { retainedAttribute: "" }, 'environments.prod.retainedAttribute = "": must be 1 to 255 characters (a DynamoDB attribute name)'],
    ["a verify sample fraction of 0", { verifyJob: { sampleFraction: 0 } }, "environments.prod.verifyJob.sampleFraction = 0: must be a number greater than 0 and at most 1"],
    ["a verify sample fraction above 1", { verifyJob: { sampleFraction: 1.5 } }, "environments.prod.verifyJob.sampleFraction = 1.5: must be a number greater than 0 and at most 1"],
    ["a verify settle time above an hour", { verifyJob: { settleSeconds: 3601 } }, "environments.prod.verifyJob.settleSeconds = 3601: must be a whole number from 0 to 3600"],
    ["a verify schedule that is no cron", { verifyJob: { schedule: "weekly" } }, 'environments.prod.verifyJob.schedule = "weekly": must be a Glue cron expression such as cron(0 3 ? * SUN *)'],
    ["a restore drill schedule that is no cron", { restoreDrill: { schedule: "0 4 * * 3" } }, 'environments.prod.restoreDrill.schedule = "0 4 * * 3": must be a Glue cron expression such as cron(0 3 ? * SUN *)'],
    ["a restore drill sample of nothing", { restoreDrill: { sampleFraction: 0 } }, "environments.prod.restoreDrill.sampleFraction = 0: must be a number greater than 0 and at most 1"],
    ["a restore drill sample above the whole", { restoreDrill: { sampleFraction: 2 } }, "environments.prod.restoreDrill.sampleFraction = 2: must be a number greater than 0 and at most 1"],
    ["a restore time of no minutes", { restoreDrill: { maxRestoreMinutes: 0 } }, "environments.prod.restoreDrill.maxRestoreMinutes = 0: must be a whole number from 1 to 2880"],
    ["a restore time past the restore job's timeout", { restoreDrill: { maxRestoreMinutes: 600 } }, "environments.prod.restoreDrill.maxRestoreMinutes = 600: must be at most restore.timeoutMinutes (480): a restore estimated to take longer would be stopped by its job's timeout before it ended"],
    ["a restore worker type", { restore: { workerType: "G.3X" as "G.1X" } }, 'environments.prod.restore.workerType = "G.3X": must be one of "G.1X", "G.2X", "G.4X", "G.8X"'],
    ["the backup as a restore target", { restore: { allowedTargets: ["api-pos-backup"] } }, 'environments.prod.restore.allowedTargets.0 = "api-pos-backup": cannot be backupTable.name: restore reads the backup and never writes it'],
    ["a restore target that is no table name", { restore: { allowedTargets: ["a b"] } }, 'environments.prod.restore.allowedTargets.0 = "a b": must be 3 to 255 characters'],
    ["a negative restore rate", { restore: { maxItemsPerSecond: -1 } }, "environments.prod.restore.maxItemsPerSecond = -1: must be a whole number from 0 to 1000000"],
    ["a retained attribute that is a key", { retainedAttribute: "id" }, 'environments.prod.retainedAttribute = "id": cannot be a key attribute (id)'],
    ["a retained attribute that is the sort key", { sourceTable: { sortKey: { name: "ts" } }, retainedAttribute: "ts" }, 'environments.prod.retainedAttribute = "ts": cannot be a key attribute (id, ts)'],
    ["a retained attribute that is the TTL attribute", { sourceTable: { ttlAttribute: "expires" }, retainedAttribute: "expires" }, 'environments.prod.retainedAttribute = "expires": cannot be sourceTable.ttlAttribute'],
    ["renaming the retained attribute", { transform: { rename: { _deleted_from_source: "gone" } } }, 'environments.prod.transform.rename._deleted_from_source = "gone": cannot rename to or from retainedAttribute ("_deleted_from_source")'],
    ["renaming onto the retained attribute", { retainedAttribute: "gone", transform: { rename: { status: "gone" } } }, 'environments.prod.transform.rename.status = "gone": cannot rename to or from retainedAttribute ("gone")'],
    ["dropping the retained attribute", { transform: { drop: ["debug", "_deleted_from_source"] } }, 'environments.prod.transform.drop.1 = "_deleted_from_source": cannot drop retainedAttribute ("_deleted_from_source")'],
  ])("%s", (_label, input, message) => {
    expect(reject(input)).toThrow(ConfigError);
    expect(reject(input)).toThrow(`Invalid replication.config.json:\n  - ${message}`);
  });

  test("every problem is listed, not only the first", () => {
    expect(reject({ region: "x", lambda: { memoryMb: 1 } })).toThrow(/region = "x".*\n.*lambda\.memoryMb = 1/);
  });
});

describe("configuration file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "replication-config-"));

  test("replication.config.json in the project root is read when present", () => {
    fs.writeFileSync(path.join(dir, "replication.config.json"), JSON.stringify({ environments: { staging: { region: "eu-west-1" } } }));
    expect(loadProjectConfig(dir, {}).environments.staging.region).toBe("eu-west-1");
  });

  test("REPLICATION_CONFIG names another file; a missing one is an error", () => {
    fs.writeFileSync(path.join(dir, "other.json"), JSON.stringify({ environments: { other: {} } }));
    expect(Object.keys(loadProjectConfig(dir, { REPLICATION_CONFIG: "other.json" }).environments)).toEqual(["other"]);
    expect(() => loadProjectConfig(dir, { REPLICATION_CONFIG: "missing.json" })).toThrow("REPLICATION_CONFIG names missing.json, which does not exist");
  });

  test("a file that is not JSON names itself", () => {
    fs.writeFileSync(path.join(dir, "broken.json"), "{ region: ");
    expect(() => loadProjectConfig(dir, { REPLICATION_CONFIG: "broken.json" })).toThrow(/^broken\.json is not valid JSON/);
  });
});
