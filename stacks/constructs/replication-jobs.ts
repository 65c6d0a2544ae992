import { Construct } from "constructs";
import { GlueSecurityConfiguration } from "@cdktf/provider-aws/lib/glue-security-configuration";
import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import type { EnvironmentConfig } from "../config/schema";
import { BUCKET_LAYOUT, metricsNamespace, RESTORE_TARGET_SUFFIX } from "../../contracts";
import { type GlueGrantContext, type GlueJobKind, glueJobGrants, glueJobLogGroups } from "../iam/glue-job-grants";
import { ReplicationGlueJob } from "./glue-job";
import { GlueScripts } from "./glue-scripts";
import type { TableReference } from "./replicated-tables";

const APPLY_CHANGES_SCRIPT = "apply_changes.py";
const FULL_COPY_SCRIPT = "full_copy.py";
const VERIFY_SCRIPT = "verify.py";
const RESTORE_SCRIPT = "restore.py";

export interface ReplicationJobsOptions {
  readonly config: EnvironmentConfig;
  readonly source: TableReference;
  readonly backup: TableReference;
  readonly bucket: S3Bucket;
  readonly partition: string;
  readonly accountId: string;
  /** Customer-managed key: SSE-KMS, encrypted logs and bookmarks; SSE-S3 without one. */
  readonly kmsKeyArn?: string;
  /** The change-trigger's dead-letter queue (in this account and region), which restore checks. */
  readonly deadLetterQueueName: string;
}

/**
 * The Glue jobs (apply-changes, full-copy, verify, restore), their scripts and their security
 * configuration.
 */
export class ReplicationJobs extends Construct {
  public readonly applyChanges: ReplicationGlueJob;
  public readonly fullCopy: ReplicationGlueJob;
  /** The log groups both jobs write to (their own when the logs are encrypted). */
  public readonly logGroupNames: string[];
  public readonly verify: ReplicationGlueJob;
  public readonly restore: ReplicationGlueJob;

  constructor(scope: Construct, id: string, options: ReplicationJobsOptions) {
    super(scope, id);
    const { config, source, backup, bucket, kmsKeyArn } = options;
    const prefix = config.namePrefix;
    const scripts = new GlueScripts(this, "scripts", {
      bucketName: bucket.bucket,
      prefix: BUCKET_LAYOUT.scripts,
      entryPoints: [APPLY_CHANGES_SCRIPT, FULL_COPY_SCRIPT, VERIFY_SCRIPT, RESTORE_SCRIPT],
    });
    // CloudWatch Logs encrypts at rest on its own; its KMS mode needs the customer-managed key.
    const securityConfigurationName = `${prefix}-jobs`;
    const security = new GlueSecurityConfiguration(this, "security", {
      name: securityConfigurationName,
      encryptionConfiguration: {
        s3Encryption: kmsKeyArn ? { s3EncryptionMode: "SSE-KMS", kmsKeyArn } : { s3EncryptionMode: "SSE-S3" },
        cloudwatchEncryption: kmsKeyArn ? { cloudwatchEncryptionMode: "SSE-KMS", kmsKeyArn } : { cloudwatchEncryptionMode: "DISABLED" },
        // The jobs run with bookmarks off: there is nothing to encrypt, and CSE-KMS would need a
        // direct (not through a service) key grant to the job roles.
        jobBookmarksEncryption: { jobBookmarksEncryptionMode: "DISABLED" },
      },
    });
    const common = {
      libraryPath: scripts.libraryPath,
      scripts: scripts.objects,
      securityConfiguration: security.name,
      accountId: options.accountId,
      arguments: {
        source_table: source.name,
        backup_table: backup.name,
        delete_policy: config.deletes,
        transform: JSON.stringify(config.transform),
        region: config.region,
        retained_attribute: config.retainedAttribute,
      },
    };
    const grantContext = {
      partition: options.partition,
      region: config.region,
      accountId: options.accountId,
      deletes: config.deletes,
      encryptedLogs: kmsKeyArn !== undefined,
      securityConfigurationName,
      metricsNamespace: metricsNamespace(prefix),
      sourceKmsKeyArn: config.sourceTable.kmsKeyArn,
      source,
      backup,
      bucket,
    };

    const applyJobName = `${prefix}-apply-changes`;
    const apply = config.applyChangesJob;
    const applyCompute =
      apply.type === "pythonshell"
        ? { type: "pythonshell" as const, maxCapacity: apply.maxCapacity }
        : { type: "glueetl" as const, workerType: "G.1X", numberOfWorkers: 2 };
    this.applyChanges = new ReplicationGlueJob(this, "apply-changes", {
      ...common,
      jobName: applyJobName,
      description: `Applies the change manifests of ${config.sourceTable.name} to ${config.backupTable.name}`,
      compute: applyCompute,
      scriptLocation: scripts.scriptLocation(APPLY_CHANGES_SCRIPT),
      timeoutMinutes: apply.timeoutMinutes,
      queueRuns: true,
      arguments: {
        ...common.arguments,
        manifest_bucket: bucket.bucket,
        manifest_prefix: BUCKET_LAYOUT.manifests,
        rejected_prefix: BUCKET_LAYOUT.rejected,
        quarantine_prefix: BUCKET_LAYOUT.quarantine,
        time_budget_seconds: String(apply.timeBudgetSeconds),
        max_pass_bytes: String(apply.maxPassMegabytes * 1024 * 1024),
        // The stack's namespace; the Pipeline dimension is the name prefix (contracts/metrics.ts).
        metrics_namespace: metricsNamespace(prefix),
        metrics_pipeline: prefix,
      },
      grants: glueJobGrants("apply-changes", { ...grantContext, jobName: applyJobName, compute: applyCompute.type }),
    });

    // full-copy, verify and restore: Spark jobs run alike (same security configuration, logging, no
    // retries, one run at a time, no queuing); only their work, size and schedule differ.
    const sparkJob = (
      id: GlueJobKind,
      script: string,
      description: string,
      settings: { workerType: string; numberOfWorkers: number; timeoutMinutes: number; schedule?: string | null },
      jobArguments: Record<string, string>,
      grants: Partial<GlueGrantContext>,
      fixedArguments?: Record<string, string>,
    ) => {
      const jobName = `${prefix}-${id}`;
      return new ReplicationGlueJob(this, id, {
        ...common,
        jobName,
        description,
        compute: { type: "glueetl", workerType: settings.workerType, numberOfWorkers: settings.numberOfWorkers },
        scriptLocation: scripts.scriptLocation(script),
        timeoutMinutes: settings.timeoutMinutes,
        queueRuns: false,
        schedule: settings.schedule ?? undefined,
        arguments: jobArguments,
        fixedArguments,
        grants: glueJobGrants(id, { ...grantContext, ...grants, jobName, compute: "glueetl" }),
      });
    };

    const fullCopy = config.fullCopyJob;
    this.fullCopy = sparkJob("full-copy", FULL_COPY_SCRIPT, `Copies all of ${config.sourceTable.name} to ${config.backupTable.name}`, fullCopy, {
      ...common.arguments,
      scan_segments: String(fullCopy.scanSegments),
      max_items_per_second: String(fullCopy.maxItemsPerSecond),
      mirror_deletes: String(config.deletes === "mirror"),
      verify_writes: String(fullCopy.verifyWrites),
    }, {});

    const verify = config.verifyJob;
    this.verify = sparkJob("verify", VERIFY_SCRIPT, `Checks that ${config.backupTable.name} matches ${config.sourceTable.name} item by item`, verify, {
      ...common.arguments,
      sample_fraction: String(verify.sampleFraction),
      settle_seconds: String(verify.settleSeconds),
      repair: "false",
      report_bucket: bucket.bucket,
      report_prefix: BUCKET_LAYOUT.verifyReports,
      // The stack's namespace, as apply-changes (contracts/metrics.ts: VERIFY_METRICS).
      metrics_namespace: metricsNamespace(prefix),
      metrics_pipeline: prefix,
    }, {});

    const restore = config.restore;
    const intoSource = restore.allowedTargets.includes(config.sourceTable.name);
    const tableArn = (name: string) => `arn:${options.partition}:dynamodb:${config.region}:${options.accountId}:table/${name}`;
    // On demand only: every run names its target (--target_table).
    this.restore = sparkJob(
      "restore",
      RESTORE_SCRIPT,
      `Restores ${config.backupTable.name} into a new table (or, when allowed, into ${config.sourceTable.name}); on demand only`,
      { ...restore, schedule: null },
      {
        transform: common.arguments.transform,
        region: config.region,
        mode: "missing-only",
        include_retained: "false",
        dry_run: "false",
        create_target: "false",
        max_items_per_second: String(restore.maxItemsPerSecond),
        report_bucket: bucket.bucket,
        report_prefix: BUCKET_LAYOUT.restoreReports,
      },
      {
        restoreTargetArns: [
          tableArn(`${config.backupTable.name}${RESTORE_TARGET_SUFFIX}*`),
          ...restore.allowedTargets.filter((name) => name !== config.sourceTable.name).map(tableArn),
        ],
        ...(intoSource ? { restoreIntoSource: { deadLetterQueueArn: `arn:${options.partition}:sqs:${config.region}:${options.accountId}:${options.deadLetterQueueName}` } } : {}),
      },
      // What tells the source apart, and where its unrecorded changes wait: a run cannot change them, so
      // no run argument can turn a restore into the source into one that skips the checks.
      {
        backup_table: backup.name,
        source_table: source.name,
        allowed_targets: JSON.stringify(restore.allowedTargets),
        retained_attribute: config.retainedAttribute,
        ...(intoSource
          ? {
              manifest_bucket: bucket.bucket,
              manifest_prefix: BUCKET_LAYOUT.manifests,
              rejected_prefix: BUCKET_LAYOUT.rejected,
              quarantine_prefix: BUCKET_LAYOUT.quarantine,
              dead_letter_queue_name: options.deadLetterQueueName,
              delivery_seconds: String(streamDeliverySeconds(config)),
            }
          : {}),
      },
    );
    // Each role is named after its job (glue-job.ts).
    const encryption = (roleName: string) => (kmsKeyArn ? { securityConfigurationName, roleName } : undefined);
    this.logGroupNames = [
      ...glueJobLogGroups(applyCompute.type, encryption(applyJobName)),
      ...(["full-copy", "verify", "restore"] as const).flatMap((kind) => glueJobLogGroups("glueetl", encryption(`${prefix}-${kind}`))),
    ];
  }
}

/**
 * How long a stream record may take to reach a manifest or the dead-letter queue while the function
 * works: every attempt (the first and maximumRetryAttempts retries) a batching window plus a timeout,
 * and a minute of margin. Restore into the source waits this long after its start (restore_guard.py).
 */
export function streamDeliverySeconds(config: EnvironmentConfig): number {
  const attempts = config.stream.maximumRetryAttempts + 1;
  return attempts * (config.stream.batchingWindowSeconds + config.lambda.timeoutSeconds) + 60;
}
