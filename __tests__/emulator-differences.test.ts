/**
 * What the emulator runs change, and only that: each listed attribute ignored on the resources of its
 * type, the bucket policy replaced; and how a plan's changes are reported. docs/testing.md lists every
 * difference.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EMULATOR_DIFFERENCES, emulatorResourceOverrides, plannedChanges } from "./helpers/emulator-differences";
import type { ResourceChange, TerraformPlan } from "../local-aws/terraform-workdir";

const update = (address: string, before: Record<string, unknown>, after: Record<string, unknown>, afterUnknown: Record<string, unknown> = {}): ResourceChange => {
  const [type, name] = address.split(".");
  return { address, mode: "managed", type, name, change: { actions: ["update"], before, after, after_unknown: afterUnknown } };
};
const plan = (changes: ResourceChange[]): TerraformPlan => ({ resource_changes: changes });

test("the emulator's override ignores the listed attributes on each resource of their type, nothing else, and replaces the bucket policy", () => {
  const stack: Record<string, string[]> = {
    aws_glue_job: ["apply", "verify"],
    aws_lambda_function: ["trigger"],
    aws_s3_bucket: ["bucket"],
    aws_s3_bucket_policy: ["policy"],
    aws_dynamodb_table: ["source"],
  };
  const overrides = emulatorResourceOverrides((type) => stack[type] ?? []);
  expect(Object.keys(overrides).sort()).toEqual(["aws_glue_job", "aws_lambda_function", "aws_s3_bucket_policy"]);
  for (const job of ["apply", "verify"]) expect(overrides.aws_glue_job[job]).toEqual({ lifecycle: { ignore_changes: ["execution_class", "job_run_queuing_enabled"] } });
  expect(overrides.aws_lambda_function.trigger).toEqual({ lifecycle: { ignore_changes: ["logging_config"] } });
  expect(overrides.aws_s3_bucket_policy.policy.policy).toContain("${aws_s3_bucket.bucket.arn}/emulator-denied/*");
});

test("what the emulator cannot create is left out of the configurations it applies only", () => {
  const stack: Record<string, string[]> = { aws_backup_selection: ["selection"], aws_s3_bucket: ["bucket"], aws_s3_bucket_policy: ["policy"] };
  const names = (type: string) => stack[type] ?? [];
  expect(emulatorResourceOverrides(names, true).aws_backup_selection).toEqual({ selection: { count: 0 } });
  expect(emulatorResourceOverrides(names).aws_backup_selection).toBeUndefined();
});

test("an attribute ignored on several types is ignored on each resource of each", () => {
  const stack: Record<string, string[]> = { aws_backup_vault: ["vault"], aws_backup_plan: ["plan"], aws_s3_bucket: ["bucket"], aws_s3_bucket_policy: ["policy"] };
  const overrides = emulatorResourceOverrides((type) => stack[type] ?? []);
  expect(overrides.aws_backup_vault.vault).toEqual({ lifecycle: { ignore_changes: ["tags_all"] } });
  expect(overrides.aws_backup_plan.plan).toEqual({ lifecycle: { ignore_changes: ["tags_all"] } });
});

describe("plannedChanges", () => {
  const job = "aws_glue_job.jobs_apply-changes_job";

  test("an update is one line per changed or unknown attribute", () => {
    expect(plannedChanges(plan([update(job, { timeout: 60, name: "j", role: "a" }, { timeout: 30, name: "j" }, { role: true })]))).toEqual([
      `${job}.timeout: 60 -> 30`,
      `${job}.role: unknown until apply`,
    ]);
  });

  test("a replacement, a creation, a deletion and a read at apply are one line each", () => {
    const replace: ResourceChange = { ...update(job, {}, {}), change: { actions: ["delete", "create"], before: {}, after: {} } };
    const create: ResourceChange = { ...update("aws_sqs_queue.q", {}, {}), change: { actions: ["create"], before: null, after: {} } };
    const read: ResourceChange = { address: "data.x.y", mode: "data", type: "x", name: "y", action_reason: "read_because_dependency_pending", change: { actions: ["read"], before: null, after: {} } };
    const same: ResourceChange = { ...update("aws_sqs_queue.r", {}, {}), change: { actions: ["no-op"], before: {}, after: {} } };
    expect(plannedChanges(plan([replace, create, read, same]))).toEqual([`${job}: delete, create`, "aws_sqs_queue.q: create", "data.x.y: read during apply (read_because_dependency_pending)"]);
  });
});

test("the testing doc's table lists every emulator difference", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "docs", "testing.md"), "utf8");
  const start = readme.indexOf("| Difference | What moto does | Evidence |");
  const end = readme.indexOf("\n\n", start);
  expect(start).toBeGreaterThan(0);
  const table = readme.slice(start, end);
  for (const { id } of EMULATOR_DIFFERENCES) expect({ id, listed: table.includes(`| \`${id}\` |`) }).toEqual({ id, listed: true });
});
