import { BUCKET_LAYOUT, metricsNamespace } from "../../../contracts";
import { backupItemWrites } from "../../iam/glue-job-grants";
import { type GlueJobKind, type JobContext, type JobDefinition, replicationArguments, sparkRun } from "./job-kind";

/**
 * verify: checks the backup against the source item by item and publishes the drift; a run with
 * --repair true rewrites what differs.
 */
export const verify: GlueJobKind = { id: "verify", script: "verify.py", define: defineVerify };

function defineVerify(context: JobContext): JobDefinition {
  const { config, source, backup, bucket } = context;
  const verify = config.verifyJob;
  return {
    description: `Checks that ${config.backupTable.name} matches ${config.sourceTable.name} item by item`,
    ...sparkRun(verify),
    arguments: {
      ...replicationArguments(context),
      sample_fraction: String(verify.sampleFraction),
      settle_seconds: String(verify.settleSeconds),
      repair: "false",
      report_bucket: bucket.bucket,
      report_prefix: BUCKET_LAYOUT.verifyReports,
      // The stack's namespace, as apply-changes (contracts/metrics.ts: VERIFY_METRICS).
      metrics_namespace: metricsNamespace(config.namePrefix),
      metrics_pipeline: config.namePrefix,
    },
    publishesStackMetrics: true,
    grants: [
      { sid: "ReadSourceItems", actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"], resources: [source.arn] },
      {
        // Reads to compare; the writes are --repair's, the same writer as full-copy's. UpdateItem (under
        // retain): a backup item whose deletion was lost gets the retained marker alone, its content untouched.
        sid: "CheckAndRepairBackupItems",
        actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan", ...backupItemWrites(config.deletes), ...(config.deletes === "mirror" ? [] : ["dynamodb:UpdateItem"])].sort(),
        resources: [backup.arn],
      },
      { sid: "WriteVerifyReports", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${BUCKET_LAYOUT.verifyReports}*`] },
    ],
  };
}
