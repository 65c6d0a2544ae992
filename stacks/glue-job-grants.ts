import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { BUCKET_LAYOUT } from "../functions/bucket-layout";
import type { TableReference } from "./constructs/replicated-tables";
import type { Grant } from "./constructs/service-role";
import { sourceKeyGrants } from "./source-key-grants";

export interface GlueGrantContext {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly jobName: string;
  readonly compute: "pythonshell" | "glueetl";
  readonly deletes: "retain" | "mirror";
  /** The security configuration encrypts the job's logs with the stack's key. */
  readonly encryptedLogs: boolean;
  /** Name of the job's security configuration: Glue names encrypted log groups after it. */
  readonly securityConfigurationName: string;
  /** Namespace of the stack's own metrics (apply-changes and verify publish there). */
  readonly metricsNamespace: string;
  /** Customer-managed key of an existing source table (sourceTable.kmsKeyArn). */
  readonly sourceKmsKeyArn?: string;
  readonly source: TableReference;
  readonly backup: TableReference;
  readonly bucket: S3Bucket;
  /** restore: the ARNs (patterns) of the tables it may write; never the backup's. */
  readonly restoreTargetArns?: string[];
  /**
   * restore, when the source is one of its targets: the change-trigger's dead-letter queue, which it
   * reads with the pending, rejected and quarantined manifests to see what the backup has not recorded.
   */
  readonly restoreIntoSource?: { readonly deadLetterQueueArn: string };
}

// Where Glue writes job logs; these groups are shared by every Glue job of the account.
const LOG_GROUPS = {
  pythonshell: ["/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error"],
  glueetl: ["/aws-glue/jobs/output", "/aws-glue/jobs/error", "/aws-glue/jobs/logs-v2"],
} as const;

/**
 * The log groups a job writes to. Unencrypted: the account's shared groups above. With a security
 * configuration that encrypts CloudWatch logs, Glue writes to groups of their own, named
 * `<shared group's folder>/<security configuration>-role<role path><role name>/<output|error|logs-v2>`
 * (e.g. /aws-glue/python-jobs/p-jobs-role/p-apply-changes/error), creates them and associates the
 * configuration's key with them. The Glue API reference (JobRun.LogGroupName) only says the name
 * combines the role and the security configuration; this exact form is the one deployed Glue jobs use
 * (see README, "What was checked in the AWS documentation"). Our roles have the default path `/`.
 */
export function glueJobLogGroups(compute: "pythonshell" | "glueetl", encryption?: { securityConfigurationName: string; roleName: string }): string[] {
  return LOG_GROUPS[compute].map((group) => {
    if (!encryption) return group;
    const cut = group.lastIndexOf("/");
    return `${group.slice(0, cut)}/${encryption.securityConfigurationName}-role/${encryption.roleName}${group.slice(cut)}`;
  });
}

/**
 * Exactly what each job's Python code calls (glue-job/), on exact ARNs; a test checks these
 * against the boto3 calls in the code.
 */
export type GlueJobKind = "apply-changes" | "full-copy" | "verify" | "restore";

export function glueJobGrants(job: GlueJobKind, context: GlueGrantContext): Grant[] {
  const { bucket, source, backup } = context;
  const logGroupArn = (name: string) =>
    `arn:${context.partition}:logs:${context.region}:${context.accountId}:log-group:${name}`;
  const common: Grant[] = [
    { sid: "ReadScripts", actions: ["s3:GetObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.scripts}*`] },
    ...logGrants(context, logGroupArn),
    {
      // PutMetricData has no resource-level permissions; the condition keeps it to Glue's namespace
      // (--enable-metrics) and the stack's own (apply-changes' replication metrics, verify's drift).
      sid: "PublishJobMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: job === "apply-changes" || job === "verify" ? ["Glue", context.metricsNamespace] : ["Glue"] }],
    },
    ...sourceKeyGrants(context.region, context.sourceKmsKeyArn),
  ];
  const mirror = context.deletes === "mirror";
  // Under mirror: BatchWriteItem (puts and deletes, no versions). Under retain: conditional PutItem
  // one item at a time, and GetItem of a retained item's version before replacing it (item_writer.py).
  const backupWrites = mirror ? ["dynamodb:BatchWriteItem"] : ["dynamodb:GetItem", "dynamodb:PutItem"];
  if (job === "apply-changes") {
    return [
      { sid: "ReadSourceItems", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable"], resources: [source.arn] },
      { sid: "WriteBackupItems", actions: backupWrites, resources: [backup.arn] },
      {
        // No s3:prefix condition: without list permission on the key it asked for, S3 answers a
        // GetObject of a manifest another run already consumed with 403 instead of 404.
        sid: "ListManifests",
        actions: ["s3:ListBucket"],
        resources: [bucket.arn],
      },
      {
        // PutObject: a run that stops with keys left writes them into one new manifest (a remainder).
        sid: "ConsumeManifests",
        // DeleteObjectVersion: a consumed manifest is deleted by the version read, leaving no delete marker.
        // GetObjectVersion: a malformed manifest is copied to rejected/ by that version (CopySource.VersionId);
        // without it S3 refuses the copy and the manifest stays first in the listing.
        actions: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
        resources: [`${bucket.arn}/${BUCKET_LAYOUT.manifests}*`],
      },
      {
        sid: "SetAsideRejectedManifestsAndQuarantinedKeys",
        actions: ["s3:PutObject"],
        resources: [`${bucket.arn}/${BUCKET_LAYOUT.rejected}*`, `${bucket.arn}/${BUCKET_LAYOUT.quarantine}*`],
      },
      ...common,
    ];
  }
  if (job === "restore") {
    const targets = context.restoreTargetArns ?? [];
    if (targets.includes(source.arn)) throw new Error("the source is a restore target through restoreIntoSource only");
    if (targets.includes(backup.arn)) throw new Error("the restore job must never be allowed to write the backup table");
    const intoSource = context.restoreIntoSource;
    return [
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
      ...(intoSource
        ? [
            // What the backup has not recorded yet (glue-job/backup_replication/restore_guard.py): the first pending,
            // rejected and quarantined manifests and the keys they name, and the dead letters' count.
            { sid: "ListPendingChanges", actions: ["s3:ListBucket"], resources: [bucket.arn] },
            {
              sid: "ReadPendingChanges",
              actions: ["s3:GetObject"],
              resources: [BUCKET_LAYOUT.manifests, BUCKET_LAYOUT.quarantine].map((prefix) => `${bucket.arn}/${prefix}*`),
            },
            { sid: "CountDeadLetters", actions: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"], resources: [intoSource.deadLetterQueueArn] },
          ]
        : []),
      ...common,
    ];
  }
  if (job === "verify") {
    return [
      { sid: "ReadSourceItems", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"], resources: [source.arn] },
      {
        // Reads to compare; the writes are --repair's, the same writer as full-copy's. UpdateItem (under
        // retain): a backup item whose deletion was lost gets the retained marker alone, its content untouched.
        sid: "CheckAndRepairBackupItems",
        actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan", ...backupWrites, ...(mirror ? [] : ["dynamodb:UpdateItem"])].sort(),
        resources: [backup.arn],
      },
      { sid: "WriteVerifyReports", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.verifyReports}*`] },
      ...common,
    ];
  }
  return [
    {
      sid: "ReadSourceItems",
      // BatchGetItem: every written key is re-read from the source (write verification).
      actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"],
      resources: [source.arn],
    },
    {
      sid: "WriteBackupItems",
      actions: [...backupWrites, "dynamodb:DescribeTable", ...(mirror ? ["dynamodb:Scan"] : [])].sort(),
      resources: [backup.arn],
    },
    ...common,
  ];
}

function logGrants(context: GlueGrantContext, logGroupArn: (name: string) => string): Grant[] {
  if (context.encryptedLogs) {
    // Only this job's own groups: the key policy accepts exactly these, so a job can neither write
    // another Glue job's logs nor attach this stack's key to them.
    const groups = glueJobLogGroups(context.compute, { securityConfigurationName: context.securityConfigurationName, roleName: context.jobName });
    return [
      { sid: "CreateEncryptedJobLogGroups", actions: ["logs:AssociateKmsKey", "logs:CreateLogGroup"], resources: groups.map(logGroupArn) },
      { sid: "WriteEncryptedJobLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: groups.map((name) => `${logGroupArn(name)}:log-stream:*`) },
    ];
  }
  const groups = LOG_GROUPS[context.compute];
  return [
    // Glue creates its log groups on first use in an account.
    { sid: "CreateJobLogGroups", actions: ["logs:CreateLogGroup"], resources: groups.map(logGroupArn) },
    { sid: "WriteJobLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: groups.map((name) => `${logGroupArn(name)}:log-stream:*`) },
  ];
}
