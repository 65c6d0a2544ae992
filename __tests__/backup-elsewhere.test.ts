/**
 * backupTable.region and backupTable.assumeRoleArn: the backup table (its key, point-in-time recovery and
 * deletion protection, the vault) created through a provider of the backup's account and region, the
 * pipeline's roles left in the source account, and, across accounts, the table's resource-based policy:
 * each role allowed exactly what its own policy grants on the table, and the source account's principals
 * denied what would destroy it. Evaluated statement by statement (helpers/iam.ts), not read as text.
 */
import { ConfigError, parseProjectConfig } from "../stacks/config/load";
import type { EnvironmentInput } from "../stacks/config/schema";
import { DESTRUCTIVE_TABLE_ACTIONS, ITEM_DELETIONS } from "../stacks/constructs/backup-table-policy";
import { renderReviewSummary } from "../stacks/review/render-summary";
import { permissionsOf, policyDocuments, resourcePolicyDecision, type PolicyStatement } from "./helpers/iam";
import { validateTerraformJson } from "./helpers/provider-schema";
import { ref, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";
import { BACKUP_OTHER_ACCOUNT, BACKUP_OTHER_REGION } from "./helpers/variants";

const SOURCE_ACCOUNT = "${data.aws_caller_identity.account.account_id}";
const BACKUP_ACCOUNT = "200000000010";
const BOTH: EnvironmentInput = { ...BACKUP_OTHER_ACCOUNT, backupTable: { ...BACKUP_OTHER_ACCOUNT.backupTable, region: "eu-west-1", vault: {} } };
const JOBS = ["apply-changes", "full-copy", "verify", "restore", "restore-drill"];

const documentOf = (stack: SynthesizedStack, reference: string): PolicyStatement[] => policyDocuments(stack.json)[/aws_iam_policy_document\.([^.]+)\.json/.exec(reference)![1]];
const roleArn = (stack: SynthesizedStack, job: string) => ref("aws_iam_role", stack.find("aws_iam_role", `jobs/${job}/role/role`).name, "arn");
const backupArn = (stack: SynthesizedStack) => ref("aws_dynamodb_table", stack.find("aws_dynamodb_table", "tables/backup").name, "arn");
/** What a job's own policy grants on the backup table. */
const grantedOnBackup = (stack: SynthesizedStack, job: string) =>
  new Set(
    permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name)
      .filter((s) => s.resources?.includes(backupArn(stack)))
      .flatMap((s) => s.actions ?? []),
  );
const configError = (input: EnvironmentInput) => {
  try {
    parseProjectConfig({ environments: { test: input } });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
};

describe("the settings are checked at synth, naming the setting and what it takes", () => {
  test.each([
    ["a region that is not one", { backupTable: { region: "europe" } }, 'backupTable.region = "europe": must be an AWS region name such as us-east-1 or eu-west-3'],
    ["a user, not a role", { backupTable: { assumeRoleArn: "arn:aws:iam::200000000010:user/deployer" } }, "backupTable.assumeRoleArn = \"arn:aws:iam::200000000010:user/deployer\": must be the ARN of an IAM role (arn:aws:iam::<12-digit account>:role/<name>)"],
    ["an account id that is not one", { backupTable: { assumeRoleArn: "arn:aws:iam::2000:role/deployer" } }, "must be the ARN of an IAM role"],
    [
      "a role of the source's own account",
      { allowedAccountIds: ["200000000010"], backupTable: { assumeRoleArn: "arn:aws:iam::200000000010:role/deployer" } },
      "backupTable.assumeRoleArn = \"arn:aws:iam::200000000010:role/deployer\": must be a role of another account than the source's (allowedAccountIds: 200000000010)",
    ],
  ])("%s", (_label, input, message) => {
    expect(configError(input as EnvironmentInput)).toContain(message);
  });

  test("two environments may name the same backup table in different accounts, not in the same one", () => {
    const other = (account: string) => ({ namePrefix: `p${account}`, sourceTable: { name: `s${account}` }, backupTable: { assumeRoleArn: `arn:aws:iam::${account}:role/d` } });
    expect(() => parseProjectConfig({ environments: { a: other("200000000001"), b: other("200000000002") } })).not.toThrow();
    expect(() => parseProjectConfig({ environments: { a: other("200000000001"), b: { ...other("200000000001"), namePrefix: "q1" } } })).toThrow(
      'environments.b.backupTable.name = "api-pos-backup": is also used by environment "a" in us-east-1: two stacks would manage the same backup table',
    );
  });
});

describe("beside the source, nothing changes", () => {
  test("the default and a backupTable.region equal to region synthesize the same Terraform: one provider, no resource policy", () => {
    const plain = synthesizeEnvironment();
    const sameRegion = synthesizeEnvironment({ backupTable: { region: "us-east-1" } });
    expect(sameRegion.json).toEqual(plain.json);
    expect(plain.json.provider.aws).toHaveLength(1);
    expect(plain.all("aws_dynamodb_resource_policy")).toEqual({});
  });
});

describe.each([
  ["another account", BACKUP_OTHER_ACCOUNT, "us-east-1", true],
  ["another region", BACKUP_OTHER_REGION, "us-west-2", false],
  ["another account and region, with the vault", BOTH, "eu-west-1", true],
] as const)("the backup in %s", (_label, input, region, crossAccount) => {
  describe.each(["retain", "mirror"] as const)("under %s", (deletes) => {
    let stack: SynthesizedStack;
    beforeAll(() => {
      stack = synthesizeEnvironment({ ...input, deletes });
    });

    test("validates against the AWS provider schema", () => {
      expect(validateTerraformJson(stack.json)).toEqual([]);
    });

    test("a second provider reaches the backup's account and region; only the backup's own resources use it", () => {
      const [, backup] = stack.json.provider.aws;
      expect(stack.json.provider.aws).toHaveLength(2);
      expect(backup).toMatchObject({ alias: "backup", region });
      if (crossAccount) expect(backup).toMatchObject({ assume_role: [{ role_arn: input.backupTable!.assumeRoleArn }], allowed_account_ids: [BACKUP_ACCOUNT] });
      else expect(backup.assume_role).toBeUndefined();
      const onBackup = Object.entries(stack.json.resource).flatMap(([type, resources]) =>
        Object.entries(resources as Record<string, any>).filter(([, body]) => body.provider === "aws.backup").map(([, body]) => `${type} ${body["//"].metadata.path.split("/").slice(1).join("/")}`),
      );
      const keyed = input.encryption?.customerManagedKey ? ["aws_kms_alias backup-key/alias", "aws_kms_key backup-key/key"] : [];
      const vault = input.backupTable?.vault
        ? ["aws_backup_plan vault/plan", "aws_backup_selection vault/selection", "aws_backup_vault vault/vault", "aws_backup_vault_lock_configuration vault/lock", "aws_iam_role vault/backup-role/role", "aws_iam_role vault/restore-role/role", "aws_iam_role_policy vault/backup-role/policy", "aws_iam_role_policy vault/restore-role/policy"]
        : [];
      const policy = crossAccount ? ["aws_dynamodb_resource_policy backup-table-policy/policy"] : [];
      expect(onBackup.sort()).toEqual(["aws_dynamodb_table tables/backup", ...keyed, ...vault, ...policy].sort());
    });

    test("the backup table keeps point-in-time recovery and deletion protection, under its own key when the data has customer-managed keys", () => {
      const table = stack.find("aws_dynamodb_table", "tables/backup").body;
      expect(table).toMatchObject({ point_in_time_recovery: { enabled: true }, deletion_protection_enabled: true });
      if (input.encryption?.customerManagedKey) {
        expect(table.server_side_encryption).toEqual({ enabled: true, kms_key_arn: ref("aws_kms_key", stack.find("aws_kms_key", "backup-key/key").name, "arn") });
      } else {
        // An AWS-owned key: cross-account access "doesn't support encrypted tables with AWS managed keys" (README).
        expect(table.server_side_encryption).toBeUndefined();
      }
    });

    test("every job names the backup by its ARN, and the drill still makes its tables in the source's account and region", () => {
      for (const job of JOBS) {
        const body = stack.find("aws_glue_job", `jobs/${job}/job`).body;
        const args = { ...body.default_arguments, ...body.non_overridable_arguments };
        expect([job, args["--backup_table"]]).toEqual([job, backupArn(stack)]);
      }
      const drill = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "jobs/restore-drill/role/policy").name).find((s) => s.sid === "RestoreIntoDrillTables")!;
      expect(drill.resources).toEqual([`arn:\${data.aws_partition.partition.partition}:dynamodb:us-east-1:${SOURCE_ACCOUNT}:table/api-pos-backup-restore-drill-*`]);
    });

    if (input.encryption?.customerManagedKey) {
      test("the backup's key: every role that calls the table may use it through DynamoDB in the backup's region, in its key policy and its own", () => {
        const keyPolicy = documentOf(stack, stack.find("aws_kms_key", "backup-key/key").body.policy);
        const users = keyPolicy.find((s) => s.sid === "PipelineRolesUseData")!;
        expect(users.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: [`dynamodb.${region}.amazonaws.com`] }]);
        for (const job of JOBS) {
          expect([job, users.principals![0].identifiers.includes(roleArn(stack, job))]).toEqual([job, true]);
          const own = permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name).find((s) => s.sid === "UseBackupTableKey");
          expect([job, own?.resources, own?.condition]).toEqual([job, [ref("aws_kms_key", stack.find("aws_kms_key", "backup-key/key").name, "arn")], users.condition]);
        }
        // The change-trigger never calls the backup.
        expect(users.principals![0].identifiers).toHaveLength(JOBS.length);
      });
    }

    if (!crossAccount) {
      test("in the same account, no resource policy: the roles' own policies reach the table", () => {
        expect(stack.all("aws_dynamodb_resource_policy")).toEqual({});
      });
      return;
    }

    describe("the table's resource-based policy", () => {
      let statements: PolicyStatement[];
      const ask = (principalArn: string, action: string, principalAccount = SOURCE_ACCOUNT) =>
        resourcePolicyDecision(statements, { principalArn, principalAccount, action, resource: backupArn(stack) });
      beforeAll(() => {
        const policy = stack.one("aws_dynamodb_resource_policy").body;
        expect(policy.resource_arn).toBe(backupArn(stack));
        statements = documentOf(stack, policy.policy);
      });

      test("allows each role exactly what its own policy grants on the table, and nothing else", () => {
        const everyAction = [...new Set([...JOBS.flatMap((job) => [...grantedOnBackup(stack, job)]), ...DESTRUCTIVE_TABLE_ACTIONS, ...ITEM_DELETIONS, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"])];
        for (const job of JOBS) {
          const allowed = everyAction.filter((action) => ask(roleArn(stack, job), action) === "Allow").sort();
          expect([job, allowed]).toEqual([job, [...grantedOnBackup(stack, job)].sort()]);
        }
        expect(everyAction.filter((action) => ask(`arn:aws:iam::${SOURCE_ACCOUNT}:role/admin`, action) === "Allow")).toEqual([]);
      });

      test("denies every principal of the source account deleting the table, its protections or the policy", () => {
        for (const principal of [...JOBS.map((job) => roleArn(stack, job)), `arn:aws:iam::${SOURCE_ACCOUNT}:role/admin`, `arn:aws:iam::${SOURCE_ACCOUNT}:root`]) {
          expect(DESTRUCTIVE_TABLE_ACTIONS.map((action) => [principal, action, ask(principal, action)])).toEqual(DESTRUCTIVE_TABLE_ACTIONS.map((action) => [principal, action, "Deny"]));
        }
        // The backup account's own principals (its Terraform, its administrators) are not bound by it.
        expect(ask(`arn:aws:iam::${BACKUP_ACCOUNT}:role/backup-deployer`, "dynamodb:UpdateTable", BACKUP_ACCOUNT)).toBe("None");
      });

      test(deletes === "retain" ? "denies every principal of the source account deleting an item" : "lets only the roles whose code deletes items (apply-changes, full-copy, verify's repair) delete them", () => {
        const deleters = deletes === "mirror" ? ["apply-changes", "full-copy", "verify"] : [];
        for (const job of JOBS) {
          const decisions = ITEM_DELETIONS.map((action) => ask(roleArn(stack, job), action));
          const expected = deleters.includes(job) ? ITEM_DELETIONS.map((action) => (grantedOnBackup(stack, job).has(action) ? "Allow" : "None")) : ITEM_DELETIONS.map(() => "Deny");
          expect([job, decisions]).toEqual([job, expected]);
        }
        expect(ITEM_DELETIONS.map((action) => ask(`arn:aws:iam::${SOURCE_ACCOUNT}:role/admin`, action))).toEqual(ITEM_DELETIONS.map(() => "Deny"));
      });

      test("the reviewer's summary lists each role the table lets in from the source account, under what is reachable from outside", () => {
        const summary = renderReviewSummary("test", stack.json as never, () => Buffer.alloc(0));
        const reachable = summary.split("## Reachable from outside the account")[1].split("\n## ")[0];
        for (const job of JOBS) expect([job, reachable.includes(`lets \`${roleArn(stack, job)}\` call`)]).toEqual([job, true]);
      });

      test("names the roles by condition, not as principals, and fails the plan if the source's account is the backup's", () => {
        const body = stack.one("aws_dynamodb_resource_policy").body;
        for (const statement of statements.filter((s) => s.effect !== "Deny")) {
          expect(statement.principals).toEqual([{ type: "AWS", identifiers: [`arn:\${data.aws_partition.partition.partition}:iam::${SOURCE_ACCOUNT}:root`] }]);
          expect(statement.condition?.map((c) => [c.test, c.variable])).toEqual([["ArnEquals", "aws:PrincipalArn"]]);
        }
        expect(body.lifecycle.precondition).toEqual([
          { condition: `\${(${SOURCE_ACCOUNT.slice(2, -1)} != "${BACKUP_ACCOUNT}")}`, error_message: expect.stringContaining("backupTable.assumeRoleArn must be a role of another account than the source's") },
        ]);
      });

      test("stays under DynamoDB's 20 KB for a resource policy, with the longest ARNs the names allow", () => {
        // Each token as long as what it stands for can be: a role ARN with a 64-character name, a table ARN of 255.
        const longest = JSON.stringify(statements)
          .replace(/\$\{aws_iam_role\.[^}]+\}/g, `arn:aws-us-gov:iam::123456789012:role/${"r".repeat(64)}`)
          .replace(/\$\{aws_dynamodb_table\.[^}]+\}/g, `arn:aws-us-gov:dynamodb:ap-southeast-4:123456789012:table/${"t".repeat(255)}`)
          .replace(/\$\{data\.[^}]+\}/g, "123456789012");
        expect(Buffer.byteLength(longest)).toBeLessThan(20 * 1024);
      });
    });
  });
});
