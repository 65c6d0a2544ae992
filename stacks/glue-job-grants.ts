import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { BUCKET_LAYOUT } from "./constructs/artifact-bucket";
import type { TableReference } from "./constructs/replicated-tables";
import type { Grant } from "./constructs/service-role";

export interface GlueGrantContext {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly jobName: string;
  readonly compute: "pythonshell" | "glueetl";
  readonly deletes: "retain" | "mirror";
  /** The security configuration encrypts the job's logs with the stack's key. */
  readonly encryptedLogs: boolean;
  readonly source: TableReference;
  readonly backup: TableReference;
  readonly bucket: S3Bucket;
  /** verify: the CloudWatch namespace of its counts. */
  readonly metricsNamespace?: string;
  /** restore: the ARNs (patterns) of the tables it may write; never the backup's. */
  readonly restoreTargetArns?: string[];
}

// Where Glue writes job logs; these groups are shared by every Glue job of the account.
const LOG_GROUPS = {
  pythonshell: ["/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error"],
  glueetl: ["/aws-glue/jobs/output", "/aws-glue/jobs/error", "/aws-glue/jobs/logs-v2"],
} as const;

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
      // (and verify's own).
      sid: "PublishJobMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["Glue", ...(context.metricsNamespace ? [context.metricsNamespace] : [])] }],
    },
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
        sid: "ConsumeManifests",
        actions: ["s3:GetObject", "s3:DeleteObject"],
        resources: [`${bucket.arn}/${BUCKET_LAYOUT.manifests}*`],
      },
      { sid: "SetAsideRejectedManifests", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.rejected}*`] },
      {
        // A run that stops with manifests left queues the next run of its own job.
        sid: "QueueNextRun",
        actions: ["glue:StartJobRun"],
        resources: [`arn:${context.partition}:glue:${context.region}:${context.accountId}:job/${context.jobName}`],
      },
      ...common,
    ];
  }
  if (job === "restore") {
    const targets = context.restoreTargetArns ?? [];
    if (targets.includes(backup.arn)) throw new Error("the restore job must never be allowed to write the backup table");
    return [
      { sid: "ReadBackupItems", actions: ["dynamodb:DescribeTable", "dynamodb:Scan"], resources: [backup.arn] },
      {
        // CreateTable: --create_target; BatchGetItem: a missing-only dry run; PutItem: missing-only
        // (conditional); BatchWriteItem: overwrite.
        sid: "WriteRestoreTargets",
        actions: ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:PutItem"],
        resources: targets,
      },
      { sid: "WriteRestoreReports", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.restoreReports}*`] },
      ...common,
    ];
  }
  if (job === "verify") {
    return [
      { sid: "ReadSourceItems", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"], resources: [source.arn] },
      {
        // Reads to compare; the writes are --repair's, the same writer as full-copy's.
        sid: "CheckAndRepairBackupItems",
        actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan", ...backupWrites].sort(),
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
    // With CloudWatch encryption Glue writes to groups named after the role and the security
    // configuration, and associates the key with them; the name is Glue's, so only its prefix is fixed.
    return [
      {
        sid: "WriteEncryptedJobLogs",
        actions: ["logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [logGroupArn("/aws-glue/*")],
      },
    ];
  }
  const groups = LOG_GROUPS[context.compute];
  return [
    // Glue creates its log groups on first use in an account.
    { sid: "CreateJobLogGroups", actions: ["logs:CreateLogGroup"], resources: groups.map(logGroupArn) },
    { sid: "WriteJobLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: groups.map((name) => `${logGroupArn(name)}:log-stream:*`) },
  ];
}
