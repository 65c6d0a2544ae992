import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { DataAwsCallerIdentity } from "@cdktf/provider-aws/lib/data-aws-caller-identity";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { configureBackend } from "./backend";
import type { EnvironmentConfig } from "./config/schema";
import { ArtifactBucket, BUCKET_LAYOUT } from "./constructs/artifact-bucket";
import { ChangeTrigger } from "./constructs/change-trigger";
import { GlueScripts } from "./constructs/glue-scripts";
import { ReplicatedTables } from "./constructs/replicated-tables";
import { ReplicationGlueJob } from "./constructs/glue-job";
import { glueJobGrants } from "./glue-job-grants";

const APPLY_CHANGES_SCRIPT = "apply_changes.py";
const FULL_COPY_SCRIPT = "full_copy.py";
/** Seconds the apply job leaves for itself to finish cleanly before its Glue timeout. */
const APPLY_TIME_MARGIN_SECONDS = 300;
const NONCURRENT_VERSION_DAYS = 30;

/** The whole pipeline for one environment: tables, bucket, change trigger and both Glue jobs. */
export class ReplicationStack extends TerraformStack {
  constructor(scope: Construct, name: string, config: EnvironmentConfig) {
    super(scope, name);
    new AwsProvider(this, "aws", {
      region: config.region,
      allowedAccountIds: config.allowedAccountIds,
      defaultTags: [
        {
          tags: {
            application: "dynamodb-replication",
            environment: name,
            "managed-by": "terraform",
            ...config.tags,
          },
        },
      ],
    });
    this.addOverride("terraform.required_providers.aws", { source: "hashicorp/aws", version: config.providerVersion });
    configureBackend(this, name, config);

    const account = new DataAwsCallerIdentity(this, "account");
    const partition = new DataAwsPartition(this, "partition");
    const prefix = config.namePrefix;

    const tables = new ReplicatedTables(this, "tables", {
      sourceTable: config.sourceTable,
      backupTable: config.backupTable,
      deletionProtection: config.deletionProtection,
    });
    const artifacts = new ArtifactBucket(this, "artifacts", {
      bucketPrefix: `${prefix}-`,
      noncurrentVersionDays: NONCURRENT_VERSION_DAYS,
    });
    const bucketName = artifacts.bucket.bucket;
    const scripts = new GlueScripts(this, "glue-scripts", {
      bucketName,
      prefix: BUCKET_LAYOUT.scripts,
      entryPoints: [APPLY_CHANGES_SCRIPT, FULL_COPY_SCRIPT],
    });

    const common = {
      source_table: tables.source.name,
      backup_table: tables.backup.name,
      delete_policy: config.deletes,
      transform: JSON.stringify(config.transform),
      region: config.region,
    };
    const grantContext = {
      partition: partition.partition,
      region: config.region,
      accountId: account.accountId,
      source: tables.source,
      backup: tables.backup,
      bucket: artifacts.bucket,
    };
    const applyJobName = `${prefix}-apply-changes`;
    const applyCompute =
      config.applyChangesJob.type === "pythonshell"
        ? { type: "pythonshell" as const, maxCapacity: config.applyChangesJob.maxCapacity }
        : { type: "glueetl" as const, workerType: "G.1X", numberOfWorkers: 2 };
    const applyChanges = new ReplicationGlueJob(this, "apply-changes", {
      jobName: applyJobName,
      description: `Applies the change manifests of ${config.sourceTable.name} to ${config.backupTable.name}`,
      compute: applyCompute,
      scriptLocation: scripts.scriptLocation(APPLY_CHANGES_SCRIPT),
      libraryPath: scripts.libraryPath,
      timeoutMinutes: config.applyChangesJob.timeoutMinutes,
      queueRuns: true,
      arguments: {
        ...common,
        manifest_bucket: bucketName,
        manifest_prefix: BUCKET_LAYOUT.manifests,
        rejected_prefix: BUCKET_LAYOUT.rejected,
        time_budget_seconds: String(Math.max(60, config.applyChangesJob.timeoutMinutes * 60 - APPLY_TIME_MARGIN_SECONDS)),
      },
      grants: glueJobGrants("apply-changes", { ...grantContext, jobName: applyJobName, compute: applyCompute.type, deletes: config.deletes }),
    });
    const fullCopyJobName = `${prefix}-full-copy`;
    const fullCopy = new ReplicationGlueJob(this, "full-copy", {
      jobName: fullCopyJobName,
      description: `Copies all of ${config.sourceTable.name} to ${config.backupTable.name}`,
      compute: { type: "glueetl", workerType: config.fullCopyJob.workerType, numberOfWorkers: config.fullCopyJob.numberOfWorkers },
      scriptLocation: scripts.scriptLocation(FULL_COPY_SCRIPT),
      libraryPath: scripts.libraryPath,
      timeoutMinutes: config.fullCopyJob.timeoutMinutes,
      queueRuns: false,
      schedule: config.fullCopyJob.schedule ?? undefined,
      arguments: {
        ...common,
        scan_segments: String(config.fullCopyJob.scanSegments),
        max_items_per_second: String(config.fullCopyJob.maxItemsPerSecond),
        mirror_deletes: String(config.deletes === "mirror"),
      },
      grants: glueJobGrants("full-copy", { ...grantContext, jobName: fullCopyJobName, compute: "glueetl", deletes: config.deletes }),
    });

    const trigger = new ChangeTrigger(this, "change-trigger", {
      functionName: `${prefix}-change-trigger`,
      sourceStreamArn: tables.source.streamArn,
      manifestBucket: { name: bucketName, arn: artifacts.bucket.arn },
      manifestPrefix: BUCKET_LAYOUT.manifests,
      applyJob: { name: applyChanges.job.name, arn: applyChanges.job.arn },
      deletes: config.deletes,
      lambda: config.lambda,
      stream: config.stream,
      logRetentionDays: config.logRetentionDays,
    });

    const outputs: Record<string, string> = {
      source_table_name: tables.source.name,
      source_table_arn: tables.source.arn,
      source_table_stream_arn: tables.source.streamArn,
      backup_table_name: tables.backup.name,
      backup_table_arn: tables.backup.arn,
      bucket_name: bucketName,
      change_trigger_function_name: trigger.function.functionName,
      change_trigger_log_group_name: trigger.logGroup.name,
      dead_letter_queue_url: trigger.deadLetterQueue.url,
      apply_changes_job_name: applyChanges.job.name,
      full_copy_job_name: fullCopy.job.name,
    };
    for (const [id, value] of Object.entries(outputs)) {
      new TerraformOutput(this, id, { value });
    }
  }
}
