import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import type { EnvironmentConfig } from "../../config/schema";
import type { Grant } from "../../iam/grant";
import type { ReplicationGlueJobOptions } from "../glue-job";
import type { TableReference } from "../replicated-tables";

/** What every job kind is defined from. */
export interface JobContext {
  readonly config: EnvironmentConfig;
  readonly source: TableReference;
  readonly backup: TableReference;
  /**
   * How the jobs name the backup table (--backup_table): its name beside the source; its ARN in another
   * account or region, where DynamoDB takes the table's ARN as TableName and the jobs call its region.
   */
  readonly backupAddress: string;
  /** The pipeline's bucket: manifests and reports (BUCKET_LAYOUT). */
  readonly bucket: S3Bucket;
  readonly partition: string;
  readonly accountId: string;
  /** The change-trigger's dead-letter queue (in this account and region), which restore checks. */
  readonly deadLetterQueueName: string;
}

/**
 * One kind of Glue job: its script, and for a configuration its size, schedule, arguments and grants.
 * Run with what every job has (ReplicationJobs): the scripts, the security configuration, the base
 * grants (glueJobBaseGrants), a role named after the job.
 */
export interface GlueJobKind {
  /** The construct's id, and the job name after the name prefix. */
  readonly id: string;
  /** The entry point in glue-job/. */
  readonly script: string;
  define(context: JobContext): JobDefinition;
}

export interface JobDefinition
  extends Pick<ReplicationGlueJobOptions, "description" | "compute" | "timeoutMinutes" | "queueRuns" | "schedule" | "arguments" | "fixedArguments"> {
  /** What the job's own work calls, on exact ARNs, besides the base grants. */
  readonly grants: Grant[];
  /** The job publishes to the stack's metric namespace too (contracts/metrics.ts). Default: Glue's only. */
  readonly publishesStackMetrics?: boolean;
  /** The job never reads the source, so it gets nothing of the source table's own key. Default: it may. */
  readonly sourceUntouched?: boolean;
}

/** The arguments of the jobs that replicate (apply-changes, full-copy, verify): the tables and how items map. */
export function replicationArguments({ config, source, backupAddress }: JobContext): Record<string, string> {
  return {
    source_table: source.name,
    backup_table: backupAddress,
    delete_policy: config.deletes,
    transform: JSON.stringify(config.transform),
    region: config.region,
    retained_attribute: config.retainedAttribute,
  };
}

/**
 * full-copy, verify and restore run alike on Spark: no queuing (one run at a time), sized and
 * scheduled by their settings (no schedule: on demand only).
 */
export function sparkRun(settings: {
  workerType: string;
  numberOfWorkers: number;
  timeoutMinutes: number;
  schedule?: string | null;
}): Pick<JobDefinition, "compute" | "timeoutMinutes" | "queueRuns" | "schedule"> {
  return {
    compute: { type: "glueetl", workerType: settings.workerType, numberOfWorkers: settings.numberOfWorkers },
    timeoutMinutes: settings.timeoutMinutes,
    queueRuns: false,
    schedule: settings.schedule ?? undefined,
  };
}
