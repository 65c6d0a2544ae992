/**
 * backupTable.vault: AWS Backup of the backup table into a locked vault. Off unless the setting is
 * present (`{}` turns it on with the defaults below).
 */
import { z } from "zod";
import { int, oneOf } from "./fields";

/**
 * The bound moto enforces on a lock's retention (the AWS pages read here state none): a retention of
 * more than a century is a typo, better refused at synth than found in a lock.
 */
const MAX_DAYS = 36500;
/**
 * A compliance lock stays removable for at least 72 hours after it is set (PutBackupVaultLockConfiguration,
 * ChangeableForDays: "minimum value ... is 3"):
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-backup-backupvault-lockconfigurationtype.html
 */
const MIN_CHANGEABLE_DAYS = 3;
const DEFAULT_SCHEDULE = "cron(0 1 * * ? *)";

const changeableDaysError = `must be a whole number from ${MIN_CHANGEABLE_DAYS} to ${MAX_DAYS}: AWS Backup keeps a compliance lock removable for at least 72 hours`;

/** AWS Backup's schedule: a cron expression of six fields, as EventBridge writes them. */
const backupSchedule = z
  .string({ error: `must be a cron expression of six fields such as ${DEFAULT_SCHEDULE}` })
  .regex(/^cron\(\S+( \S+){5}\)$/, { error: `must be a cron expression of six fields such as ${DEFAULT_SCHEDULE}` });

const vaultLock = z
  .strictObject({
    /** governance: removable by a principal allowed to; compliance: immutable once changeableForDays have passed. */
    mode: oneOf(["governance", "compliance"]).default("governance").meta({
      description:
        "`governance` (whoever may call `backup:DeleteBackupVaultLockConfiguration` can remove the lock) or `compliance` (after `changeableForDays` nobody can, root included: the lock, and every recovery point until its retention ends, can never be removed; the vault can only be destroyed once it is empty)",
      defaultText: "`governance`",
    }),
    /** Compliance only: days the lock can still be removed; after them it is irreversible. */
    changeableForDays: z
      .number({ error: changeableDaysError })
      .int({ error: changeableDaysError })
      .min(MIN_CHANGEABLE_DAYS, { error: changeableDaysError })
      .max(MAX_DAYS, { error: changeableDaysError })
      .optional()
      .meta({ description: `with \`mode\` \`compliance\`, required: ${MIN_CHANGEABLE_DAYS}–${MAX_DAYS}, the days after the apply during which the lock can still be changed or removed. **Irreversible after that**` }),
    minRetentionDays: int(1, MAX_DAYS).default(7).meta({
      description: `1–${MAX_DAYS}: no recovery point can be deleted (or given a shorter retention) before this many days`,
      defaultText: "`7`",
    }),
    maxRetentionDays: int(1, MAX_DAYS).default(365).meta({
      description: `1–${MAX_DAYS}, at least \`minRetentionDays\`: no recovery point may be kept longer`,
      defaultText: "`365`",
    }),
  })
  .prefault({});

export const vaultSettings = z
  .strictObject({
    schedule: backupSchedule.default(DEFAULT_SCHEDULE).meta({
      description: "a cron expression of six fields, in UTC (default: daily at 01:00)",
      defaultText: `\`${DEFAULT_SCHEDULE}\``,
    }),
    retentionDays: int(1, MAX_DAYS).default(35).meta({
      description: "days each recovery point is kept, within `lock.minRetentionDays` – `lock.maxRetentionDays` (AWS Backup fails a backup job outside them)",
      defaultText: "`35`",
    }),
    lock: vaultLock,
  })
  .optional()
  .meta({
    description:
      "off unless present; `{}` turns it on with the defaults below: an AWS Backup vault with a vault lock, in the backup table's account and region, and a plan that backs up the backup table into it (see [The AWS Backup vault](operations.md#the-aws-backup-vault-backuptablevault))",
    defaultText: "off",
    section: true,
  });

export type VaultSettings = NonNullable<z.output<typeof vaultSettings>>;

/**
 * The lock's mode and window, and a retention the lock accepts: AWS Backup would fail every backup job
 * of a plan whose retention lies outside the lock's (https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html).
 */
export function checkVault(env: { backupTable: { vault?: VaultSettings } }, ctx: z.RefinementCtx): void {
  const vault = env.backupTable.vault;
  if (!vault) return;
  const at = (...path: string[]) => ["backupTable", "vault", ...path];
  const { mode, changeableForDays, minRetentionDays, maxRetentionDays } = vault.lock;
  if (mode === "compliance" && changeableForDays === undefined) {
    ctx.addIssue({
      code: "custom",
      path: at("lock", "changeableForDays"),
      input: undefined,
      message: `is required with backupTable.vault.lock.mode "compliance": the days (${MIN_CHANGEABLE_DAYS} to ${MAX_DAYS}) during which the lock can still be removed; after them it can never be changed or removed`,
    });
  }
  if (mode === "governance" && changeableForDays !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: at("lock", "changeableForDays"),
      input: changeableForDays,
      message: 'applies only with backupTable.vault.lock.mode "compliance" (a lock with it becomes irreversible once the days have passed; a governance lock stays removable)',
    });
  }
  if (maxRetentionDays < minRetentionDays) {
    ctx.addIssue({ code: "custom", path: at("lock", "maxRetentionDays"), input: maxRetentionDays, message: `must be at least backupTable.vault.lock.minRetentionDays (${minRetentionDays})` });
  } else if (vault.retentionDays < minRetentionDays || vault.retentionDays > maxRetentionDays) {
    ctx.addIssue({
      code: "custom",
      path: at("retentionDays"),
      input: vault.retentionDays,
      message: `must lie within the vault lock's retention, backupTable.vault.lock.minRetentionDays (${minRetentionDays}) to backupTable.vault.lock.maxRetentionDays (${maxRetentionDays}): AWS Backup fails a backup job whose retention is outside them`,
    });
  }
}
