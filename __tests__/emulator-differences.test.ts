/**
 * The gate on the second plan after apply: only the listed emulator differences pass, attribute by
 * attribute, and the README lists each of them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EMULATOR_DIFFERENCES, unexplainedChanges } from "./helpers/emulator-differences";
import type { ResourceChange, TerraformPlan } from "./helpers/terraform";

const job = "aws_glue_job.jobs_apply-changes_job";
const update = (address: string, before: Record<string, unknown>, after: Record<string, unknown>, afterUnknown: Record<string, unknown> = {}): ResourceChange => {
  const [type, name] = address.split(".");
  return { address, mode: "managed", type, name, change: { actions: ["update"], before, after, after_unknown: afterUnknown } };
};
const plan = (changes: ResourceChange[], configuration: unknown = {}): TerraformPlan => ({ resource_changes: changes, configuration });

describe("unexplainedChanges", () => {
  test("a listed difference passes; the same attribute changing otherwise does not", () => {
    expect(unexplainedChanges(plan([update(job, { execution_class: "STANDARD", name: "j" }, { execution_class: null, name: "j" })]))).toEqual([]);
    expect(unexplainedChanges(plan([update(job, { execution_class: "FLEX" }, { execution_class: null })]))).toEqual([`${job}.execution_class: "FLEX" -> null`]);
    expect(unexplainedChanges(plan([update(job, { timeout: 60 }, { timeout: 30 })]))).toEqual([`${job}.timeout: 60 -> 30`]);
  });

  test("a replacement, a creation or a deletion is never explained", () => {
    const replace: ResourceChange = { ...update(job, {}, {}), change: { actions: ["delete", "create"], before: {}, after: {} } };
    const create: ResourceChange = { ...update("aws_sqs_queue.q", {}, {}), change: { actions: ["create"], before: null, after: {} } };
    expect(unexplainedChanges(plan([replace, create]))).toEqual([`${job}: delete, create`, "aws_sqs_queue.q: create"]);
  });

  test("a value unknown until apply passes only when it comes from a data source read at apply for a pending change", () => {
    const read: ResourceChange = {
      address: "data.aws_iam_policy_document.p",
      mode: "data",
      type: "aws_iam_policy_document",
      name: "p",
      action_reason: "read_because_dependency_pending",
      change: { actions: ["read"], before: null, after: {} },
    };
    const policy = update("aws_iam_role_policy.r", { policy: "{}" }, {}, { policy: true });
    const configuration = (refs: string[]) => ({ root_module: { resources: [{ address: "aws_iam_role_policy.r", expressions: { policy: { references: refs } } }] } });
    expect(unexplainedChanges(plan([read, policy], configuration(["data.aws_iam_policy_document.p.json", "data.aws_iam_policy_document.p"])))).toEqual([]);
    expect(unexplainedChanges(plan([read, policy], configuration(["aws_sqs_queue.q.arn"])))).toEqual(["aws_iam_role_policy.r.policy: unknown until apply"]);
    expect(unexplainedChanges(plan([{ ...read, action_reason: "read_because_config_unknown" }]))).toEqual([
      "data.aws_iam_policy_document.p: read during apply (read_because_config_unknown)",
    ]);
  });
});

test("the README lists every emulator difference", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  for (const { id } of EMULATOR_DIFFERENCES) expect({ id, listed: readme.includes(`| \`${id}\` |`) }).toEqual({ id, listed: true });
});
