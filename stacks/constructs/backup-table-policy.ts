import { Op, type TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import type { DynamodbResourcePolicy } from "@cdktf/provider-aws/lib/dynamodb-resource-policy";
import { HclSafeDynamodbResourcePolicy } from "./hcl-safe-dynamodb-resource-policy";
import type { TableReference } from "./replicated-tables";

/** One role of the source account and what its code calls on the backup table. */
export interface BackupTableUser {
  /** The statement's id: letters and digits. */
  readonly sid: string;
  readonly roleArn: string;
  readonly actions: string[];
}

export interface BackupTablePolicyOptions {
  /** The backup table, in another account. */
  readonly table: TableReference;
  /** The source's account, whose principals reach the table across accounts. */
  readonly sourceAccountId: string;
  /** The backup's account (backupTable.assumeRoleArn's): the plan fails if the source turns out to be it. */
  readonly backupAccountId: string;
  readonly partition: string;
  readonly users: BackupTableUser[];
  /** The provider of the table's account. */
  readonly provider: TerraformProvider;
}

/**
 * What destroys a backup: the table, the protections Terraform set on it (deletion protection through
 * UpdateTable, point-in-time recovery, a TTL that would expire items), and the policy itself.
 */
export const DESTRUCTIVE_TABLE_ACTIONS = [
  "dynamodb:DeleteResourcePolicy",
  "dynamodb:DeleteTable",
  "dynamodb:PutResourcePolicy",
  "dynamodb:UpdateContinuousBackups",
  "dynamodb:UpdateTable",
  "dynamodb:UpdateTimeToLive",
];
/** The ways to delete an item: BatchWriteItem is authorized as itself, whatever its requests do. */
export const ITEM_DELETIONS = ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PartiQLDelete"];

/**
 * The resource-based policy of a backup table in another account. Cross-account calls need an allow in
 * both the caller's identity policy and the table's policy
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-auth-iam-id-based-policies-DDB.html),
 * so it allows each role of the pipeline exactly what that role's own policy grants on the table. Its
 * denies hold whatever the source account's policies say: no principal of the source account may destroy
 * the table or its protections, and none may delete items but the roles whose code does (under mirror).
 */
export class BackupTablePolicy extends Construct {
  public readonly policy: DynamodbResourcePolicy;

  constructor(scope: Construct, id: string, options: BackupTablePolicyOptions) {
    super(scope, id);
    const { table, provider } = options;
    const sourceAccount = [{ type: "AWS", identifiers: [`arn:${options.partition}:iam::${options.sourceAccountId}:root`] }];
    const fromSourceAccount = { test: "StringEquals", variable: "aws:PrincipalAccount", values: [options.sourceAccountId] };
    const anyone = [{ type: "AWS", identifiers: ["*"] }];
    const deleters = options.users.filter((user) => user.actions.some((action) => ITEM_DELETIONS.includes(action))).map((user) => user.roleArn);
    const statements: DataAwsIamPolicyDocumentStatement[] = [
      // The account as principal, narrowed to the role by aws:PrincipalArn: a role ARN as principal must
      // already be visible to DynamoDB when the policy is put (a role created in the same apply may not be
      // yet: hashicorp/terraform-provider-aws#42933), and turns into the role's unique id if the role is
      // ever recreated; a condition is compared by name at each request.
      ...options.users.map((user) => ({
        sid: user.sid,
        effect: "Allow",
        principals: sourceAccount,
        actions: [...user.actions].sort(),
        resources: [table.arn],
        condition: [{ test: "ArnEquals", variable: "aws:PrincipalArn", values: [user.roleArn] }],
      })),
      { sid: "SourceAccountNeverDestroysTheBackup", effect: "Deny", principals: anyone, actions: DESTRUCTIVE_TABLE_ACTIONS, resources: [table.arn], condition: [fromSourceAccount] },
      {
        sid: "SourceAccountNeverDeletesItems",
        effect: "Deny",
        principals: anyone,
        actions: ITEM_DELETIONS,
        resources: [table.arn],
        condition: [fromSourceAccount, ...(deleters.length ? [{ test: "ArnNotEquals", variable: "aws:PrincipalArn", values: deleters }] : [])],
      },
    ];
    const document = new DataAwsIamPolicyDocument(this, "document", { provider, statement: statements });
    this.policy = new HclSafeDynamodbResourcePolicy(this, "policy", {
      provider,
      resourceArn: table.arn,
      policy: document.json,
      lifecycle: {
        precondition: [
          {
            // Its denies name the source's account: in the backup's own, they would bind its deployer.
            condition: Op.neq(options.sourceAccountId, options.backupAccountId),
            errorMessage: `backupTable.assumeRoleArn must be a role of another account than the source's: the source's provider acts in ${options.backupAccountId} too.`,
          },
        ],
      },
    });
  }
}
