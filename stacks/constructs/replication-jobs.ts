import { Construct } from "constructs";
import { GlueSecurityConfiguration } from "@cdktf/provider-aws/lib/glue-security-configuration";
import { BUCKET_LAYOUT, metricsNamespace } from "../../contracts";
import { glueJobBaseGrants, glueJobLogGroups } from "../iam/glue-job-grants";
import { backupKeyGrants } from "../iam/table-key-grants";
import { ReplicationGlueJob } from "./glue-job";
import { GlueScripts } from "./glue-scripts";
import { applyChanges } from "./jobs/apply-changes";
import { fullCopy } from "./jobs/full-copy";
import type { GlueJobKind, JobContext } from "./jobs/job-kind";
import { restore } from "./jobs/restore";
import { restoreDrill } from "./jobs/restore-drill";
import { verify } from "./jobs/verify";

export interface ReplicationJobsOptions extends JobContext {
  /** Customer-managed key: SSE-KMS, encrypted logs and bookmarks. Default: SSE-S3, logs unencrypted by Glue. */
  readonly kmsKeyArn?: string;
  /**
   * The backup table's own customer-managed key, in the backup's account and region. Default: none (the
   * backup is beside the source, under kmsKeyArn's key policy alone, or under an AWS-owned key).
   */
  readonly backupKey?: { readonly arn: string; readonly region: string };
}

/**
 * The Glue jobs (apply-changes, full-copy, verify, restore, restore-drill), their scripts and their security
 * configuration. Each job kind (jobs/) defines its size, arguments and grants; every job runs its
 * script from the uploaded ones, with the security configuration and a role of its own.
 */
export class ReplicationJobs extends Construct {
  public readonly applyChanges: ReplicationGlueJob;
  public readonly fullCopy: ReplicationGlueJob;
  public readonly verify: ReplicationGlueJob;
  public readonly restore: ReplicationGlueJob;
  public readonly restoreDrill: ReplicationGlueJob;
  /** The log groups the jobs write to (their own when the logs are encrypted). */
  public readonly logGroupNames: string[] = [];
  private readonly securityConfigurationName: string;

  constructor(scope: Construct, id: string, private readonly options: ReplicationJobsOptions) {
    super(scope, id);
    this.securityConfigurationName = `${options.config.namePrefix}-jobs`;
    const kinds = [applyChanges, fullCopy, verify, restore, restoreDrill];
    const scripts = new GlueScripts(this, "scripts", {
      bucketName: options.bucket.bucket,
      prefix: BUCKET_LAYOUT.scripts,
      entryPoints: kinds.map((kind) => kind.script),
    });
    const security = this.securityConfiguration();
    [this.applyChanges, this.fullCopy, this.verify, this.restore, this.restoreDrill] = kinds.map((kind) => this.job(kind, scripts, security.name));
  }

  /** Every job, in the order they are created: apply-changes, full-copy, verify, restore, restore-drill. */
  get all(): ReplicationGlueJob[] {
    return [this.applyChanges, this.fullCopy, this.verify, this.restore, this.restoreDrill];
  }

  // CloudWatch Logs encrypts at rest on its own; its KMS mode needs the customer-managed key.
  private securityConfiguration(): GlueSecurityConfiguration {
    const { kmsKeyArn } = this.options;
    return new GlueSecurityConfiguration(this, "security", {
      name: this.securityConfigurationName,
      encryptionConfiguration: {
        s3Encryption: kmsKeyArn ? { s3EncryptionMode: "SSE-KMS", kmsKeyArn } : { s3EncryptionMode: "SSE-S3" },
        cloudwatchEncryption: kmsKeyArn ? { cloudwatchEncryptionMode: "SSE-KMS", kmsKeyArn } : { cloudwatchEncryptionMode: "DISABLED" },
        // The jobs run with bookmarks off: there is nothing to encrypt, and CSE-KMS would need a
        // direct (not through a service) key grant to the job roles.
        jobBookmarksEncryption: { jobBookmarksEncryptionMode: "DISABLED" },
      },
    });
  }

  private job(kind: GlueJobKind, scripts: GlueScripts, securityConfiguration: string): ReplicationGlueJob {
    const { config, partition, accountId } = this.options;
    const jobName = `${config.namePrefix}-${kind.id}`;
    const { grants, publishesStackMetrics, sourceUntouched, ...definition } = kind.define(this.options);
    const { backup, backupKey } = this.options;
    const usesBackup = grants.some((grant) => grant.resources.includes(backup.arn));
    // Each role is named after its job (glue-job.ts); encrypted logs go to groups named after both.
    const logEncryption = this.options.kmsKeyArn ? { securityConfigurationName: this.securityConfigurationName, roleName: jobName } : undefined;
    this.logGroupNames.push(...glueJobLogGroups(definition.compute.type, logEncryption));
    const baseGrants = glueJobBaseGrants({
      partition,
      region: config.region,
      accountId,
      compute: definition.compute.type,
      bucket: this.options.bucket,
      logEncryption,
      stackMetricsNamespace: publishesStackMetrics ? metricsNamespace(config.namePrefix) : undefined,
      sourceKmsKeyArn: sourceUntouched ? undefined : config.sourceTable.kmsKeyArn,
    });
    return new ReplicationGlueJob(this, kind.id, {
      ...definition,
      jobName,
      scriptLocation: scripts.scriptLocation(kind.script),
      libraryPath: scripts.libraryPath,
      scripts: scripts.objects,
      securityConfiguration,
      accountId,
      grants: [...grants, ...baseGrants, ...(usesBackup && backupKey ? backupKeyGrants(backupKey.region, backupKey.arn) : [])],
    });
  }
}
