import type { Grant } from "./grant";

const viaDynamoDb = (region: string) => [{ test: "StringEquals", variable: "kms:ViaService", values: [`dynamodb.${region}.amazonaws.com`] }];

/**
 * kms:Decrypt on an existing source table's customer-managed key, through DynamoDB only: the stream
 * reads of the function and the table reads of the jobs are decrypted on the caller's behalf.
 */
export function sourceKeyGrants(region: string, keyArn: string | undefined): Grant[] {
  if (!keyArn) return [];
  return [{ sid: "DecryptSourceTable", actions: ["kms:Decrypt"], resources: [keyArn], conditions: viaDynamoDb(region) }];
}

/**
 * The backup table's own key, in its account and region, through DynamoDB there only. A key of another
 * account needs the caller's identity policy as well as the key policy: "Cross-account access requires
 * permission in the key policy of the KMS key and in an IAM policy in the external user's account"
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
 */
export function backupKeyGrants(region: string, keyArn: string | undefined): Grant[] {
  if (!keyArn) return [];
  return [{ sid: "UseBackupTableKey", actions: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], resources: [keyArn], conditions: viaDynamoDb(region) }];
}
