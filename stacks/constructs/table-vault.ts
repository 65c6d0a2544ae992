import type { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { BackupPlan } from "@cdktf/provider-aws/lib/backup-plan";
import { BackupSelection } from "@cdktf/provider-aws/lib/backup-selection";
import { BackupVault } from "@cdktf/provider-aws/lib/backup-vault";
import { BackupVaultLockConfiguration } from "@cdktf/provider-aws/lib/backup-vault-lock-configuration";
import type { VaultSettings } from "../config/vault-settings";
import type { Grant } from "../iam/grant";
import { ServiceRole } from "../iam/service-role";
import { vaultBackupGrants, vaultRestoreGrants } from "../iam/vault-grants";
import type { TableReference } from "./replicated-tables";

export interface TableVaultOptions {
  readonly settings: VaultSettings;
  readonly namePrefix: string;
  /** The table backed up: the backup table. */
  readonly table: TableReference;
  /** Where the vault is: the table's partition, region and account. */
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  /** The customer-managed key of the vault; without one AWS Backup uses its own default key. */
  readonly kmsKeyArn?: string;
  /**
   * The provider of the table's account. Default: the stack's provider. With the backup table in
   * another account, its aliased provider: the vault, its roles and its plan must live beside the table.
   */
  readonly provider?: TerraformProvider;
}

/**
 * AWS Backup of one table into a vault of its own, under a vault lock: the vault, the lock, a plan
 * with one rule, a selection of exactly that table, and the roles AWS Backup backs up and restores
 * with. https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
 */
export class TableVault extends Construct {
  public readonly vault: BackupVault;
  public readonly lock: BackupVaultLockConfiguration;
  public readonly plan: BackupPlan;
  public readonly selection: BackupSelection;
  public readonly backupRole: ServiceRole;
  public readonly restoreRole: ServiceRole;

  constructor(scope: Construct, id: string, options: TableVaultOptions) {
    super(scope, id);
    const { settings, namePrefix, table, provider } = options;
    const { lock } = settings;
    this.vault = new BackupVault(this, "vault", { provider, name: `${namePrefix}-backup-vault`, kmsKeyArn: options.kmsKeyArn });
    this.lock = new BackupVaultLockConfiguration(this, "lock", {
      provider,
      backupVaultName: this.vault.name,
      minRetentionDays: lock.minRetentionDays,
      maxRetentionDays: lock.maxRetentionDays,
      // Its presence is what makes a lock compliance mode: immutable once these days have passed.
      changeableForDays: lock.mode === "compliance" ? lock.changeableForDays : undefined,
    });
    this.plan = new BackupPlan(this, "plan", {
      provider,
      name: `${namePrefix}-backup`,
      rule: [
        {
          ruleName: "backup-table",
          // The lock, not only the vault: a job started before the lock exists would escape it.
          targetVaultName: this.lock.backupVaultName,
          schedule: settings.schedule,
          lifecycle: { deleteAfter: settings.retentionDays },
        },
      ],
    });
    const arn = (service: string, resource: string) => `arn:${options.partition}:${service}:${options.region}:${options.accountId}:${resource}`;
    const role = (roleId: string, roleName: string, grants: Grant[]) =>
      new ServiceRole(this, roleId, { provider, roleName: `${namePrefix}-${roleName}`, servicePrincipal: "backup.amazonaws.com", sourceAccount: options.accountId, grants });
    this.backupRole = role("backup-role", "vault-backup", vaultBackupGrants({ table, vault: this.vault, recoveryPointArns: arn("backup", "recovery-point:*") }));
    this.restoreRole = role("restore-role", "vault-restore", vaultRestoreGrants({ table, tableArn: (name) => arn("dynamodb", `table/${name}`) }));
    this.selection = new BackupSelection(this, "selection", {
      provider,
      name: `${namePrefix}-backup-table`,
      planId: this.plan.id,
      iamRoleArn: this.backupRole.role.arn,
      resources: [table.arn],
    });
  }
}
