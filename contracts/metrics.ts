/**
 * The metrics this stack publishes itself: one namespace per stack, written by apply-changes
 * (glue-job/backup_replication/metrics.py, PutMetricData), verify and the restore drill (PutMetricData too),
 * and by the change-trigger function (embedded metric format,
 * functions/change-trigger/batch-metrics.ts). The alarms and the dashboard read these names, and a
 * test checks that the Python publisher uses the same ones.
 */

/** Namespace of one stack's own metrics (never under `AWS/`, which CloudWatch reserves). */
export function metricsNamespace(namePrefix: string): string {
  return `DynamoDBReplication/${namePrefix}`;
}

/** apply-changes' dimension: every datum carries Pipeline = the stack's name prefix. */
export const APPLY_DIMENSION = "Pipeline";
/** change-trigger's dimension: FunctionName = the function's name, as Lambda's own metrics. */
export const TRIGGER_DIMENSION = "FunctionName";

/** Published by apply-changes per pass (ApplyRunsFinished once per run), with their CloudWatch units. */
export const APPLY_METRICS = {
  /** From the newest record of a manifest (ApproximateCreationDateTime) to when its keys were written; StatisticValues per pass. */
  ReplicationLatency: "Seconds",
  ItemsApplied: "Count",
  RetainedWrites: "Count",
  QuarantinedItems: "Count",
  /** At the start of each pass. */
  ManifestsPending: "Count",
  /** At the start of each pass; 0 when none is pending. */
  OldestPendingManifestAge: "Seconds",
  /** 1 when a run ends (whatever its outcome, after its last pass). */
  ApplyRunsFinished: "Count",
} as const;

/** Published by the verify job with the Pipeline dimension: items that differ between the tables. */
export const VERIFY_METRICS = { DriftItems: "Count" } as const;

/**
 * Published by the restore drill once a run (glue-job/backup_replication/drill_report.py), with the Pipeline
 * dimension, when it restored and checked its sample.
 */
export const RESTORE_DRILL_METRICS = {
  /** Restoring the sample: creating its table, then copying (what the rate is measured on). */
  RestoreDrillDuration: "Seconds",
  RestoreDrillItemsRestored: "Count",
  RestoreDrillItemsPerSecond: "Count/Second",
  /** Creating a table plus the backup's ItemCount at the measured rate; absent when nothing was restored. */
  RestoreDrillEstimatedFullRestoreTime: "Seconds",
  /** Items the read-back or the count found not as the backup held them; any fails the run. */
  RestoreDrillMismatches: "Count",
} as const;

/** Published by change-trigger per batch through the embedded metric format. */
export const TRIGGER_METRICS = {
  RecordsPerBatch: "Count",
  KeysPerBatch: "Count",
  ManifestBytes: "Bytes",
} as const;

export type ApplyMetricName = keyof typeof APPLY_METRICS;
export type TriggerMetricName = keyof typeof TRIGGER_METRICS;
