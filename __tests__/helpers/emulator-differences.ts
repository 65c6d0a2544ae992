/**
 * Where moto (5.2, server mode) answers differently from AWS for this stack, each with the evidence.
 * A second plan after apply must show no change but these, attribute by attribute; anything else is
 * a defect of the stack (or a new difference, to be added here with its evidence).
 */
import type { ResourceChange, TerraformPlan } from "./terraform";

export interface EmulatorDifference {
  readonly id: string;
  /** What the emulator does, and what AWS does instead. */
  readonly difference: string;
  /** Where it shows, in moto's code or in what Terraform printed. */
  readonly evidence: string;
  /** The planned change of one attribute it explains (`before` -> `after`). */
  explains(type: string, attribute: string, before: unknown, after: unknown): boolean;
}

const isEmpty = (value: unknown) => value === null || value === undefined || (Array.isArray(value) && value.length === 0);

export const EMULATOR_DIFFERENCES: readonly EmulatorDifference[] = [
  {
    id: "glue-execution-class",
    difference: "moto gives a Glue job created without ExecutionClass the class STANDARD in GetJob; the stack leaves it unset (apply-changes must not be Flex)",
    evidence: 'moto/glue/models.py: `self.execution_class = execution_class or "STANDARD"`; the second plan showed execution_class "STANDARD" -> null on every job',
    explains: (type, attribute, before, after) => type === "aws_glue_job" && attribute === "execution_class" && before === "STANDARD" && after === null,
  },
  {
    id: "glue-job-run-queuing",
    difference: "moto does not store a job's JobRunQueuingEnabled, so GetJob never returns it; AWS does (the apply-changes job turns queuing on)",
    evidence: "moto/glue has no JobRunQueuingEnabled anywhere; the second plan showed job_run_queuing_enabled false -> true on apply-changes",
    explains: (type, attribute, before, after) => type === "aws_glue_job" && attribute === "job_run_queuing_enabled" && before === false && after === true,
  },
  {
    id: "lambda-logging-config",
    difference: "moto's Lambda does not implement LoggingConfig (JSON log format, the function's log group), so GetFunction never returns it",
    evidence: "moto/awslambda/models.py has no LoggingConfig; the second plan showed logging_config [] -> [{log_format = JSON, ...}]",
    explains: (type, attribute, before, after) => type === "aws_lambda_function" && attribute === "logging_config" && isEmpty(before) && Array.isArray(after) && after.length === 1,
  },
  {
    id: "s3-policy-conditions",
    difference:
      "moto ignores the conditions of a bucket policy: the TLS-only Deny (aws:SecureTransport false) denies every object request, over https too, so the provider could not read the objects it uploaded. On the emulator only, the policy's Deny covers one unused prefix (emulator-denied/); the synthesized policy is checked as written by the stack tests",
    evidence:
      'moto/s3/models.py, bucket policies: "Conditions are not taken into account"; measured: HeadObject over https on moto_server --ssl answers 403 once the policy exists, and the second plan failed with 403 on every aws_s3_object',
    explains: () => false,
  },
  {
    id: "s3-delete-marker",
    difference:
      "moto cannot delete a delete marker: DeleteObject or DeleteObjects naming its version answers 500, so a bucket holding one can never be emptied (force_destroy retries until it times out). The objects the tests leave in the bucket before destroy are versions, without the delete marker an applied manifest leaves on AWS",
    evidence: "moto/s3/utils.py, _VersionedKeyStore.pop: `version.dispose()`, and FakeDeleteMarker has no dispose (AttributeError in moto's log); measured with boto3 and with terraform destroy",
    explains: () => false,
  },
];

/**
 * The policy document that replaces the TLS-only one on the emulator (see "s3-policy-conditions"):
 * the same statement, whose Deny moto can apply without denying the stack's own objects.
 */
export function emulatorBucketPolicy(bucketResource: string): string {
  return `\${jsonencode({Version = "2012-10-17", Statement = [{Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*", Resource = "\${${bucketResource}.arn}/emulator-denied/*", Condition = {Bool = {"aws:SecureTransport" = "false"}}}]})}`;
}

/** Each planned change the emulator differences do not explain, as one line; none for a clean second plan. */
export function unexplainedChanges(plan: TerraformPlan): string[] {
  const changes = plan.resource_changes ?? [];
  const deferredReads = new Set(
    changes.filter((change) => change.mode === "data" && change.change.actions.includes("read")).map((change) => change.address),
  );
  const problems: string[] = [];
  for (const change of changes) {
    const { actions } = change.change;
    if (actions.length === 1 && actions[0] === "no-op") continue;
    if (change.mode === "data") {
      // Read at apply only because a resource it names has a pending change: that change is judged itself.
      if (change.action_reason !== "read_because_dependency_pending") problems.push(`${change.address}: read during apply (${change.action_reason ?? "no reason given"})`);
      continue;
    }
    if (actions.length !== 1 || actions[0] !== "update") {
      problems.push(`${change.address}: ${actions.join(", ")}`);
      continue;
    }
    problems.push(...unexplainedAttributes(change, (attribute) => referencesOf(plan, change.address, attribute).some((ref) => deferredReads.has(ref))));
  }
  return problems;
}

/** The addresses an attribute's expression refers to in the configuration (`data.x.y`, `aws_x.y`). */
function referencesOf(plan: TerraformPlan, address: string, attribute: string): string[] {
  const resources = (plan.configuration as { root_module?: { resources?: { address: string; expressions?: Record<string, { references?: string[] }> }[] } })?.root_module?.resources ?? [];
  const refs = resources.find((resource) => resource.address === address)?.expressions?.[attribute]?.references ?? [];
  return refs.map((ref) => ref.split(".").slice(0, ref.startsWith("data.") ? 3 : 2).join("."));
}

function unexplainedAttributes(change: ResourceChange, readAtApply: (attribute: string) => boolean): string[] {
  const { before, after, after_unknown: unknown = {} } = change.change;
  const problems: string[] = [];
  for (const attribute of new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])) {
    if (unknown[attribute] === true) {
      // A value computed from a data source read at apply (see above) is unknown now, not changed.
      if (readAtApply(attribute)) continue;
      problems.push(`${change.address}.${attribute}: unknown until apply`);
      continue;
    }
    const [was, will] = [before?.[attribute], after?.[attribute]];
    if (JSON.stringify(was) === JSON.stringify(will)) continue;
    if (EMULATOR_DIFFERENCES.some((difference) => difference.explains(change.type, attribute, was, will))) continue;
    problems.push(`${change.address}.${attribute}: ${JSON.stringify(was)} -> ${JSON.stringify(will)}`);
  }
  return problems;
}
