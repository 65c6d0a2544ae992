import { Lazy, type TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";

export interface PipelineKeyOptions {
  readonly aliasName: string;
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  /** What the key is for, in its description. Default: the replication pipeline named by aliasName. */
  readonly description?: string;
  /** The provider of the key's account and region. Default: the stack's. */
  readonly provider?: TerraformProvider;
  /** The services the data roles use the key through. Default: DynamoDB, S3 and SQS. */
  readonly dataServices?: string[];
}

/** Who uses the key, known once every role of the stack exists. */
export interface PipelineKeyUsers {
  /** Whether the key encrypts the data stores (tables, bucket, queue, logs) or only the alarm topic. */
  readonly encryptsData: boolean;
  /** Roles that read and write the data stores (through DynamoDB, S3 and SQS only). */
  readonly dataRoleArns: string[];
  /** The alarm topic's ARN, built from its name (the topic itself refers to the key). Default: no topic. */
  readonly alarmTopicArn?: string;
  /** Log groups whose events the key encrypts (CloudWatch Logs encryption context). Default: none. */
  readonly logGroupArnPatterns?: string[];
  /** The roles AWS Backup backs up and restores the backup table with (backupTable.vault). Default: none. */
  readonly backupRoleArns?: string[];
}

const ADMINISTRATION = [
  "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
  "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
  "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:RevokeGrant", "kms:ScheduleKeyDeletion",
  "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
];
const ENVELOPE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"];

/**
 * The stack's customer-managed KMS key. It always encrypts the alarm topic (CloudWatch alarms
 * cannot publish to a topic under the AWS-managed SNS key); with `encryptsData` it also encrypts
 * the data stores. Its key policy names exactly the roles and services that use it; "*" as a
 * resource in a key policy means this key.
 */
export class PipelineKey extends Construct {
  public readonly key: KmsKey;
  private policy?: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, private readonly options: PipelineKeyOptions) {
    super(scope, id);
    const { provider } = options;
    this.key = new KmsKey(this, "key", {
      provider,
      description: options.description ?? `Encrypts the ${options.aliasName} replication pipeline`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      // Resolved at synth, after authorize() has named the users (they are created after the key).
      policy: Lazy.stringValue({
        produce: () => {
          if (!this.policy) throw new Error(`${this.node.path}: authorize() was never called; the key has no policy`);
          return this.policy.json;
        },
      }),
    });
    new KmsAlias(this, "alias", { provider, name: `alias/${options.aliasName}`, targetKeyId: this.key.keyId });
  }

  authorize(users: PipelineKeyUsers): void {
    if (this.policy) throw new Error(`${this.node.path}: authorize() may be called once`);
    this.policy = new DataAwsIamPolicyDocument(this, "policy", { provider: this.options.provider, statement: this.statements(users) });
  }

  private statements(users: PipelineKeyUsers): DataAwsIamPolicyDocumentStatement[] {
    const { partition, region, accountId } = this.options;
    const account = `arn:${partition}:iam::${accountId}:root`;
    const viaDataServices = {
      test: "StringEquals",
      variable: "kms:ViaService",
      values: (this.options.dataServices ?? ["dynamodb", "s3", "sqs"]).map((service) => `${service}.${region}.amazonaws.com`),
    };
    const statements: DataAwsIamPolicyDocumentStatement[] = [
      {
        // The account administers the key (through IAM), so it can never become unmanageable.
        sid: "AdministerKey",
        principals: [{ type: "AWS", identifiers: [account] }],
        actions: ADMINISTRATION,
        resources: ["*"],
      },
    ];
    if (users.alarmTopicArn) {
      statements.push({
        sid: "PublishAlarmNotifications",
        principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com", "events.amazonaws.com"] }],
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: ["*"],
        // SNS asks KMS on the publisher's behalf with the topic's ARN as encryption context.
        condition: [{ test: "StringEquals", variable: "kms:EncryptionContext:aws:sns:topicArn", values: [users.alarmTopicArn] }],
      });
    }
    if (!users.encryptsData) return statements;
    const backupRoles = users.backupRoleArns ?? [];
    // AWS Backup asks for the vault's key when a vault is created under it.
    const viaCreatingServices = backupRoles.length ? { ...viaDataServices, values: [...viaDataServices.values, `backup.${region}.amazonaws.com`] } : viaDataServices;
    return [
      ...statements,
      {
        // Whoever applies the stack creates the encrypted tables, bucket objects and queue.
        sid: "CreateEncryptedResources",
        principals: [{ type: "AWS", identifiers: [account] }],
        actions: [...ENVELOPE, "kms:CreateGrant"],
        resources: ["*"],
        condition: [viaCreatingServices, { test: "StringEquals", variable: "kms:CallerAccount", values: [accountId] }],
      },
      {
        sid: "PipelineRolesUseData",
        principals: [{ type: "AWS", identifiers: users.dataRoleArns }],
        actions: ENVELOPE,
        resources: ["*"],
        condition: [viaDataServices],
      },
      ...(users.logGroupArnPatterns?.length
        ? [
            {
              sid: "EncryptLogs",
              principals: [{ type: "Service", identifiers: [`logs.${region}.amazonaws.com`] }],
              actions: [...ENVELOPE, "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
              resources: ["*"],
              condition: [{ test: "ArnLike", variable: "kms:EncryptionContext:aws:logs:arn", values: users.logGroupArnPatterns }],
            },
          ]
        : []),
      ...(backupRoles.length ? awsBackupStatements(backupRoles, region) : []),
    ];
  }
}

/**
 * AWS Backup reads the table and writes its recovery points through DynamoDB (the table's key) and,
 * with advanced DynamoDB backup, through AWS Backup (the vault's key, this same key): the statements
 * KMSDynamoDBPermissions, KMSPermissions and KMSCreateGrantPermissions of AWSBackupServiceRolePolicyForBackup
 * (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSBackupServiceRolePolicyForBackup.html),
 * for these roles only. "Your IAM role must have access to the KMS key being used to back up and
 * restore": https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html.
 */
function awsBackupStatements(roleArns: string[], region: string): DataAwsIamPolicyDocumentStatement[] {
  const principals = [{ type: "AWS", identifiers: roleArns }];
  return [
    {
      sid: "AwsBackupUsesKey",
      principals,
      actions: ENVELOPE,
      resources: ["*"],
      condition: [{ test: "StringEquals", variable: "kms:ViaService", values: [`dynamodb.${region}.amazonaws.com`, `backup.${region}.amazonaws.com`] }],
    },
    {
      // A grant lets the service keep using the key for the restored table or the recovery point.
      sid: "AwsBackupGrantsKeyToServices",
      principals,
      actions: ["kms:CreateGrant"],
      resources: ["*"],
      condition: [{ test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }],
    },
  ];
}
