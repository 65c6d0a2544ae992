import { BUCKET_LAYOUT, metricsNamespace } from "../../../contracts";
import { backupItemWrites } from "../../iam/glue-job-grants";
import { type GlueJobKind, type JobContext, type JobDefinition, replicationArguments } from "./job-kind";

/**
 * apply-changes: writes the keys of the change manifests to the backup table, reading each item from
 * the source. Started by the change-trigger function and the sweeps; a start while a run is busy waits.
 */
export const applyChanges: GlueJobKind = { id: "apply-changes", script: "apply_changes.py", define: defineApplyChanges };

function defineApplyChanges(context: JobContext): JobDefinition {
  const { config, source, backup, bucket } = context;
  const apply = config.applyChangesJob;
  return {
    description: `Applies the change manifests of ${config.sourceTable.name} to ${config.backupTable.name}`,
    compute: apply.type === "pythonshell" ? { type: "pythonshell", maxCapacity: apply.maxCapacity } : { type: "glueetl", workerType: "G.1X", numberOfWorkers: apply.maxWorkers },
    timeoutMinutes: apply.timeoutMinutes,
    queueRuns: true,
    arguments: {
      ...replicationArguments(context),
      manifest_bucket: bucket.bucket,
      manifest_prefix: BUCKET_LAYOUT.manifests,
      rejected_prefix: BUCKET_LAYOUT.rejected,
      quarantine_prefix: BUCKET_LAYOUT.quarantine,
      time_budget_seconds: String(apply.timeBudgetSeconds),
      max_pass_bytes: String(apply.maxPassMegabytes * 1024 * 1024),
      // The stack's namespace; the Pipeline dimension is the name prefix (contracts/metrics.ts).
      metrics_namespace: metricsNamespace(config.namePrefix),
      metrics_pipeline: config.namePrefix,
      ...(apply.type === "glueetl" ? sparkSpread(apply.maxWorkers) : {}),
    },
    publishesStackMetrics: true,
    grants: [
      { sid: "ReadSourceItems", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable"], resources: [source.arn] },
      { sid: "WriteBackupItems", actions: backupItemWrites(config.deletes), resources: [backup.arn] },
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
        // DeleteObjectVersion: a consumed manifest is deleted by the version read, leaving no delete marker.
        // GetObjectVersion: a malformed manifest is copied to rejected/ by that version (CopySource.VersionId);
        // without it S3 refuses the copy and the manifest stays first in the listing.
        actions: ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
        resources: [`${bucket.arn}/${BUCKET_LAYOUT.manifests}*`],
      },
      {
        sid: "SetAsideRejectedManifestsAndQuarantinedKeys",
        actions: ["s3:PutObject"],
        resources: [`${bucket.arn}/${BUCKET_LAYOUT.rejected}*`, `${bucket.arn}/${BUCKET_LAYOUT.quarantine}*`],
      },
    ],
  };
}

// G.1X: 4 vCPUs and one executor a worker (https://docs.aws.amazon.com/glue/latest/dg/worker-types.html).
const G1X_CORES = 4;

/**
 * A Spark apply run spreads each pass's keys over the executors (spark_apply.py): one task a core of the
 * run's largest size, the driver's worker aside. With --enable-auto-scaling, NumberOfWorkers is the most
 * a run grows to and Glue adds workers while tasks wait ("Using auto scaling for AWS Glue",
 * https://docs.aws.amazon.com/glue/latest/dg/auto-scaling.html): a pass of a large backlog, in many
 * tasks, grows the run; a small one stays small. Auto scaling needs no permission of its own.
 */
function sparkSpread(maxWorkers: number): Record<string, string> {
  return { spark: "true", max_tasks: String((maxWorkers - 1) * G1X_CORES), "enable-auto-scaling": "true" };
}
