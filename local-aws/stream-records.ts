/**
 * DynamoDB Streams records from REAL writes: writes to a table of AWS's DynamoDB Local
 * (PutItem / UpdateItem / DeleteItem), and the records its DynamoDB Streams API emits for them,
 * read shard by shard the way Lambda's event source mapping reads a stream (DescribeStream,
 * GetShardIterator at TRIM_HORIZON, GetRecords, then the child shards of a closed shard). Each
 * record is given the eventSourceARN Lambda adds (the stream ARN), and is otherwise as the
 * stream sent it. Nothing here builds a record: a test that needs a malformed one writes it out.
 */
import { randomBytes } from "node:crypto";
import { dynamoDbLocal, type LocalDynamo } from "./local-dynamodb";

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
  /** Set on deletes by TTL (on AWS: type Service, principalId dynamodb.amazonaws.com). */
  userIdentity?: { type: string; principalId: string };
  eventSourceARN: string;
}

export interface StreamEvent {
  Records: StreamRecord[];
}

export type { LocalDynamo };

// ---------------------------------------------------------------------------------------------
// table + recorder

export type KeyType = "S" | "N" | "B";
export interface KeySchema {
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey?: { readonly name: string; readonly type: KeyType };
}

/** A table name no other test of the run uses (the run shares one DynamoDB Local). */
export function uniqueTableName(base: string): string {
  return `${base}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Creates a table with a NEW_AND_OLD_IMAGES stream; returns its stream ARN once the table is ACTIVE. */
export async function createTable(ddb: LocalDynamo, tableName: string, schema: KeySchema): Promise<string> {
  const keys = [schema.partitionKey, ...(schema.sortKey ? [schema.sortKey] : [])];
  const { TableDescription } = await ddb.call<{ TableDescription: { LatestStreamArn: string } }>("CreateTable", {
    TableName: tableName,
    AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
    KeySchema: keys.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? "HASH" : "RANGE" })),
    BillingMode: "PAY_PER_REQUEST",
    StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
  });
  for (let attempt = 0; ; attempt += 1) {
    const { Table } = await ddb.call<{ Table: { TableStatus: string } }>("DescribeTable", { TableName: tableName });
    if (Table.TableStatus === "ACTIVE") return TableDescription.LatestStreamArn;
    if (attempt > 100) throw new Error(`table ${tableName} is still ${Table.TableStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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

interface GetRecordsOutput {
  Records: Omit<StreamRecord, "eventSourceARN">[];
  NextShardIterator?: string | null;
}

interface Shard {
  ShardId: string;
  ParentShardId?: string;
}

/**
 * Reads a stream as the event source mapping does: every shard from TRIM_HORIZON, a parent shard
 * to its end before its children, records in shard order. poll() returns the records that arrived
 * since the last poll (with eventSourceARN set); polls never overlap.
 */
export class StreamReader {
  /** Open iterators of shards being read; null once a shard is closed and read to its end. */
  private readonly iterators = new Map<string, string | null>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The shards as last described, while none of them is closed. */
  private known: Shard[] | undefined;

  constructor(
    private readonly ddb: LocalDynamo,
    readonly streamArn: string,
  ) {}

  poll(): Promise<StreamRecord[]> {
    const next = this.queue.then(() => this.read());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async firstIterator(shardId: string): Promise<string> {
    const { ShardIterator } = await this.ddb.streams<{ ShardIterator: string }>("GetShardIterator", {
      StreamArn: this.streamArn,
      ShardId: shardId,
      ShardIteratorType: "TRIM_HORIZON",
    });
    return ShardIterator;
  }

  private async shards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.ddb.streams<{ StreamDescription: { Shards: Shard[]; LastEvaluatedShardId?: string } }>("DescribeStream", {
        StreamArn: this.streamArn,
        ...(start ? { ExclusiveStartShardId: start } : {}),
      });
      shards.push(...StreamDescription.Shards);
      start = StreamDescription.LastEvaluatedShardId;
    } while (start);
    return shards;
  }

  private async read(): Promise<StreamRecord[]> {
    const records: StreamRecord[] = [];
    // The shard list changes only when a shard closes: described again then (and at the start).
    const shards = this.known?.some((shard) => this.iterators.get(shard.ShardId) === null) === false ? this.known : await this.shards();
    this.known = shards;
    const known = new Set(shards.map((shard) => shard.ShardId));
    // A shard is read once its parent is read to the end (or the parent has aged out of the stream).
    const ready = (shard: Shard): boolean =>
      shard.ParentShardId === undefined || !known.has(shard.ParentShardId) || this.iterators.get(shard.ParentShardId) === null;
    for (let progress = true; progress; ) {
      progress = false;
      for (const shard of shards) {
        if (this.iterators.get(shard.ShardId) === null || !ready(shard)) continue;
        let iterator: string = this.iterators.get(shard.ShardId) ?? (await this.firstIterator(shard.ShardId));
        for (;;) {
          const page: GetRecordsOutput = await this.ddb.streams<GetRecordsOutput>("GetRecords", { ShardIterator: iterator });
          for (const record of page.Records) records.push({ ...record, eventSourceARN: this.streamArn } as StreamRecord);
          if (!page.NextShardIterator) {
            this.iterators.set(shard.ShardId, null); // closed and read to its end: its children come next
            progress = true;
            break;
          }
          iterator = page.NextShardIterator;
          if (page.Records.length === 0) {
            this.iterators.set(shard.ShardId, iterator); // open shard, nothing more for now
            break;
          }
        }
      }
    }
    return records;
  }
}

export interface WriteOptions {
  /** Read the stream after the write and return its record (default true). */
  readonly read?: boolean;
}

export interface RecorderOptions {
  readonly tableName: string;
  readonly schema: KeySchema;
  readonly streamArn: string;
}

/**
 * Writes to a DynamoDB Local table, and collects the records its stream emits (a write that
 * leaves the item unchanged emits none).
 */
export class StreamRecorder {
  readonly records: StreamRecord[] = [];
  readonly tableName: string;
  readonly eventSourceARN: string;
  readonly reader: StreamReader;

  constructor(
    private readonly ddb: LocalDynamo,
    private readonly options: RecorderOptions,
  ) {
    this.tableName = options.tableName;
    this.eventSourceARN = options.streamArn;
    this.reader = new StreamReader(ddb, options.streamArn);
  }

  /** Creates the table (with its stream) and a recorder on it. */
  static async create(ddb: LocalDynamo, tableName: string, schema: KeySchema): Promise<StreamRecorder> {
    return new StreamRecorder(ddb, { tableName, schema, streamArn: await createTable(ddb, tableName, schema) });
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

  /**
   * PutItem; the stream's record for it (INSERT, or MODIFY when it changed the item). With
   * `read: false` the stream is not read (call sync() after a group of writes).
   */
  async put(item: Item, { read = true }: WriteOptions = {}): Promise<StreamRecord | undefined> {
    await this.ddb.call("PutItem", { TableName: this.tableName, Item: item });
    return read ? this.collect(this.keyOf(item)) : undefined;
  }

  /** UpdateItem; the stream's record for it (see put for `read`). */
  async update(
    key: Item,
    updateExpression: string,
    values?: Record<string, AttributeValue>,
    names?: Record<string, string>,
    { read = true }: WriteOptions = {},
  ): Promise<StreamRecord | undefined> {
    await this.ddb.call("UpdateItem", {
      TableName: this.tableName,
      Key: key,
      UpdateExpression: updateExpression,
      ...(values ? { ExpressionAttributeValues: values } : {}),
      ...(names ? { ExpressionAttributeNames: names } : {}),
    });
    return read ? this.collect(this.keyOf(key)) : undefined;
  }

  /** DeleteItem; the stream's REMOVE record when an item was there (see put for `read`). */
  async delete(key: Item, { read = true }: WriteOptions = {}): Promise<StreamRecord | undefined> {
    await this.ddb.call("DeleteItem", { TableName: this.tableName, Key: key });
    return read ? this.collect(this.keyOf(key)) : undefined;
  }

  /** Reads what the stream has emitted since the last read into `records`; returns those records. */
  async sync(): Promise<StreamRecord[]> {
    const fresh = await this.reader.poll();
    this.records.push(...fresh);
    return fresh;
  }

  /** The recorded records (or the given ones) as one Lambda event. */
  event(records: StreamRecord[] = this.records): StreamEvent {
    return { Records: records };
  }

  /** The newest record of `key` among those the stream emitted since the last read. */
  private async collect(key: Item): Promise<StreamRecord | undefined> {
    const id = canonical(key);
    return (await this.sync()).filter((record) => canonical(record.dynamodb.Keys) === id).pop();
  }
}

/** A new stream-enabled table (uniquely named after `baseName`) in the run's DynamoDB Local, and a recorder on it. */
export async function startRecordedTable(baseName: string, schema: KeySchema): Promise<{ ddb: LocalDynamo; recorder: StreamRecorder }> {
  const ddb = await dynamoDbLocal();
  try {
    return { ddb, recorder: await StreamRecorder.create(ddb, uniqueTableName(baseName), schema) };
  } catch (error) {
    await ddb.close();
    throw error;
  }
}
