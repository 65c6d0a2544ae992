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
export function glueJobGrants(job: "apply-changes" | "full-copy", context: GlueGrantContext): Grant[] {
  const { bucket, source, backup } = context;
  const logGroupArn = (name: string) =>
    `arn:${context.partition}:logs:${context.region}:${context.accountId}:log-group:${name}`;
  const common: Grant[] = [
    { sid: "ReadScripts", actions: ["s3:GetObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.scripts}*`] },
    ...logGrants(context, logGroupArn),
    {
      // PutMetricData has no resource-level permissions; the condition keeps it to Glue's namespace.
      sid: "PublishJobMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["Glue"] }],
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
        // PutObject: a run that stops with keys left writes them into one new manifest (a remainder).
        sid: "ConsumeManifests",
        actions: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
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
