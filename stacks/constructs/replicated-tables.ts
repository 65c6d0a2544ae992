import type { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import type { EnvironmentConfig } from "../config/schema";
import type { KeyAttribute } from "../config/table-settings";
import { HclSafeDataAwsDynamodbTable } from "./hcl-safe-data-dynamodb-table";

export interface ReplicatedTablesOptions {
  readonly sourceTable: EnvironmentConfig["sourceTable"];
  readonly backupTable: EnvironmentConfig["backupTable"];
  readonly deletionProtection: boolean;
  /** Customer-managed key; without one DynamoDB encrypts with an AWS-owned key. */
  readonly kmsKeyArn?: string;
  /** Where the backup table is created, when not beside the source: the provider of its account and region. */
  readonly backupProvider?: TerraformProvider;
  /** The backup table's customer-managed key when it is not kmsKeyArn (a key of the backup's account and region). */
  readonly backupKmsKeyArn?: string;
}

/** What the rest of the stack needs of a table, whether this stack manages it or only reads it. */
export interface TableReference {
  readonly name: string;
  readonly arn: string;
}

/**
 * The source table (stream on, new and old images) and the backup table with the same key schema.
 * An existing source table (`sourceTable.existing`) is only read, and checked at plan time.
 */
export class ReplicatedTables extends Construct {
  public readonly source: TableReference & { readonly streamArn: string };
  public readonly backup: DynamodbTable;
  /** The backup's name and ARN, each read once: a token read twice is two strings, and grants are compared as strings. */
  public readonly backupReference: TableReference;

  constructor(scope: Construct, id: string, options: ReplicatedTablesOptions) {
    super(scope, id);
    const { partitionKey, sortKey, ttlAttribute } = options.sourceTable;
    const keys: KeyAttribute[] = sortKey ? [partitionKey, sortKey] : [partitionKey];
    // DynamoDB always encrypts at rest; the block only chooses a customer-managed key.
    const encryption = (kmsKeyArn?: string) => (kmsKeyArn ? { enabled: true, kmsKeyArn } : undefined);
    const common = {
      billingMode: "PAY_PER_REQUEST",
      hashKey: partitionKey.name,
      rangeKey: sortKey?.name,
      attribute: keys.map((key) => ({ name: key.name, type: key.type })),
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: encryption(options.kmsKeyArn),
      deletionProtectionEnabled: options.deletionProtection,
    };
    const ttl = ttlAttribute ? { attributeName: ttlAttribute, enabled: true } : undefined;
    this.source = options.sourceTable.existing
      ? existingSource(this, options.sourceTable.name, keys, options.sourceTable.kmsKeyArn)
      : new DynamodbTable(this, "source", {
          ...common,
          name: options.sourceTable.name,
          streamEnabled: true,
          streamViewType: "NEW_AND_OLD_IMAGES",
          ttl,
        });
    this.backup = new DynamodbTable(this, "backup", {
      ...common,
      provider: options.backupProvider,
      serverSideEncryption: encryption(options.backupKmsKeyArn ?? options.kmsKeyArn),
      name: options.backupTable.name,
      ttl: options.backupTable.expireWithSource ? ttl : undefined,
    });
    this.backupReference = { name: this.backup.name, arn: this.backup.arn };
  }
}

/**
 * Reads a source table managed elsewhere; plan fails unless it has the configured key and a
 * NEW_AND_OLD_IMAGES stream, and, with sourceTable.kmsKeyArn, unless that is the key it is encrypted with.
 */
/** HCL: the table's attribute definitions give `key` its configured type. */
const typed = (key: KeyAttribute) => `anytrue([for a in self.attribute : a.name == ${JSON.stringify(key.name)} && a.type == ${JSON.stringify(key.type)}])`;

function existingSource(scope: Construct, name: string, keys: KeyAttribute[], kmsKeyArn: string | undefined): HclSafeDataAwsDynamodbTable {
  const [partitionKey, sortKey] = keys;
  const rangeKey = '(self.range_key == null ? "" : self.range_key)';
  return new HclSafeDataAwsDynamodbTable(scope, "source", {
    name,
    lifecycle: {
      postcondition: [
        {
          condition: '${self.stream_enabled && self.stream_view_type == "NEW_AND_OLD_IMAGES"}',
          errorMessage: `Table ${name} must have its stream enabled with view type NEW_AND_OLD_IMAGES to be replicated.`,
        },
        {
          // Names and types: a key of another type would make every replicated write fail.
          condition: `\${self.hash_key == ${JSON.stringify(partitionKey.name)} && ${rangeKey} == ${JSON.stringify(sortKey?.name ?? "")} && ${keys.map(typed).join(" && ")}}`,
          errorMessage: `Table ${name} must have the key of sourceTable.partitionKey and sourceTable.sortKey: ${keys.map((k) => `${k.name} (${k.type})`).join(", ")}.`,
        },
        ...(kmsKeyArn
          ? [
              {
                condition: `\${try(self.server_side_encryption[0].kms_key_arn, "") == ${JSON.stringify(kmsKeyArn)}}`,
                errorMessage: `Table ${name} must be encrypted with sourceTable.kmsKeyArn (${kmsKeyArn}): the function and the jobs are granted that key only.`,
              },
            ]
          : []),
      ],
    },
  });
}
