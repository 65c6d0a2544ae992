/**
 * Where moto (5.2, server mode) answers differently from AWS for this stack, each with the evidence,
 * and what the emulator runs do about it: an attribute moto does not keep as AWS does is ignored by
 * Terraform (`lifecycle.ignore_changes`, in the emulator's override file only) on the resources of
 * that type, and nothing else, so that the second plan after apply must show no change at all.
 */
import type { ResourceChange, TerraformPlan } from "../../local-aws/terraform-workdir";

export interface EmulatorDifference {
  readonly id: string;
  /** What the emulator does, and what AWS does instead. */
  readonly difference: string;
  /** Where it shows, in moto's code or in what Terraform printed. */
  readonly evidence: string;
  /** The attributes Terraform ignores on the emulator, on every resource of the type (or types). */
  readonly ignoreChanges?: { readonly type: string | readonly string[]; readonly attributes: readonly string[] };
  /** Resources of this type the emulator cannot create: left out (count = 0) of the configurations applied there, planned everywhere. */
  readonly notApplied?: { readonly type: string };
}

export const EMULATOR_DIFFERENCES: readonly EmulatorDifference[] = [
  {
    id: "glue-execution-class",
    difference: "moto gives a Glue job created without ExecutionClass the class STANDARD in GetJob; the stack leaves it unset (apply-changes must not be Flex)",
    evidence: 'moto/glue/models.py: `self.execution_class = execution_class or "STANDARD"`; the second plan showed execution_class "STANDARD" -> null on every job',
    ignoreChanges: { type: "aws_glue_job", attributes: ["execution_class"] },
  },
  {
    id: "glue-job-run-queuing",
    difference: "moto does not store a job's JobRunQueuingEnabled, so GetJob never returns it; AWS does (the apply-changes job turns queuing on)",
    evidence: "moto/glue has no JobRunQueuingEnabled anywhere; the second plan showed job_run_queuing_enabled false -> true on apply-changes",
    ignoreChanges: { type: "aws_glue_job", attributes: ["job_run_queuing_enabled"] },
  },
  {
    id: "lambda-logging-config",
    difference: "moto's Lambda does not implement LoggingConfig (JSON log format, the function's log group), so GetFunction never returns it",
    evidence: "moto/awslambda/models.py has no LoggingConfig; the second plan showed logging_config [] -> [{log_format = JSON, ...}]",
    ignoreChanges: { type: "aws_lambda_function", attributes: ["logging_config"] },
  },
  {
    id: "s3-policy-conditions",
    difference:
      "moto ignores the conditions of a bucket policy: the TLS-only Deny (aws:SecureTransport false) denies every object request, over https too, so the provider could not read the objects it uploaded. On the emulator only, the policy's Deny covers one unused prefix (emulator-denied/); the synthesized policy is checked as written by the stack tests",
    evidence:
      'moto/s3/models.py, bucket policies: "Conditions are not taken into account"; measured: HeadObject over https on moto_server --ssl answers 403 once the policy exists, and the second plan failed with 403 on every aws_s3_object',
  },
  {
    id: "s3-delete-marker",
    difference:
      "moto cannot delete a delete marker: DeleteObject or DeleteObjects naming its version answers 500, so a bucket holding one can never be emptied (force_destroy retries until it times out). The objects the tests leave in the bucket before destroy are versions, without the delete marker an applied manifest leaves on AWS",
    evidence: "moto/s3/utils.py, _VersionedKeyStore.pop: `version.dispose()`, and FakeDeleteMarker has no dispose (AttributeError in moto's log); measured with boto3 and with terraform destroy",
  },
  {
    id: "backup-list-tags",
    difference:
      "moto's AWS Backup ListTags answers no tags to the provider: it reads the ARN from the path's second-to-last segment, as boto3 sends it (/tags/<arn>/), and the provider's Go SDK sends /tags/<arn> without the slash. AWS returns the vault's and the plan's tags (the provider's default tags)",
    evidence:
      'moto/backup/responses.py list_tags: `unquote(self.path.split("/")[-2])`; measured: the provider (5.100.0, TF_LOG=DEBUG) sent GET /tags/arn%3Aaws%3Abackup%3A...%3Abackup-vault%3Av1 and got {"Tags": {}} (12 bytes), boto3 got the tags; the second plan showed tags_all {} -> {application, environment, managed-by, ...} on aws_backup_vault and aws_backup_plan',
    ignoreChanges: { type: ["aws_backup_vault", "aws_backup_plan"], attributes: ["tags_all"] },
  },
  {
    id: "backup-selection",
    difference:
      "moto does not implement CreateBackupSelection: it answers 500, and the provider retries the creation of aws_backup_selection until its timeout. The configurations the emulator applies leave the selection out (count = 0, nothing refers to it); every configuration with backupTable.vault still validates and plans it, and the stack tests check it as written",
    evidence:
      'moto/backup/urls.py routes no /backup/plans/<id>/selections/ and moto/backup/responses.py has no create_backup_selection; measured on moto_server 5.2.1 with boto3: HTTP 500, "NotImplementedError: The create_backup_selection action has not been implemented" in its log; terraform apply of the selection hung for more than 4.5 minutes',
    notApplied: { type: "aws_backup_selection" },
  },
];

/**
 * The policy document that replaces the TLS-only one on the emulator (see "s3-policy-conditions"):
 * the same statement, whose Deny moto can apply without denying the stack's own objects.
 */
function emulatorBucketPolicy(bucketResource: string): string {
  return `\${jsonencode({Version = "2012-10-17", Statement = [{Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*", Resource = "\${${bucketResource}.arn}/emulator-denied/*", Condition = {Bool = {"aws:SecureTransport" = "false"}}}]})}`;
}

/**
 * The override file's resources for the emulator: each listed attribute ignored on every resource of
 * its type (`names` gives a type's resource names in the stack), the bucket policy replaced, and, in a
 * configuration that is to be applied, what the emulator cannot create left out.
 */
export function emulatorResourceOverrides(names: (type: string) => string[], applied = false): Record<string, Record<string, Record<string, unknown>>> {
  const overrides: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const { ignoreChanges, notApplied } of EMULATOR_DIFFERENCES) {
    if (ignoreChanges) {
      for (const type of [ignoreChanges.type].flat()) {
        for (const name of names(type)) {
          const resource = ((overrides[type] ??= {})[name] ??= { lifecycle: { ignore_changes: [] } }) as { lifecycle: { ignore_changes: string[] } };
          resource.lifecycle.ignore_changes.push(...ignoreChanges.attributes);
        }
      }
    }
    if (notApplied && applied) for (const name of names(notApplied.type)) (overrides[notApplied.type] ??= {})[name] = { count: 0 };
  }
  const [policy] = names("aws_s3_bucket_policy");
  const [bucket] = names("aws_s3_bucket");
  if (!policy || !bucket) throw new Error("the stack has no bucket policy to replace");
  (overrides.aws_s3_bucket_policy ??= {})[policy] = { policy: emulatorBucketPolicy(`aws_s3_bucket.${bucket}`) };
  return overrides;
}

/** Every change a plan holds, one line each: an attribute of an update, the actions of anything else. */
export function plannedChanges(plan: TerraformPlan): string[] {
  const lines: string[] = [];
  for (const change of plan.resource_changes ?? []) {
    const actions = change.change.actions;
    if (actions.length === 1 && actions[0] === "no-op") continue;
    if (change.mode === "data") lines.push(`${change.address}: read during apply (${change.action_reason ?? "no reason given"})`);
    else if (actions.length === 1 && actions[0] === "update") lines.push(...changedAttributes(change));
    else lines.push(`${change.address}: ${actions.join(", ")}`);
  }
  return lines;
}

function changedAttributes(change: ResourceChange): string[] {
  const { before, after, after_unknown: unknown = {} } = change.change;
  return [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].flatMap((attribute) => {
    if (unknown[attribute] === true) return [`${change.address}.${attribute}: unknown until apply`];
    const [was, will] = [before?.[attribute], after?.[attribute]];
    return JSON.stringify(was) === JSON.stringify(will) ? [] : [`${change.address}.${attribute}: ${JSON.stringify(was)} -> ${JSON.stringify(will)}`];
  });
}
