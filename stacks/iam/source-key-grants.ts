import type { Grant } from "./grant";

/**
 * kms:Decrypt on an existing source table's customer-managed key, through DynamoDB only: the stream
 * reads of the function and the table reads of the jobs are decrypted on the caller's behalf.
 */
export function sourceKeyGrants(region: string, keyArn: string | undefined): Grant[] {
  if (!keyArn) return [];
  return [
    {
      sid: "DecryptSourceTable",
      actions: ["kms:Decrypt"],
      resources: [keyArn],
      conditions: [{ test: "StringEquals", variable: "kms:ViaService", values: [`dynamodb.${region}.amazonaws.com`] }],
    },
  ];
}
