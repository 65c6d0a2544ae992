import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { BUCKET_LAYOUT, metricsNamespace } from "../contracts";
import { configureBackend } from "./backend";
import { stalledApplyMinutes } from "./config/alarm-settings";
import type { EnvironmentConfig } from "./config/schema";
import { ArtifactBucket } from "./constructs/artifact-bucket";
import { ApplySweep } from "./constructs/apply-sweep";
import { ChangeTrigger, deadLetterQueueName } from "./constructs/change-trigger";
import { PipelineAlarms } from "./constructs/pipeline-alarms";
import { PipelineDashboard } from "./constructs/pipeline-dashboard";
import { PipelineKey } from "./constructs/pipeline-key";
import { ReplicatedTables } from "./constructs/replicated-tables";
import { ReplicationJobs } from "./constructs/replication-jobs";

/**
 * The whole pipeline for one environment: source table -> stream -> change-trigger Lambda ->
 * manifest in S3 -> apply-changes Glue job -> backup table, plus the full copy, encryption and alarms.
 */
export class ReplicationStack extends TerraformStack {
  constructor(scope: Construct, name: string, config: EnvironmentConfig) {
    super(scope, name);
    new AwsProvider(this, "aws", {
      region: config.region,
      allowedAccountIds: config.allowedAccountIds,
      defaultTags: [{ tags: { application: "dynamodb-replication", environment: name, "managed-by": "terraform", ...config.tags } }],
    });
    this.addOverride("terraform.required_providers.aws", { source: "hashicorp/aws", version: config.providerVersion });
    configureBackend(this, name, config);

    const accountId = new DataAwsCallerIdentity(this, "account").accountId;
    const partition = new DataAwsPartition(this, "partition").partition;
    const prefix = config.namePrefix;
    const key = new PipelineKey(this, "key", { aliasName: prefix, partition, region: config.region, accountId });
    const dataKeyArn = config.encryption.customerManagedKey ? key.key.arn : undefined;

    const tables = new ReplicatedTables(this, "tables", {
      sourceTable: config.sourceTable,
      backupTable: config.backupTable,
      deletionProtection: config.deletionProtection,
      kmsKeyArn: dataKeyArn,
    });
    const artifacts = new ArtifactBucket(this, "artifacts", {
      bucketPrefix: `${prefix}-`,
      noncurrentVersionDays: config.bucket.noncurrentVersionDays,
      rejectedManifestDays: config.bucket.rejectedManifestDays,
      forceDestroy: config.bucket.forceDestroy,
      kmsKeyArn: dataKeyArn,
    });
    const functionName = `${prefix}-change-trigger`;
    const jobs = new ReplicationJobs(this, "jobs", {
      config,
      source: tables.source,
      backup: tables.backup,
      bucket: artifacts.bucket,
      partition,
      accountId,
      kmsKeyArn: dataKeyArn,
      deadLetterQueueName: deadLetterQueueName(functionName),
    });
    const namespace = metricsNamespace(prefix);
    const trigger = new ChangeTrigger(this, "change-trigger", {
      functionName,
      accountId,
      region: config.region,
      sourceStreamArn: tables.source.streamArn,
      sourceKmsKeyArn: config.sourceTable.kmsKeyArn,
      metricsNamespace: namespace,
      manifestBucket: { name: artifacts.bucket.bucket, arn: artifacts.bucket.arn },
      manifestPrefix: BUCKET_LAYOUT.manifests,
      applyJob: { name: jobs.applyChanges.job.name, arn: jobs.applyChanges.job.arn },
      deletes: config.deletes,
      lambda: config.lambda,
      stream: config.stream,
      logRetentionDays: config.logRetentionDays,
      kmsKeyArn: dataKeyArn,
    });
    new ApplySweep(this, "apply-sweep", {
      namePrefix: prefix,
      applyJobName: jobs.applyChanges.job.name,
      functionName: trigger.function.functionName,
      functionArn: trigger.function.arn,
      intervalMinutes: config.applyChangesJob.sweepIntervalMinutes,
    });
    const alarms = new PipelineAlarms(this, "alarms", {
      namePrefix: prefix,
      accountId,
      kmsKeyArn: key.key.arn,
      functionName,
      deadLetterQueueName: trigger.deadLetterQueue.name,
      glueJobNames: [jobs.applyChanges.job.name, jobs.fullCopy.job.name, jobs.verify.job.name, jobs.restore.job.name],
      iteratorAgeSeconds: config.alarms.iteratorAgeSeconds,
      metricsNamespace: namespace,
      replicationLatencySeconds: config.alarms.replicationLatencySeconds,
      oldestPendingManifestAgeSeconds: config.alarms.oldestPendingManifestAgeSeconds,
      applyStalledMinutes: stalledApplyMinutes(config),
      email: config.alarms.email,
    });
    const dashboard = new PipelineDashboard(this, "dashboard", {
      dashboardName: prefix,
      region: config.region,
      namePrefix: prefix,
      metricsNamespace: namespace,
      functionName,
      deadLetterQueueName: trigger.deadLetterQueue.name,
      glueFailureRuleName: alarms.glueFailureRule.name,
      alarmArns: () => alarms.alarms.map((alarm) => alarm.arn),
    });

    const arn = (service: string, resource: string) => `arn:${partition}:${service}:${config.region}:${accountId}:${resource}`;
    key.authorize({
      encryptsData: dataKeyArn !== undefined,
      dataRoleArns: [trigger.role.role.arn, ...[jobs.applyChanges, jobs.fullCopy, jobs.verify, jobs.restore].map((job) => job.role.role.arn)],
      alarmTopicArn: arn("sns", PipelineAlarms.topicName(prefix)),
      logGroupArnPatterns: [arn("logs", `log-group:/aws/lambda/${functionName}`), ...jobs.logGroupNames.map((group) => arn("logs", `log-group:${group}`))],
    });

    const outputs: Record<string, string> = {
      source_table_name: tables.source.name,
      source_table_arn: tables.source.arn,
      source_table_stream_arn: tables.source.streamArn,
      backup_table_name: tables.backup.name,
      backup_table_arn: tables.backup.arn,
      bucket_name: artifacts.bucket.bucket,
      change_trigger_function_name: trigger.function.functionName,
      change_trigger_log_group_name: trigger.logGroup.name,
      dead_letter_queue_url: trigger.deadLetterQueue.url,
      apply_changes_job_name: jobs.applyChanges.job.name,
      quarantine_prefix: BUCKET_LAYOUT.quarantine,
      full_copy_job_name: jobs.fullCopy.job.name,
      verify_job_name: jobs.verify.job.name,
      restore_job_name: jobs.restore.job.name,
      verify_drift_alarm_name: alarms.verifyDrift.alarmName,
      alarm_topic_arn: alarms.topic.arn,
      kms_key_arn: key.key.arn,
      dashboard_name: dashboard.dashboard.dashboardName,
      // The commercial-partition console; the dashboard name is enough elsewhere.
      dashboard_url: `https://${config.region}.console.aws.amazon.com/cloudwatch/home?region=${config.region}#dashboards/dashboard/${prefix}`,
    };
    for (const [id, value] of Object.entries(outputs)) {
      new TerraformOutput(this, id, { value });
    }
  }
}
