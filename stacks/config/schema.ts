import { z } from "zod";
import { accountSettings, checkProviderVersion } from "./account-settings";
import { alarmSettings, checkAlarmThresholds } from "./alarm-settings";
import { backendSettings } from "./backend-settings";
import { encryptionSettings } from "./encryption-settings";
import { checkApplyTimeBudget, checkLambdaEnvironment, checkRestoreDrill, checkRestoreTargets, replicationSettings } from "./replication-settings";
import { backupPlacement, checkBackupAccount, checkRetainedAttribute, checkSourceTableKey, checkTables, checkTransform, keyAttributeNames, tableSettings } from "./table-settings";
import { checkVault } from "./vault-settings";

/**
 * The configuration of one environment (one Terraform stack). Every setting has a default, so an
 * empty object `{}` is a complete configuration: the seed's tables `api-pagos` -> `api-pos-backup`
 * in us-east-1. Documented setting by setting in docs/configuration.md, generated from the descriptions here.
 */
export const environmentSchema = z
  .strictObject({
    ...accountSettings,
    ...backendSettings,
    ...tableSettings,
    ...encryptionSettings,
    ...alarmSettings,
    ...replicationSettings,
  })
  // The checks across settings, in the order their messages are listed.
  .superRefine((env, ctx) => {
    const keys = keyAttributeNames(env.sourceTable);
    checkTables(env, keys, ctx);
    checkApplyTimeBudget(env, ctx);
    checkSourceTableKey(env, ctx);
    checkAlarmThresholds(env, ctx);
    checkLambdaEnvironment(env, ctx);
    checkTransform(env, keys, ctx);
    checkRetainedAttribute(env, keys, ctx);
    checkProviderVersion(env, ctx);
    checkRestoreTargets(env, ctx);
    checkVault(env, ctx);
    checkBackupAccount(env, ctx);
    checkRestoreDrill(env, ctx);
  });

export type EnvironmentInput = z.input<typeof environmentSchema>;
export type EnvironmentConfig = z.output<typeof environmentSchema>;

export const projectConfigSchema = z
  .strictObject({
    /** One stack per environment, keyed by the stack name. */
    environments: z
      .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,63}$/, { error: "must be a stack name of letters, digits and '-'" }), environmentSchema)
      .refine((envs) => Object.keys(envs).length > 0, { error: "must declare at least one environment" })
      .default({ "api-pagos-replication": environmentSchema.parse({}) }),
  })
  .superRefine(({ environments }, ctx) => {
    const names = Object.keys(environments);
    for (const [i, a] of names.entries()) {
      for (const b of names.slice(i + 1)) {
        const [x, y] = [environments[a], environments[b]];
        const separateAccounts = x.allowedAccountIds && y.allowedAccountIds && !x.allowedAccountIds.some((id) => y.allowedAccountIds!.includes(id));
        if (separateAccounts) continue;
        const clash = (setting: string, value: string, why: string) =>
          ctx.addIssue({
            code: "custom",
            path: ["environments", b, ...setting.split(".")],
            input: value,
            message: `is also used by environment "${a}" in ${x.region}: ${why} (use another name, or set allowedAccountIds to keep them in separate accounts)`,
          });
        // IAM role names and CloudWatch dashboards ("global, not region-specific", PutDashboard) are
        // account-wide, so the prefix that names them clashes whatever the regions.
        if (x.namePrefix === y.namePrefix) {
          const why = x.region === y.region ? "two stacks would manage the same resources" : "its IAM roles and its CloudWatch dashboard are named account-wide";
          clash("namePrefix", x.namePrefix, why);
        }
        const [backupX, backupY] = [backupPlacement(x), backupPlacement(y)];
        if (x.backupTable.name === y.backupTable.name && backupX.region === backupY.region && backupX.accountId === backupY.accountId) {
          clash("backupTable.name", x.backupTable.name, "two stacks would manage the same backup table");
        }
        if (x.region !== y.region) continue;
        if (x.sourceTable.name === y.sourceTable.name) clash("sourceTable.name", x.sourceTable.name, "two stacks would manage the same resources");
      }
    }
  });

export type ProjectConfigInput = z.input<typeof projectConfigSchema>;
export type ProjectConfig = z.output<typeof projectConfigSchema>;
