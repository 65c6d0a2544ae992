import { BUCKET_LAYOUT, RESTORE_TARGET_SUFFIX } from "../../../contracts";
import type { EnvironmentConfig } from "../../config/schema";
import type { Grant } from "../../iam/grant";
import { type GlueJobKind, type JobContext, type JobDefinition, sparkRun } from "./job-kind";

/**
 * restore: copies the backup into a new table, or into a table restore.allowedTargets names (the
 * source too, when named there, with checks of what the backup has not recorded yet). On demand only:
 * every run names its target (--target_table).
 */
export const restore: GlueJobKind = { id: "restore", script: "restore.py", define: defineRestore };

function defineRestore({ config, source, backup, backupAddress, bucket, partition, accountId, deadLetterQueueName }: JobContext): JobDefinition {
  const restore = config.restore;
  const intoSource = restore.allowedTargets.includes(config.sourceTable.name);
  const tableArn = (name: string) => `arn:${partition}:dynamodb:${config.region}:${accountId}:table/${name}`;
  const targets = [
    tableArn(`${config.backupTable.name}${RESTORE_TARGET_SUFFIX}*`),
    ...restore.allowedTargets.filter((name) => name !== config.sourceTable.name).map(tableArn),
  ];
  if (targets.includes(source.arn)) throw new Error("the source is a restore target through restoreIntoSource only");
  if (targets.includes(backup.arn)) throw new Error("the restore job must never be allowed to write the backup table");
  const deadLetterQueueArn = `arn:${partition}:sqs:${config.region}:${accountId}:${deadLetterQueueName}`;
  return {
    description: `Restores ${config.backupTable.name} into a new table (or, when allowed, into ${config.sourceTable.name}); on demand only`,
    ...sparkRun({ ...restore, schedule: null }),
    arguments: {
      transform: JSON.stringify(config.transform),
      region: config.region,
      mode: "missing-only",
      include_retained: "false",
      dry_run: "false",
      create_target: "false",
      max_items_per_second: String(restore.maxItemsPerSecond),
      report_bucket: bucket.bucket,
      report_prefix: BUCKET_LAYOUT.restoreReports,
    },
    // What tells the source apart, and where its unrecorded changes wait: a run cannot change them, so
    // no run argument can turn a restore into the source into one that skips the checks.
    fixedArguments: {
      backup_table: backupAddress,
      source_table: source.name,
      allowed_targets: JSON.stringify(restore.allowedTargets),
      retained_attribute: config.retainedAttribute,
      ...(intoSource
        ? {
            manifest_bucket: bucket.bucket,
            manifest_prefix: BUCKET_LAYOUT.manifests,
            rejected_prefix: BUCKET_LAYOUT.rejected,
            quarantine_prefix: BUCKET_LAYOUT.quarantine,
            dead_letter_queue_name: deadLetterQueueName,
            delivery_seconds: String(streamDeliverySeconds(config)),
          }
        : {}),
    },
    grants: [
      {
        // BatchGetItem: into the source, each key's marker is read again right before it is written.
        sid: "ReadBackupItems",
        actions: ["dynamodb:DescribeTable", "dynamodb:Scan", ...(intoSource ? ["dynamodb:BatchGetItem"] : [])],
        resources: [backup.arn],
      },
      {
        // CreateTable: --create_target; BatchGetItem: a missing-only dry run; PutItem: missing-only
        // (conditional); BatchWriteItem: overwrite.
        sid: "WriteRestoreTargets",
        actions: ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:PutItem"],
        resources: targets,
      },
      // Into the source only missing-only: the presence check and the conditional put, nothing else.
      ...(intoSource ? [{ sid: "RestoreIntoSource", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:PutItem"], resources: [source.arn] }] : []),
      { sid: "WriteRestoreReports", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.restoreReports}*`] },
      ...(intoSource ? pendingChangeGrants(bucket.arn, deadLetterQueueArn) : []),
    ],
  };
}

/**
 * Into the source: what the backup has not recorded yet (glue-job/backup_replication/restore_guard.py), the first
 * pending, rejected and quarantined manifests and the keys they name, and the dead letters' count.
 */
function pendingChangeGrants(bucketArn: string, deadLetterQueueArn: string): Grant[] {
  return [
    { sid: "ListPendingChanges", actions: ["s3:ListBucket"], resources: [bucketArn] },
    {
      sid: "ReadPendingChanges",
      actions: ["s3:GetObject"],
      resources: [BUCKET_LAYOUT.manifests, BUCKET_LAYOUT.quarantine].map((prefix) => `${bucketArn}/${prefix}*`),
    },
    { sid: "CountDeadLetters", actions: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"], resources: [deadLetterQueueArn] },
  ];
}

/**
 * How long a stream record may take to reach a manifest or the dead-letter queue while the function
 * works: every attempt (the first and maximumRetryAttempts retries) a batching window plus a timeout,
 * and a minute of margin. Restore into the source waits this long after its start (restore_guard.py).
 */
function streamDeliverySeconds(config: EnvironmentConfig): number {
  const attempts = config.stream.maximumRetryAttempts + 1;
  return attempts * (config.stream.batchingWindowSeconds + config.lambda.timeoutSeconds) + 60;
}
