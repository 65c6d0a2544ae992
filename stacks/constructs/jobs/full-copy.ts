import { backupItemWrites } from "../../iam/glue-job-grants";
import { type GlueJobKind, type JobContext, type JobDefinition, replicationArguments, sparkRun } from "./job-kind";

/** full-copy: copies every item of the source to the backup (reconciliation, by default weekly). */
export const fullCopy: GlueJobKind = { id: "full-copy", script: "full_copy.py", define: defineFullCopy };

function defineFullCopy(context: JobContext): JobDefinition {
  const { config, source, backup } = context;
  const fullCopy = config.fullCopyJob;
  const mirror = config.deletes === "mirror";
  return {
    description: `Copies all of ${config.sourceTable.name} to ${config.backupTable.name}`,
    ...sparkRun(fullCopy),
    arguments: {
      ...replicationArguments(context),
      scan_segments: String(fullCopy.scanSegments),
      max_items_per_second: String(fullCopy.maxItemsPerSecond),
      mirror_deletes: String(mirror),
      verify_writes: String(fullCopy.verifyWrites),
    },
    grants: [
      {
        sid: "ReadSourceItems",
        // BatchGetItem: every written key is re-read from the source (write verification).
        actions: ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"],
        resources: [source.arn],
      },
      {
        sid: "WriteBackupItems",
        actions: [...backupItemWrites(config.deletes), "dynamodb:DescribeTable", ...(mirror ? ["dynamodb:Scan"] : [])].sort(),
        resources: [backup.arn],
      },
    ],
  };
}
