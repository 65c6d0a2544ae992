import { BUCKET_LAYOUT, metricsNamespace, RESTORE_DRILL_INFIX } from "../../../contracts";
import { type GlueJobKind, type JobContext, type JobDefinition, sparkRun } from "./job-kind";

/**
 * restore-drill: on its schedule (restoreDrill.schedule), restores a share of the backup into a table
 * of its own as restore would, checks it against the backup, measures it, estimates a full restore and
 * deletes the table (glue-job/backup_replication/jobs/restore_drill.py). A job of its own rather than a
 * mode of restore: its role may delete tables and may write neither the source (restore's may, when
 * allowed) nor anything but its own tables, and its failures page apart from restore's.
 */
export const restoreDrill: GlueJobKind = { id: "restore-drill", script: "restore_drill.py", define: defineRestoreDrill };

function defineRestoreDrill({ config, backup, backupAddress, bucket, partition, accountId }: JobContext): JobDefinition {
  const drill = config.restoreDrill;
  const ownTables = `${config.backupTable.name}${RESTORE_DRILL_INFIX}`;
  if (config.sourceTable.name.startsWith(ownTables)) {
    throw new Error(`sourceTable.name ${config.sourceTable.name} cannot start with "${ownTables}": the restore drill's role may delete the tables named so`);
  }
  const drillTables = `arn:${partition}:dynamodb:${config.region}:${accountId}:table/${ownTables}*`;
  return {
    description: `Rehearses a restore of ${config.backupTable.name} into a table of its own, checks and measures it, then deletes the table`,
    // The restore job's size and timeout: the rate the drill measures is the one a restore would reach.
    ...sparkRun({ ...config.restore, schedule: drill.schedule }),
    arguments: {
      sample_fraction: String(drill.sampleFraction),
      include_retained: "false",
      transform: JSON.stringify(config.transform),
      region: config.region,
      max_restore_minutes: String(drill.maxRestoreMinutes),
      report_bucket: bucket.bucket,
      report_prefix: BUCKET_LAYOUT.restoreDrillReports,
      metrics_namespace: metricsNamespace(config.namePrefix),
      metrics_pipeline: config.namePrefix,
    },
    // What it restores from and how the backup marks retained items are not a run's to change.
    fixedArguments: { backup_table: backupAddress, retained_attribute: config.retainedAttribute },
    publishesStackMetrics: true,
    sourceUntouched: true,
    grants: [
      { sid: "ReadBackupItems", actions: ["dynamodb:DescribeTable", "dynamodb:Scan"], resources: [backup.arn] },
      {
        // CreateTable and DescribeTable: the table restore makes with --create_target; PutItem: missing-only,
        // as restore writes; BatchGetItem: the read-back; Scan: the count; DeleteTable: the end of every run.
        sid: "RestoreIntoDrillTables",
        actions: ["dynamodb:BatchGetItem", "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"],
        resources: [drillTables],
      },
      { sid: "WriteRestoreDrillReports", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.restoreDrillReports}*`] },
    ],
  };
}
