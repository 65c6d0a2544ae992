import { Construct } from "constructs";
import { GlueSecurityConfiguration } from "@cdktf/provider-aws/lib/glue-security-configuration";
import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import type { EnvironmentConfig } from "../config/schema";
import { metricsNamespace } from "../../functions/metrics-contract";
import { glueJobGrants, glueJobLogGroups } from "../glue-job-grants";
import { BUCKET_LAYOUT } from "./artifact-bucket";
import { ReplicationGlueJob } from "./glue-job";
import { GlueScripts } from "./glue-scripts";
import type { TableReference } from "./replicated-tables";

const APPLY_CHANGES_SCRIPT = "apply_changes.py";
const FULL_COPY_SCRIPT = "full_copy.py";

export interface ReplicationJobsOptions {
  readonly config: EnvironmentConfig;
  readonly source: TableReference;
  readonly backup: TableReference;
  readonly bucket: S3Bucket;
  readonly partition: string;
  readonly accountId: string;
  /** Customer-managed key: SSE-KMS, encrypted logs and bookmarks; SSE-S3 without one. */
  readonly kmsKeyArn?: string;
}

/** The two Glue jobs (apply-changes, full-copy), their scripts and their security configuration. */
export class ReplicationJobs extends Construct {
  public readonly applyChanges: ReplicationGlueJob;
  public readonly fullCopy: ReplicationGlueJob;
  /** The log groups both jobs write to (their own when the logs are encrypted). */
  public readonly logGroupNames: string[];

  constructor(scope: Construct, id: string, options: ReplicationJobsOptions) {
    super(scope, id);
    const { config, source, backup, bucket, kmsKeyArn } = options;
    const prefix = config.namePrefix;
    const scripts = new GlueScripts(this, "scripts", {
      bucketName: bucket.bucket,
      prefix: BUCKET_LAYOUT.scripts,
      entryPoints: [APPLY_CHANGES_SCRIPT, FULL_COPY_SCRIPT],
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
        // The stack's namespace; the Pipeline dimension is the name prefix (functions/metrics-contract.ts).
        metrics_namespace: metricsNamespace(prefix),
        metrics_pipeline: prefix,
      },
      grants: glueJobGrants("apply-changes", { ...grantContext, jobName: applyJobName, compute: applyCompute.type }),
    });

    const fullCopyJobName = `${prefix}-full-copy`;
    const fullCopy = config.fullCopyJob;
    this.fullCopy = new ReplicationGlueJob(this, "full-copy", {
      ...common,
      jobName: fullCopyJobName,
      description: `Copies all of ${config.sourceTable.name} to ${config.backupTable.name}`,
      compute: { type: "glueetl", workerType: fullCopy.workerType, numberOfWorkers: fullCopy.numberOfWorkers },
      scriptLocation: scripts.scriptLocation(FULL_COPY_SCRIPT),
      timeoutMinutes: fullCopy.timeoutMinutes,
      queueRuns: false,
      schedule: fullCopy.schedule ?? undefined,
      arguments: {
        ...common.arguments,
        scan_segments: String(fullCopy.scanSegments),
        max_items_per_second: String(fullCopy.maxItemsPerSecond),
        mirror_deletes: String(config.deletes === "mirror"),
        verify_writes: String(fullCopy.verifyWrites),
      },
      grants: glueJobGrants("full-copy", { ...grantContext, jobName: fullCopyJobName, compute: "glueetl" }),
    });
    const encryption = (roleName: string) => (kmsKeyArn ? { securityConfigurationName, roleName } : undefined);
    this.logGroupNames = [
      ...glueJobLogGroups(applyCompute.type, encryption(applyJobName)),
      ...glueJobLogGroups("glueetl", encryption(fullCopyJobName)),
    ];
  }
}
