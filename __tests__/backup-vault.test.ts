/**
 * backupTable.vault: AWS Backup of the backup table into a locked vault. Off by default; on, the vault,
 * its lock, a plan with one rule and a selection of exactly the backup table, with the roles AWS Backup
 * backs up and restores with, on exact ARNs; the configuration's mistakes fail at synth.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { App, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ConfigError, parseProjectConfig } from "../stacks/config/load";
import type { EnvironmentInput } from "../stacks/config/schema";
import { TableVault } from "../stacks/constructs/table-vault";
import { policyDocuments, type PolicyStatement } from "./helpers/iam";
import { validateTerraformJson } from "./helpers/provider-schema";
import { PROJECT_ROOT, ref, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

const BACKUP_TYPES = ["aws_backup_vault", "aws_backup_vault_lock_configuration", "aws_backup_plan", "aws_backup_selection"];
const VAULT_OUTPUTS = ["backup_vault_name", "backup_vault_arn", "backup_plan_id", "vault_backup_role_arn", "vault_restore_role_arn"];
const ACCOUNT = "${data.aws_caller_identity.account.account_id}";
const PARTITION = "${data.aws_partition.partition.partition}";

const statementsOf = (stack: SynthesizedStack, policy: string): PolicyStatement[] => policyDocuments(stack.json)[/aws_iam_policy_document\.([^.]+)\.json/.exec(policy)![1]];
const roleOf = (stack: SynthesizedStack, role: "backup-role" | "restore-role") => ({
  role: stack.find("aws_iam_role", `vault/${role}/role`),
  permissions: statementsOf(stack, stack.find("aws_iam_role_policy", `vault/${role}/policy`).body.policy),
});

test("without backupTable.vault there is no AWS Backup resource, role or output", () => {
  const stack = synthesizeEnvironment();
  for (const type of BACKUP_TYPES) expect({ type, resources: stack.all(type) }).toEqual({ type, resources: {} });
  expect(Object.keys(stack.all("aws_iam_role"))).toHaveLength(6); // the function and the five jobs
  for (const output of VAULT_OUTPUTS) expect(stack.json.output[output]).toBeUndefined();
});

describe("backupTable.vault with its defaults", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({ backupTable: { vault: {} } });
  });

  test("validates against the AWS provider schema", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
  });

  test("a vault under AWS Backup's own key, with a governance lock of 7 to 365 days", () => {
    const vault = stack.one("aws_backup_vault");
    expect(vault.body).toMatchObject({ name: "api-pagos-replication-backup-vault" });
    expect(vault.body.kms_key_arn).toBeUndefined();
    const lock = stack.one("aws_backup_vault_lock_configuration").body;
    expect(lock).toMatchObject({ backup_vault_name: ref("aws_backup_vault", vault.name, "name"), min_retention_days: 7, max_retention_days: 365 });
    // Governance: no changeable_for_days, or the lock would become irreversible.
    expect(lock.changeable_for_days).toBeUndefined();
  });

  test("a plan backs up daily into the vault, through its lock, and keeps each recovery point 35 days", () => {
    const lock = stack.one("aws_backup_vault_lock_configuration").name;
    expect(stack.one("aws_backup_plan").body).toMatchObject({
      name: "api-pagos-replication-backup",
      rule: [{ rule_name: "backup-table", schedule: "cron(0 1 * * ? *)", lifecycle: { delete_after: 35 }, target_vault_name: ref("aws_backup_vault_lock_configuration", lock, "backup_vault_name") }],
    });
  });

  test("the selection names exactly the backup table, with the backup role", () => {
    const backup = stack.find("aws_dynamodb_table", "tables/backup").name;
    expect(stack.one("aws_backup_selection").body).toMatchObject({
      name: "api-pagos-replication-backup-table",
      plan_id: ref("aws_backup_plan", stack.one("aws_backup_plan").name, "id"),
      iam_role_arn: ref("aws_iam_role", roleOf(stack, "backup-role").role.name, "arn"),
      resources: [ref("aws_dynamodb_table", backup, "arn")],
    });
    expect(stack.one("aws_backup_selection").body.selection_tag).toBeUndefined();
  });

  test("both roles admit AWS Backup only on behalf of this account", () => {
    for (const role of ["backup-role", "restore-role"] as const) {
      const { role: iamRole } = roleOf(stack, role);
      expect(statementsOf(stack, iamRole.body.assume_role_policy)).toEqual([
        {
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: ["backup.amazonaws.com"] }],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [ACCOUNT] }],
        },
      ]);
      expect(iamRole.body.managed_policy_arns).toBeUndefined();
    }
    expect(stack.all("aws_iam_role_policy_attachment")).toEqual({});
  });

  test("the backup role: AWS Backup's DynamoDB calls on the backup table, its backups and the vault, nothing else", () => {
    const table = ref("aws_dynamodb_table", stack.find("aws_dynamodb_table", "tables/backup").name, "arn");
    expect(roleOf(stack, "backup-role").permissions).toEqual([
      { sid: "BackUpTable", effect: "Allow", actions: ["dynamodb:CreateBackup", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource", "dynamodb:StartAwsBackupJob"], resources: [table] },
      { sid: "ManageTableBackups", effect: "Allow", actions: ["dynamodb:DeleteBackup", "dynamodb:DescribeBackup"], resources: [`${table}/backup/*`] },
      { sid: "DescribeVault", effect: "Allow", actions: ["backup:DescribeBackupVault"], resources: [ref("aws_backup_vault", stack.one("aws_backup_vault").name, "arn")] },
      { sid: "TagRecoveryPoints", effect: "Allow", actions: ["backup:TagResource"], resources: [`arn:${PARTITION}:backup:us-east-1:${ACCOUNT}:recovery-point:*`] },
    ]);
  });

  test("the restore role writes only new tables named <backup>-restore-*, never the source or the backup", () => {
    const backup = stack.find("aws_dynamodb_table", "tables/backup").name;
    const { permissions } = roleOf(stack, "restore-role");
    expect(permissions).toEqual([
      expect.objectContaining({ sid: "RestoreIntoNewTables", resources: [`arn:${PARTITION}:dynamodb:us-east-1:${ACCOUNT}:table/${ref("aws_dynamodb_table", backup, "name")}-restore-*`] }),
      { sid: "RestoreTableBackups", effect: "Allow", actions: ["dynamodb:RestoreTableFromBackup"], resources: [`${ref("aws_dynamodb_table", backup, "arn")}/backup/*`] },
    ]);
    expect(permissions[0].actions).toContain("dynamodb:RestoreTableFromAwsBackup");
    const tables = Object.keys(stack.all("aws_dynamodb_table")).map((name) => ref("aws_dynamodb_table", name, "arn"));
    for (const statement of permissions) for (const resource of statement.resources ?? []) expect(tables).not.toContain(resource);
  });

  test("the outputs the runbook reads", () => {
    expect(stack.json.output).toMatchObject({
      backup_vault_name: { value: ref("aws_backup_vault", stack.one("aws_backup_vault").name, "name") },
      backup_vault_arn: { value: ref("aws_backup_vault", stack.one("aws_backup_vault").name, "arn") },
      backup_plan_id: { value: ref("aws_backup_plan", stack.one("aws_backup_plan").name, "id") },
      vault_backup_role_arn: { value: ref("aws_iam_role", roleOf(stack, "backup-role").role.name, "arn") },
      vault_restore_role_arn: { value: ref("aws_iam_role", roleOf(stack, "restore-role").role.name, "arn") },
    });
  });

  test("the review diagram draws the backup table backed up into the vault", () => {
    const review = fs.readFileSync(path.join(stack.dir, "REVIEW.md"), "utf8");
    expect(review).toMatch(/n_aws_dynamodb_table_tables_backup_\w+ -->\|"AWS Backup, cron\(0 1 \* \* \? \*\)"\| n_aws_backup_vault_vault_\w+/);
  });
});

describe("backupTable.vault in compliance mode, under the customer-managed key", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({
      encryption: { customerManagedKey: true },
      backupTable: { vault: { schedule: "cron(0 4 ? * SUN *)", retentionDays: 400, lock: { mode: "compliance", changeableForDays: 3, minRetentionDays: 365, maxRetentionDays: 3650 } } },
    });
  });

  test("validates against the AWS provider schema", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
  });

  test("the lock becomes irreversible after changeable_for_days; the vault is under the stack's key", () => {
    const key = ref("aws_kms_key", stack.one("aws_kms_key").name, "arn");
    expect(stack.one("aws_backup_vault").body.kms_key_arn).toBe(key);
    expect(stack.one("aws_backup_vault_lock_configuration").body).toMatchObject({ changeable_for_days: 3, min_retention_days: 365, max_retention_days: 3650 });
    expect(stack.one("aws_backup_plan").body.rule[0]).toMatchObject({ schedule: "cron(0 4 ? * SUN *)", lifecycle: { delete_after: 400 } });
  });

  test("the key policy lets the two vault roles use the key through DynamoDB and AWS Backup only, and the deployer create the vault", () => {
    const statements = statementsOf(stack, stack.one("aws_kms_key").body.policy);
    const roles = ["backup-role", "restore-role"].map((role) => ref("aws_iam_role", roleOf(stack, role as "backup-role").role.name, "arn"));
    const via = { test: "StringEquals", variable: "kms:ViaService", values: ["dynamodb.us-east-1.amazonaws.com", "backup.us-east-1.amazonaws.com"] };
    expect(statements.find((s) => s.sid === "AwsBackupUsesKey")).toMatchObject({ principals: [{ type: "AWS", identifiers: roles }], actions: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], resources: ["*"], condition: [via] });
    expect(statements.find((s) => s.sid === "AwsBackupGrantsKeyToServices")).toMatchObject({
      principals: [{ type: "AWS", identifiers: roles }],
      actions: ["kms:CreateGrant"],
      condition: [{ test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }],
    });
    expect(statements.find((s) => s.sid === "CreateEncryptedResources")!.condition![0].values).toContain("backup.us-east-1.amazonaws.com");
    // The pipeline's own roles keep to DynamoDB, S3 and SQS.
    expect(statements.find((s) => s.sid === "PipelineRolesUseData")!.condition![0].values).not.toContain("backup.us-east-1.amazonaws.com");
    // No KMS in the roles' own policies: the key policy names them.
    for (const role of ["backup-role", "restore-role"] as const) for (const s of roleOf(stack, role).permissions) expect((s.actions ?? []).filter((a) => a.startsWith("kms:"))).toEqual([]);
  });
});

test("the vault's resources can live in another account: each is created with the provider it is given", () => {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "vault-provider-")) });
  const stack = new TerraformStack(app, "two-accounts");
  new AwsProvider(stack, "aws", { region: "us-east-1" });
  const backupAccount = new AwsProvider(stack, "backup-account", { region: "eu-west-1", alias: "backup", assumeRole: [{ roleArn: "arn:aws:iam::222222222222:role/deploy" }] });
  const settings = parseProjectConfig({ environments: { e: { backupTable: { vault: {} } } } }).environments.e.backupTable.vault!;
  new TableVault(stack, "vault", {
    settings,
    namePrefix: "payments",
    table: { name: "api-pos-backup", arn: "arn:aws:dynamodb:eu-west-1:222222222222:table/api-pos-backup" },
    partition: "aws",
    region: "eu-west-1",
    accountId: "222222222222",
    provider: backupAccount,
  });
  app.synth();
  const tf = JSON.parse(fs.readFileSync(path.join(app.outdir, "stacks", "two-accounts", "cdk.tf.json"), "utf8"));
  const blocks = [...Object.values(tf.resource as Record<string, Record<string, any>>), ...Object.values(tf.data as Record<string, Record<string, any>>)].flatMap((byName) => Object.values(byName));
  expect(blocks.length).toBe(12);
  for (const block of blocks) expect({ path: block["//"].metadata.path, provider: block.provider }).toEqual({ path: block["//"].metadata.path, provider: "aws.backup" });
});

describe("backupTable.vault settings are validated at synth", () => {
  const reject = (vault: NonNullable<EnvironmentInput["backupTable"]>["vault"]) => () => parseProjectConfig({ environments: { prod: { backupTable: { vault } } } }, "replication.config.json");
  test.each<[string, NonNullable<EnvironmentInput["backupTable"]>["vault"], string]>([
    ["a retention under the lock's minimum", { retentionDays: 3 }, "backupTable.vault.retentionDays = 3: must lie within the vault lock's retention, backupTable.vault.lock.minRetentionDays (7) to backupTable.vault.lock.maxRetentionDays (365)"],
    ["a retention over the lock's maximum", { retentionDays: 400, lock: { maxRetentionDays: 365 } }, "backupTable.vault.retentionDays = 400: must lie within the vault lock's retention, backupTable.vault.lock.minRetentionDays (7) to backupTable.vault.lock.maxRetentionDays (365)"],
    ["a compliance lock without changeableForDays", { lock: { mode: "compliance" } }, 'backupTable.vault.lock.changeableForDays: is required with backupTable.vault.lock.mode "compliance"'],
    ["changeableForDays under AWS Backup's 72 hours", { lock: { mode: "compliance", changeableForDays: 2 } }, "backupTable.vault.lock.changeableForDays = 2: must be a whole number from 3 to 36500: AWS Backup keeps a compliance lock removable for at least 72 hours"],
    ["changeableForDays on a governance lock", { lock: { changeableForDays: 7 } }, 'backupTable.vault.lock.changeableForDays = 7: applies only with backupTable.vault.lock.mode "compliance"'],
    ["a lock mode AWS Backup does not have", { lock: { mode: "strict" as "governance" } }, 'backupTable.vault.lock.mode = "strict": must be one of "governance", "compliance"'],
    ["a minimum retention of 0 days", { lock: { minRetentionDays: 0 } }, "backupTable.vault.lock.minRetentionDays = 0: must be a whole number from 1 to 36500"],
    ["a maximum under the minimum", { retentionDays: 10, lock: { minRetentionDays: 10, maxRetentionDays: 5 } }, "backupTable.vault.lock.maxRetentionDays = 5: must be at least backupTable.vault.lock.minRetentionDays (10)"],
    ["a schedule that is no cron expression", { schedule: "daily" }, 'backupTable.vault.schedule = "daily": must be a cron expression of six fields such as cron(0 1 * * ? *)'],
    ["a cron expression of five fields", { schedule: "cron(0 1 * * ?)" }, 'backupTable.vault.schedule = "cron(0 1 * * ?)": must be a cron expression of six fields'],
    ["an unknown setting", { lock: { mode: "governance", days: 3 } as never }, 'backupTable.vault.lock: unknown setting "days"'],
  ])("%s", (_label, vault, message) => {
    expect(reject(vault)).toThrow(ConfigError);
    expect(reject(vault)).toThrow(`environments.prod.${message}`);
  });
});

describe("the documentation of the vault", () => {
  const doc = (file: string) => fs.readFileSync(path.join(PROJECT_ROOT, "docs", file), "utf8");

  test("docs/security.md's IAM table lists every action of the two vault roles on their rows", () => {
    const stack = synthesizeEnvironment({ backupTable: { vault: {} } });
    const table = doc("security.md").split("\n").filter((line) => line.startsWith("|"));
    for (const [role, row] of [["backup-role", "vault-backup"], ["restore-role", "vault-restore"]] as const) {
      const start = table.findIndex((line) => line.startsWith(`| ${row} `));
      expect({ row, start: start >= 0 }).toEqual({ row, start: true });
      const next = table.findIndex((line, i) => i > start && !line.startsWith("| |"));
      const rows = table.slice(start, next < 0 ? undefined : next).join("\n");
      for (const action of roleOf(stack, role).permissions.flatMap((s) => s.actions ?? [])) {
        expect({ row, action, listed: rows.includes(action.split(":")[1]) }).toEqual({ row, action, listed: true });
      }
    }
  });

  test("docs/operations.md's runbook reads only outputs the stack has", () => {
    const stack = synthesizeEnvironment({ backupTable: { vault: {} } });
    const section = doc("operations.md").split("## The AWS Backup vault")[1]?.split("\n## ")[0] ?? "";
    const named = [...section.matchAll(/\$\(out ([a-z_]+)\)/g)].map((match) => match[1]);
    expect(named).toEqual(expect.arrayContaining(VAULT_OUTPUTS.filter((output) => output !== "backup_vault_arn" && output !== "backup_plan_id")));
    for (const output of new Set(named)) expect({ output, exists: output in stack.json.output }).toEqual({ output, exists: true });
  });
});
