import { RESTORE_TARGET_SUFFIX } from "../../contracts";
import type { ArnReference, Grant } from "./grant";

/**
 * What AWS Backup calls with the role a plan's selection names, for one DynamoDB table: the DynamoDB
 * and vault statements of the managed policy AWSBackupServiceRolePolicyForBackup
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSBackupServiceRolePolicyForBackup.html),
 * narrowed from `table/*` and `backup-vault:*` to this table and this vault. Its other statements serve
 * other services, tag-based selections (tag:GetResources) and copies (backup:CopyIntoBackupVault): the
 * plan selects one table by ARN and copies nowhere. KMS is granted by the key policy (PipelineKey).
 */
export function vaultBackupGrants(options: { table: ArnReference; vault: ArnReference; recoveryPointArns: string }): Grant[] {
  const { table, vault } = options;
  return [
    {
      // Advanced DynamoDB backup (on by default for accounts whose first vault is from after November 2021)
      // calls StartAwsBackupJob; without it, AWS Backup calls DynamoDB's own CreateBackup:
      // https://docs.aws.amazon.com/aws-backup/latest/devguide/advanced-ddb-backup.html,
      // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/backuprestore_IAM.html (example 8).
      sid: "BackUpTable",
      actions: ["dynamodb:CreateBackup", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:StartAwsBackupJob"],
      resources: [table.arn],
    },
    {
      // Backups DynamoDB itself holds (no advanced backup): AWS Backup watches and expires them.
      sid: "ManageTableBackups",
      actions: ["dynamodb:DeleteBackup", "dynamodb:DescribeBackup"],
      resources: [`${table.arn}/backup/*`],
    },
    { sid: "DescribeVault", actions: ["backup:DescribeBackupVault"], resources: [vault.arn] },
    // The managed policy's RecoveryPointTaggingPermissions: the table's tags are copied onto its recovery points.
    { sid: "TagRecoveryPoints", actions: ["backup:TagResource"], resources: [options.recoveryPointArns] },
  ];
}

/**
 * What AWS Backup calls with the role a restore job names: the DynamoDB statements of
 * AWSBackupServiceRolePolicyForRestores
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSBackupServiceRolePolicyForRestores.html),
 * narrowed to new tables named `<backup>-restore-*`, as the restore Glue job: a restore through AWS
 * Backup can then never write the source, the backup or any other table.
 */
export function vaultRestoreGrants(options: { table: ArnReference & { name: string }; tableArn: (name: string) => string }): Grant[] {
  const target = options.tableArn(`${options.table.name}${RESTORE_TARGET_SUFFIX}*`);
  return [
    {
      // RestoreTableFromAwsBackup: a recovery point of advanced backup; the rest: "DynamoDB read and write
      // permissions on the target table are necessary for restore functionality" (backuprestore_IAM.html).
      sid: "RestoreIntoNewTables",
      actions: [
        "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
        "dynamodb:Query", "dynamodb:RestoreTableFromAwsBackup", "dynamodb:Scan", "dynamodb:UpdateItem",
      ],
      resources: [target],
    },
    // A recovery point DynamoDB holds itself (no advanced backup) is its backup of the table.
    { sid: "RestoreTableBackups", actions: ["dynamodb:RestoreTableFromBackup"], resources: [`${options.table.arn}/backup/*`] },
  ];
}
