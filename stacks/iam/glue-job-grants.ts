import { BUCKET_LAYOUT } from "../../contracts";
import type { ArnReference, Grant } from "./grant";
import { sourceKeyGrants } from "./table-key-grants";

/** Python shell or Spark: Glue writes their logs to different groups. */
export type GlueCompute = "pythonshell" | "glueetl";

/** A security configuration that encrypts a job's logs with the stack's key, and the job's role. */
export interface GlueLogEncryption {
  /** Glue names encrypted log groups after the security configuration ... */
  readonly securityConfigurationName: string;
  /** ... and the role the job runs with. */
  readonly roleName: string;
}

export interface GlueJobBaseGrantsOptions {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly compute: GlueCompute;
  /** Where the job's scripts are (under BUCKET_LAYOUT.scripts). */
  readonly bucket: ArnReference;
  /** Encrypted logs go to the job's own groups. Default: none, the account's shared groups. */
  readonly logEncryption?: GlueLogEncryption;
  /** The stack's own metric namespace, for a job that publishes there. Default: Glue's namespace only. */
  readonly stackMetricsNamespace?: string;
  /** Customer-managed key of an existing source table (sourceTable.kmsKeyArn). Default: none. */
  readonly sourceKmsKeyArn?: string;
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
export function glueJobLogGroups(compute: GlueCompute, encryption?: GlueLogEncryption): string[] {
  return LOG_GROUPS[compute].map((group) => {
    if (!encryption) return group;
    const cut = group.lastIndexOf("/");
    return `${group.slice(0, cut)}/${encryption.securityConfigurationName}-role/${encryption.roleName}${group.slice(cut)}`;
  });
}

/**
 * What every job's Python code calls (glue-job/), on exact ARNs: its scripts, its logs, its metrics
 * and the source table's key. Each job kind adds what its own work calls; a test checks both against
 * the boto3 calls in the code.
 */
export function glueJobBaseGrants(options: GlueJobBaseGrantsOptions): Grant[] {
  const { bucket, stackMetricsNamespace } = options;
  return [
    { sid: "ReadScripts", actions: ["s3:GetObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.scripts}*`] },
    ...logGrants(options),
    {
      // PutMetricData has no resource-level permissions; the condition keeps it to Glue's namespace
      // (--enable-metrics) and the stack's own (apply-changes' replication metrics, verify's drift).
      sid: "PublishJobMetrics",
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: stackMetricsNamespace ? ["Glue", stackMetricsNamespace] : ["Glue"] }],
    },
    ...sourceKeyGrants(options.region, options.sourceKmsKeyArn),
  ];
}

/**
 * The backup table writes of the shared item writer (item_writer.py). Under mirror: BatchWriteItem
 * (puts and deletes, no versions). Under retain: conditional PutItem one item at a time, and GetItem
 * of a retained item's version before replacing it.
 */
export function backupItemWrites(deletes: "retain" | "mirror"): string[] {
  return deletes === "mirror" ? ["dynamodb:BatchWriteItem"] : ["dynamodb:GetItem", "dynamodb:PutItem"];
}

function logGrants(options: GlueJobBaseGrantsOptions): Grant[] {
  const logGroupArn = (name: string) => `arn:${options.partition}:logs:${options.region}:${options.accountId}:log-group:${name}`;
  if (options.logEncryption) {
    // Only this job's own groups: the key policy accepts exactly these, so a job can neither write
    // another Glue job's logs nor attach this stack's key to them.
    const groups = glueJobLogGroups(options.compute, options.logEncryption);
    return [
      { sid: "CreateEncryptedJobLogGroups", actions: ["logs:AssociateKmsKey", "logs:CreateLogGroup"], resources: groups.map(logGroupArn) },
      { sid: "WriteEncryptedJobLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: groups.map((name) => `${logGroupArn(name)}:log-stream:*`) },
    ];
  }
  const groups = LOG_GROUPS[options.compute];
  return [
    // Glue creates its log groups on first use in an account.
    { sid: "CreateJobLogGroups", actions: ["logs:CreateLogGroup"], resources: groups.map(logGroupArn) },
    { sid: "WriteJobLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: groups.map((name) => `${logGroupArn(name)}:log-stream:*`) },
  ];
}
