import { Construct } from "constructs";
import { TerraformOutput, TerraformStack, type TerraformProvider } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { BUCKET_LAYOUT, metricsNamespace } from "../contracts";
import { configureBackend } from "./backend";
import { stalledApplyMinutes } from "./config/alarm-settings";
import type { EnvironmentConfig } from "./config/schema";
import { backupPlacement, type BackupPlacement } from "./config/table-settings";
import { BackupTablePolicy } from "./constructs/backup-table-policy";
import { ArtifactBucket } from "./constructs/artifact-bucket";
import { ApplySweep } from "./constructs/apply-sweep";
import { ChangeTrigger, deadLetterQueueName } from "./constructs/change-trigger";
import { PipelineAlarms } from "./constructs/pipeline-alarms";
import { PipelineDashboard } from "./constructs/pipeline-dashboard";
import { PipelineKey } from "./constructs/pipeline-key";
import { ReplicatedTables } from "./constructs/replicated-tables";
import { ReplicationJobs } from "./constructs/replication-jobs";
import { TableVault } from "./constructs/table-vault";

/** Where one environment deploys, and the names and key its constructs share. */
interface Deployment {
  readonly config: EnvironmentConfig;
  readonly accountId: string;
  readonly partition: string;
  /** The stack's key when it encrypts the data stores (encryption.customerManagedKey); else undefined. */
  readonly dataKeyArn?: string;
  /** The change-trigger function's name, known before the function (the jobs and alarms name it). */
  readonly functionName: string;
  /** The stack's own metrics (contracts/metrics.ts). */
  readonly metricsNamespace: string;
  readonly backup: BackupSide;
}

/** Where the backup table lives, and what creates it there. */
interface BackupSide extends BackupPlacement {
  /** The backup's account: backupTable.assumeRoleArn's, else the stack's. */
  readonly accountId: string;
  /** A provider of the backup's account and region when it is remote; undefined beside the source. */
  readonly provider?: TerraformProvider;
  /** The backup table's own key, when it is remote and the data is under customer-managed keys. */
  readonly key?: PipelineKey;
}

/** The constructs of the pipeline, as the outputs read them. */
interface PipelineParts {
  readonly tables: ReplicatedTables;
  readonly artifacts: ArtifactBucket;
  readonly jobs: ReplicationJobs;
  readonly trigger: ChangeTrigger;
  readonly alarms: PipelineAlarms;
  readonly key: PipelineKey;
  readonly dashboard: PipelineDashboard;
  /** With backupTable.vault only. */
  readonly vault?: TableVault;
  /** The backup table's own key: remote, with encryption.customerManagedKey, only. */
  readonly backupKey?: PipelineKey;
}

/** The names and key every construct of the stack is built with. */
function deploymentOf(config: EnvironmentConfig, accountId: string, partition: string, key: PipelineKey, backup: BackupSide): Deployment {
  return {
    backup,
    config,
    accountId,
    partition,
    dataKeyArn: config.encryption.customerManagedKey ? key.key.arn : undefined,
    functionName: `${config.namePrefix}-change-trigger`,
    metricsNamespace: metricsNamespace(config.namePrefix),
  };
}

/**
 * The whole pipeline for one environment: source table -> stream -> change-trigger Lambda ->
 * manifest in S3 -> apply-changes Glue job -> backup table, plus the full copy, encryption and alarms.
 */
export class ReplicationStack extends TerraformStack {
  constructor(scope: Construct, name: string, config: EnvironmentConfig) {
    super(scope, name);
    this.configureTerraform(name, config);
    const accountId = new DataAwsCallerIdentity(this, "account").accountId;
    const partition = new DataAwsPartition(this, "partition").partition;
    const key = new PipelineKey(this, "key", { aliasName: config.namePrefix, partition, region: config.region, accountId });
    const deployment = deploymentOf(config, accountId, partition, key, this.backupSide(name, config, accountId, partition));
    const tables = this.replicatedTables(deployment);
    const artifacts = this.artifactBucket(deployment);
    const jobs = this.replicationJobs(deployment, tables, artifacts);
    const trigger = this.changeTrigger(deployment, tables, artifacts, jobs);
    this.applySweep(deployment, jobs, trigger);
    const alarms = this.alarms(deployment, key, jobs, trigger);
    const dashboard = this.dashboard(deployment, trigger, alarms);
    const vault = this.tableVault(deployment, tables);
    this.authorizeKeyUsers(deployment, key, tables, jobs, trigger, vault);
    this.backupTablePolicy(deployment, tables, jobs);
    this.outputs(config, { tables, artifacts, jobs, trigger, alarms, key, dashboard, vault, backupKey: deployment.backup.key });
  }

  /** The AWS provider (region, allowed accounts, default tags), its version, and the state backend. */
  private configureTerraform(name: string, config: EnvironmentConfig): void {
    new AwsProvider(this, "aws", { region: config.region, allowedAccountIds: config.allowedAccountIds, defaultTags: defaultTags(name, config) });
    this.addOverride("terraform.required_providers.aws", { source: "hashicorp/aws", version: config.providerVersion });
    configureBackend(this, name, config);
  }

  /**
   * The backup's account and region. Remote, it gets a provider of its own: assuming
   * backupTable.assumeRoleArn in its account (the only account that provider may act in), in
   * backupTable.region; and, with customer-managed keys, a key of its own there (a table's key must be in
   * its region, and a key shared across accounts could be disabled from the source's).
   */
  private backupSide(name: string, config: EnvironmentConfig, sourceAccountId: string, partition: string): BackupSide {
    const placement = backupPlacement(config);
    const accountId = placement.accountId ?? sourceAccountId;
    if (!placement.remote) return { ...placement, accountId };
    const provider = new AwsProvider(this, "backup", {
      alias: "backup",
      region: placement.region,
      assumeRole: config.backupTable.assumeRoleArn ? [{ roleArn: config.backupTable.assumeRoleArn, sessionName: `${config.namePrefix}-backup` }] : undefined,
      allowedAccountIds: placement.accountId ? [placement.accountId] : config.allowedAccountIds,
      defaultTags: defaultTags(name, config),
    });
    const key = config.encryption.customerManagedKey
      ? new PipelineKey(this, "backup-key", {
          aliasName: `${config.namePrefix}-backup`,
          description: `Encrypts ${config.backupTable.name}, the backup of the ${config.namePrefix} replication pipeline`,
          partition,
          region: placement.region,
          accountId,
          provider,
          dataServices: ["dynamodb"],
        })
      : undefined;
    return { ...placement, accountId, provider, key };
  }

  private replicatedTables({ config, dataKeyArn, backup }: Deployment): ReplicatedTables {
    return new ReplicatedTables(this, "tables", {
      sourceTable: config.sourceTable,
      backupTable: config.backupTable,
      deletionProtection: config.deletionProtection,
      kmsKeyArn: dataKeyArn,
      backupProvider: backup.provider,
      backupKmsKeyArn: backup.key?.key.arn,
    });
  }

  private artifactBucket({ config, dataKeyArn }: Deployment): ArtifactBucket {
    return new ArtifactBucket(this, "artifacts", {
      bucketPrefix: `${config.namePrefix}-`,
      noncurrentVersionDays: config.bucket.noncurrentVersionDays,
      rejectedManifestDays: config.bucket.rejectedManifestDays,
      forceDestroy: config.bucket.forceDestroy,
      kmsKeyArn: dataKeyArn,
    });
  }

  private replicationJobs({ config, accountId, partition, dataKeyArn, functionName, backup }: Deployment, tables: ReplicatedTables, artifacts: ArtifactBucket): ReplicationJobs {
    return new ReplicationJobs(this, "jobs", {
      config,
      source: tables.source,
      backup: tables.backupReference,
      backupAddress: backup.remote ? tables.backupReference.arn : tables.backupReference.name,
      backupKey: backup.key && { arn: backup.key.key.arn, region: backup.region },
      bucket: artifacts.bucket,
      partition,
      accountId,
      kmsKeyArn: dataKeyArn,
      deadLetterQueueName: deadLetterQueueName(functionName),
    });
  }

  private changeTrigger(deployment: Deployment, tables: ReplicatedTables, artifacts: ArtifactBucket, jobs: ReplicationJobs): ChangeTrigger {
    const { config } = deployment;
    return new ChangeTrigger(this, "change-trigger", {
      functionName: deployment.functionName,
      accountId: deployment.accountId,
      region: config.region,
      sourceStreamArn: tables.source.streamArn,
      sourceKmsKeyArn: config.sourceTable.kmsKeyArn,
      metricsNamespace: deployment.metricsNamespace,
      manifestBucket: { name: artifacts.bucket.bucket, arn: artifacts.bucket.arn },
      manifestPrefix: BUCKET_LAYOUT.manifests,
      applyJob: { name: jobs.applyChanges.job.name, arn: jobs.applyChanges.job.arn },
      deletes: config.deletes,
      lambda: config.lambda,
      stream: config.stream,
      logRetentionDays: config.logRetentionDays,
      kmsKeyArn: deployment.dataKeyArn,
    });
  }

  private applySweep({ config }: Deployment, jobs: ReplicationJobs, trigger: ChangeTrigger): ApplySweep {
    return new ApplySweep(this, "apply-sweep", {
      namePrefix: config.namePrefix,
      applyJobName: jobs.applyChanges.job.name,
      functionName: trigger.function.functionName,
      functionArn: trigger.function.arn,
      intervalMinutes: config.applyChangesJob.sweepIntervalMinutes,
    });
  }

  private alarms(deployment: Deployment, key: PipelineKey, jobs: ReplicationJobs, trigger: ChangeTrigger): PipelineAlarms {
    const { config } = deployment;
    return new PipelineAlarms(this, "alarms", {
      namePrefix: config.namePrefix,
      accountId: deployment.accountId,
      kmsKeyArn: key.key.arn,
      functionName: deployment.functionName,
      deadLetterQueueName: trigger.deadLetterQueue.name,
      glueJobNames: jobs.all.filter((job) => job !== jobs.restoreDrill).map((job) => job.job.name),
      restoreDrill: { jobName: jobs.restoreDrill.job.name, maxRestoreMinutes: config.restoreDrill.maxRestoreMinutes },
      iteratorAgeSeconds: config.alarms.iteratorAgeSeconds,
      metricsNamespace: deployment.metricsNamespace,
      replicationLatencySeconds: config.alarms.replicationLatencySeconds,
      oldestPendingManifestAgeSeconds: config.alarms.oldestPendingManifestAgeSeconds,
      applyStalledMinutes: stalledApplyMinutes(config),
      email: config.alarms.email,
    });
  }

  private dashboard({ config, functionName, metricsNamespace }: Deployment, trigger: ChangeTrigger, alarms: PipelineAlarms): PipelineDashboard {
    return new PipelineDashboard(this, "dashboard", {
      dashboardName: config.namePrefix,
      region: config.region,
      namePrefix: config.namePrefix,
      metricsNamespace,
      functionName,
      deadLetterQueueName: trigger.deadLetterQueue.name,
      glueFailureRuleName: alarms.glueFailureRule.name,
      restoreDrillFailureRuleName: alarms.restoreDrillFailureRule.name,
      maxRestoreMinutes: config.restoreDrill.maxRestoreMinutes,
      alarmArns: () => alarms.alarms.map((alarm) => alarm.arn),
    });
  }

  /** AWS Backup of the backup table, beside it: in its account and region, under its key. */
  private tableVault({ config, partition, dataKeyArn, backup }: Deployment, tables: ReplicatedTables): TableVault | undefined {
    const settings = config.backupTable.vault;
    if (!settings) return undefined;
    const kmsKeyArn = backup.remote ? backup.key?.key.arn : dataKeyArn;
    const { provider, region, accountId } = backup;
    return new TableVault(this, "vault", { settings, namePrefix: config.namePrefix, table: tables.backupReference, partition, region, accountId, kmsKeyArn, provider });
  }

  /**
   * A backup in another account is reached through its resource-based policy, which also denies the
   * source account's principals what would destroy it. Beside the source (the same account, whatever the
   * region) it has none: identity policies reach it, and a deny of the account would bind its deployer too.
   */
  private backupTablePolicy({ backup, accountId, partition }: Deployment, tables: ReplicatedTables, jobs: ReplicationJobs): void {
    if (!backup.provider || backup.accountId === accountId) return;
    const table = tables.backupReference;
    const users = jobs.all
      .map((job) => ({
        sid: `${job.node.id.replace(/(^|-)(\w)/g, (_, __, letter: string) => letter.toUpperCase())}UsesBackup`,
        roleArn: job.role.role.arn,
        actions: [...new Set(job.grants.filter((grant) => grant.resources.includes(table.arn)).flatMap((grant) => grant.actions))],
      }))
      .filter((user) => user.actions.length > 0);
    new BackupTablePolicy(this, "backup-table-policy", { table, sourceAccountId: accountId, backupAccountId: backup.accountId, partition, users, provider: backup.provider });
  }

  /**
   * The key policies, once every role exists: the roles that use the data, the alarm topic, the log groups
   * it encrypts; and the backup's own key's (the jobs that call the backup, AWS Backup's roles).
   */
  private authorizeKeyUsers({ config, accountId, partition, dataKeyArn, functionName, backup }: Deployment, key: PipelineKey, tables: ReplicatedTables, jobs: ReplicationJobs, trigger: ChangeTrigger, vault?: TableVault): void {
    const arn = (service: string, resource: string) => `arn:${partition}:${service}:${config.region}:${accountId}:${resource}`;
    const vaultRoleArns = vault && [vault.backupRole.role.arn, vault.restoreRole.role.arn];
    key.authorize({
      encryptsData: dataKeyArn !== undefined,
      dataRoleArns: [trigger.role.role.arn, ...jobs.all.map((job) => job.role.role.arn)],
      alarmTopicArn: arn("sns", PipelineAlarms.topicName(config.namePrefix)),
      logGroupArnPatterns: [arn("logs", `log-group:/aws/lambda/${functionName}`), ...jobs.logGroupNames.map((group) => arn("logs", `log-group:${group}`))],
      backupRoleArns: backup.remote ? undefined : vaultRoleArns,
    });
    backup.key?.authorize({
      encryptsData: true,
      dataRoleArns: jobs.all.filter((job) => job.grants.some((grant) => grant.resources.includes(tables.backupReference.arn))).map((job) => job.role.role.arn),
      backupRoleArns: vaultRoleArns,
    });
  }

  /** What operators and scripts (ops/, the tests) read of a deployed environment. */
  private outputs(config: EnvironmentConfig, parts: PipelineParts): void {
    const { tables, artifacts, jobs, trigger, alarms, key, dashboard, vault, backupKey } = parts;
    const outputs: Record<string, string> = {
      source_table_name: tables.source.name,
      source_table_arn: tables.source.arn,
      source_table_stream_arn: tables.source.streamArn,
      backup_table_name: tables.backupReference.name,
      backup_table_arn: tables.backupReference.arn,
      bucket_name: artifacts.bucket.bucket,
      change_trigger_function_name: trigger.function.functionName,
      change_trigger_log_group_name: trigger.logGroup.name,
      dead_letter_queue_url: trigger.deadLetterQueue.url,
      apply_changes_job_name: jobs.applyChanges.job.name,
      quarantine_prefix: BUCKET_LAYOUT.quarantine,
      full_copy_job_name: jobs.fullCopy.job.name,
      verify_job_name: jobs.verify.job.name,
      restore_job_name: jobs.restore.job.name,
      restore_drill_job_name: jobs.restoreDrill.job.name,
      verify_drift_alarm_name: alarms.verifyDrift.alarmName,
      restore_drill_slow_alarm_name: alarms.restoreDrillSlow.alarmName,
      restore_drill_failed_rule_name: alarms.restoreDrillFailureRule.name,
      alarm_topic_arn: alarms.topic.arn,
      kms_key_arn: key.key.arn,
      dashboard_name: dashboard.dashboard.dashboardName,
      // The commercial-partition console; the dashboard name is enough elsewhere.
      dashboard_url: `https://${config.region}.console.aws.amazon.com/cloudwatch/home?region=${config.region}#dashboards/dashboard/${config.namePrefix}`,
      ...(backupKey && { backup_kms_key_arn: backupKey.key.arn }),
      ...(vault && {
        backup_vault_name: vault.vault.name,
        backup_vault_arn: vault.vault.arn,
        backup_plan_id: vault.plan.id,
        vault_backup_role_arn: vault.backupRole.role.arn,
        vault_restore_role_arn: vault.restoreRole.role.arn,
      }),
    };
    for (const [id, value] of Object.entries(outputs)) {
      new TerraformOutput(this, id, { value });
    }
  }
}

/** The tags every resource gets, in either account. */
function defaultTags(name: string, config: EnvironmentConfig) {
  return [{ tags: { application: "dynamodb-replication", environment: name, "managed-by": "terraform", ...config.tags } }];
}
