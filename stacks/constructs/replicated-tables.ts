import { Construct } from "constructs";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import type { EnvironmentConfig, KeyAttribute } from "../config/schema";

export interface ReplicatedTablesOptions {
  readonly sourceTable: EnvironmentConfig["sourceTable"];
  readonly backupTable: EnvironmentConfig["backupTable"];
  readonly deletionProtection: boolean;
  /** Customer-managed key; without one DynamoDB encrypts with an AWS-owned key. */
  readonly kmsKeyArn?: string;
}

/** The source table (stream on, new and old images) and the backup table with the same key schema. */
export class ReplicatedTables extends Construct {
  public readonly source: DynamodbTable;
  public readonly backup: DynamodbTable;

  constructor(scope: Construct, id: string, options: ReplicatedTablesOptions) {
    super(scope, id);
    const { partitionKey, sortKey } = options.sourceTable;
    const keys: KeyAttribute[] = sortKey ? [partitionKey, sortKey] : [partitionKey];
    const common = {
      billingMode: "PAY_PER_REQUEST",
      hashKey: partitionKey.name,
      rangeKey: sortKey?.name,
      attribute: keys.map((key) => ({ name: key.name, type: key.type })),
      pointInTimeRecovery: { enabled: true },
      // DynamoDB always encrypts at rest; the block only chooses a customer-managed key.
      serverSideEncryption: options.kmsKeyArn ? { enabled: true, kmsKeyArn: options.kmsKeyArn } : undefined,
      deletionProtectionEnabled: options.deletionProtection,
    };
    const { ttlAttribute } = options.sourceTable;
    const ttl = ttlAttribute ? { attributeName: ttlAttribute, enabled: true } : undefined;
    this.source = new DynamodbTable(this, "source", {
      ...common,
      name: options.sourceTable.name,
      streamEnabled: true,
      streamViewType: "NEW_AND_OLD_IMAGES",
      ttl,
    });
    this.backup = new DynamodbTable(this, "backup", {
      ...common,
      name: options.backupTable.name,
      ttl: options.backupTable.expireWithSource ? ttl : undefined,
    });
  }
}
