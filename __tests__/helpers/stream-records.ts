/**
 * DynamoDB Streams records from REAL writes: a dynalite server (DynamoDB API, in memory), raw
 * JSON 1.0 requests to it (PutItem / UpdateItem / DeleteItem with ReturnValues), and a recorder
 * that turns each write that changed an item into the stream record AWS would deliver to Lambda
 * for a NEW_AND_OLD_IMAGES stream (same fields, same nesting, increasing sequence numbers).
 *
 * Reusable: the end-to-end test points the handler at the same kind of servers and feeds it the
 * recorded events.
 */
import { createHash } from "node:crypto";
import { startDynalite, type LocalDynamo } from "./local-dynamodb";

/** Typed attribute value as DynamoDB's JSON protocol and stream records carry it. */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { M: Item }
  | { L: AttributeValue[] }
  | { BOOL: boolean }
  | { NULL: true };
export type Item = { [name: string]: AttributeValue };

export type StreamEventName = "INSERT" | "MODIFY" | "REMOVE";

/** One record of a DynamoDB stream event as Lambda delivers it. */
export interface StreamRecord {
  eventID: string;
  eventName: StreamEventName;
  eventVersion: string;
  eventSource: "aws:dynamodb";
  awsRegion: string;
  dynamodb: {
    ApproximateCreationDateTime: number;
    Keys: Item;
    NewImage?: Item;
    OldImage?: Item;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: "NEW_AND_OLD_IMAGES";
  };
  eventSourceARN: string;
}

export interface StreamEvent {
  Records: StreamRecord[];
}

// ---------------------------------------------------------------------------------------------
// dynalite: started by local-dynamodb.ts (re-exported here for the tests that import it from here)

export { startDynalite, type LocalDynamo };

// ---------------------------------------------------------------------------------------------
// item size (DynamoDB's documented sizing, which is what SizeBytes of a stream record sums)

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8");

function numberSize(n: string): number {
  // up to 38 significant digits, 1 byte per two of them, plus 1; leading/trailing zeros trimmed
  const digits = n.replace(/^[-+]/, "").replace(/[eE].*$/, "").replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

export function attributeValueSize(value: AttributeValue): number {
  if ("S" in value) return utf8Length(value.S);
  if ("N" in value) return numberSize(value.N);
  if ("B" in value) return Buffer.from(value.B, "base64").length;
  if ("SS" in value) return value.SS.reduce((sum, s) => sum + utf8Length(s), 0);
  if ("NS" in value) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if ("BS" in value) return value.BS.reduce((sum, b) => sum + Buffer.from(b, "base64").length, 0);
  if ("M" in value) return 3 + itemSize(value.M);
  if ("L" in value) return 3 + value.L.reduce((sum, v) => sum + 1 + attributeValueSize(v), 0);
  return 1; // BOOL, NULL
}

export function itemSize(item: Item): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8Length(name) + attributeValueSize(value), 0);
}

// ---------------------------------------------------------------------------------------------
// table + recorder

export type KeyType = "S" | "N" | "B";
export interface KeySchema {
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey?: { readonly name: string; readonly type: KeyType };
}

export async function createTable(ddb: LocalDynamo, tableName: string, schema: KeySchema): Promise<void> {
  const keys = [schema.partitionKey, ...(schema.sortKey ? [schema.sortKey] : [])];
  await ddb.call("CreateTable", {
    TableName: tableName,
    AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
    KeySchema: keys.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? "HASH" : "RANGE" })),
    BillingMode: "PAY_PER_REQUEST",
    StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
  });
  // Even with createTableMs 0 the table turns ACTIVE on a timer: wait for it.
  for (let attempt = 0; ; attempt += 1) {
    const { Table } = await ddb.call<{ Table: { TableStatus: string } }>("DescribeTable", { TableName: tableName });
    if (Table.TableStatus === "ACTIVE") return;
    if (attempt > 100) throw new Error(`table ${tableName} is still ${Table.TableStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface RecorderOptions {
  readonly tableName: string;
  readonly schema: KeySchema;
  readonly region?: string;
  readonly accountId?: string;
  /** Stream label (the timestamp at the end of the stream ARN). */
  readonly streamLabel?: string;
  /** First sequence number; later records get larger ones. */
  readonly firstSequenceNumber?: bigint;
}

/** Deterministic JSON (sorted object members): a test oracle, independent of the handler's own. */
export const canonical = (value: unknown): string =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? `{${Object.keys(value as object)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
        .join(",")}}`
    : Array.isArray(value)
      ? `[${value.map(canonical).join(",")}]`
      : JSON.stringify(value);

/**
 * Performs writes on a dynalite table and records, for every write that changed the item, the
 * stream record DynamoDB Streams would emit (a write that leaves the item unchanged emits none).
 */
export class StreamRecorder {
  readonly records: StreamRecord[] = [];
  readonly region: string;
  readonly eventSourceARN: string;
  private nextSequence: bigint;

  constructor(
    private readonly ddb: LocalDynamo,
    private readonly options: RecorderOptions,
  ) {
    this.region = options.region ?? "us-east-1";
    this.eventSourceARN = `arn:aws:dynamodb:${this.region}:${options.accountId ?? "123456789012"}:table/${options.tableName}/stream/${options.streamLabel ?? "2024-06-10T19:26:16.525"}`;
    // Real sequence numbers are long decimal strings that increase within a shard.
    this.nextSequence = options.firstSequenceNumber ?? 100000000000000000000n;
  }

  keyOf(item: Item): Item {
    const { partitionKey, sortKey } = this.options.schema;
    const key: Item = {};
    for (const k of [partitionKey, ...(sortKey ? [sortKey] : [])]) {
      const value = item[k.name];
      if (value === undefined) throw new Error(`item has no key attribute ${k.name}`);
      key[k.name] = value;
    }
    return key;
  }

  /** PutItem (ReturnValues ALL_OLD, then a consistent GetItem for the new image): INSERT, or MODIFY when it changed the item. */
  async put(item: Item): Promise<StreamRecord | undefined> {
    const { Attributes: old } = await this.ddb.call<{ Attributes?: Item }>("PutItem", {
      TableName: this.options.tableName,
      Item: item,
      ReturnValues: "ALL_OLD",
    });
    // The stream carries the item as stored (numbers normalized, ...), not as sent: read it back.
    const key = this.keyOf(item);
    const { Item: stored } = await this.ddb.call<{ Item?: Item }>("GetItem", { TableName: this.options.tableName, Key: key, ConsistentRead: true });
    return this.record(key, old, stored);
  }

  /** UpdateItem (ReturnValues ALL_NEW), after a consistent GetItem for the old image. */
  async update(
    key: Item,
    updateExpression: string,
    values?: Record<string, AttributeValue>,
    names?: Record<string, string>,
  ): Promise<StreamRecord | undefined> {
    const { Item: old } = await this.ddb.call<{ Item?: Item }>("GetItem", { TableName: this.options.tableName, Key: key, ConsistentRead: true });
    const { Attributes: now } = await this.ddb.call<{ Attributes?: Item }>("UpdateItem", {
      TableName: this.options.tableName,
      Key: key,
      UpdateExpression: updateExpression,
      ...(values ? { ExpressionAttributeValues: values } : {}),
      ...(names ? { ExpressionAttributeNames: names } : {}),
      ReturnValues: "ALL_NEW",
    });
    return this.record(this.keyOf(key), old, now);
  }

  /** DeleteItem (ReturnValues ALL_OLD): REMOVE when an item was there. */
  async delete(key: Item): Promise<StreamRecord | undefined> {
    const { Attributes: old } = await this.ddb.call<{ Attributes?: Item }>("DeleteItem", {
      TableName: this.options.tableName,
      Key: key,
      ReturnValues: "ALL_OLD",
    });
    return this.record(this.keyOf(key), old, undefined);
  }

  /** The recorded records (or the given ones) as one Lambda event. */
  event(records: StreamRecord[] = this.records): StreamEvent {
    return { Records: records };
  }

  private record(keys: Item, oldImage: Item | undefined, newImage: Item | undefined): StreamRecord | undefined {
    if (oldImage === undefined && newImage === undefined) return undefined;
    if (oldImage !== undefined && newImage !== undefined && canonical(oldImage) === canonical(newImage)) return undefined;
    const eventName: StreamEventName = oldImage === undefined ? "INSERT" : newImage === undefined ? "REMOVE" : "MODIFY";
    const sequenceNumber = this.nextSequence.toString();
    this.nextSequence += 100n;
    const record: StreamRecord = {
      eventID: createHash("md5").update(`${this.eventSourceARN}/${sequenceNumber}`).digest("hex"),
      eventName,
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: this.region,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
        Keys: keys,
        ...(newImage ? { NewImage: newImage } : {}),
        ...(oldImage ? { OldImage: oldImage } : {}),
        SequenceNumber: sequenceNumber,
        SizeBytes: itemSize(keys) + (newImage ? itemSize(newImage) : 0) + (oldImage ? itemSize(oldImage) : 0),
        StreamViewType: "NEW_AND_OLD_IMAGES",
      },
      eventSourceARN: this.eventSourceARN,
    };
    this.records.push(record);
    return record;
  }
}

/** Starts dynalite, creates a stream-enabled table, and returns a recorder on it. */
export async function startRecordedTable(
  tableName: string,
  schema: KeySchema,
  options: Omit<RecorderOptions, "tableName" | "schema"> = {},
): Promise<{ ddb: LocalDynamo; recorder: StreamRecorder }> {
  const ddb = await startDynalite();
  await createTable(ddb, tableName, schema);
  return { ddb, recorder: new StreamRecorder(ddb, { tableName, schema, ...options }) };
}
