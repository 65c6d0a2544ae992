/**
 * Changes for the end-to-end test: seeded random items of every DynamoDB type and random
 * inserts / modifies / deletes, written to the source table through the StreamRecorder (real
 * writes to dynalite; each write that changed an item is one stream record).
 */
import type { AttributeValue, Item, KeySchema, KeyType, StreamRecorder } from "../../local-aws/stream-records";

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base64 = (bytes: number[]): string => Buffer.from(bytes).toString("base64");

function keyValue(type: KeyType, n: number): AttributeValue {
  if (type === "N") return { N: String(n) }; // DynamoDB's normalized form, as the stream carries it
  if (type === "B") return { B: base64([n >> 8, n & 255, 0, 255]) };
  return { S: `key-${n}-ñ` };
}

/** The i-th key of a table; with a sort key, 8 sort values per partition value. */
export function keyAt(schema: KeySchema, i: number): Item {
  if (schema.sortKey === undefined) return { [schema.partitionKey.name]: keyValue(schema.partitionKey.type, i) };
  return {
    [schema.partitionKey.name]: keyValue(schema.partitionKey.type, Math.floor(i / 8)),
    [schema.sortKey.name]: keyValue(schema.sortKey.type, i % 8),
  };
}

/** Attributes of every type, values varied by `random` (edge values included now and then). */
export function randomAttributes(random: () => number): Item {
  const int = (max: number): number => Math.floor(random() * max);
  const pick = <T>(values: readonly T[]): T => values[int(values.length)]!;
  const distinct = (count: number, make: (i: number) => string): string[] => [...new Set(Array.from({ length: count }, (_, i) => make(i)))];
  const item: Item = {
    status: { S: pick(["PENDING", "PAID", "REFUNDED", "", "héllo ✓ \u{1F4B3}"]) },
    amount: { N: pick(["0", "-1", "12345678901234567890123456789012345678", "0.000000000000000000000000000000000001", String(int(1e6) / 100)]) },
    raw: { B: base64(Array.from({ length: int(40) }, () => int(256))) },
    tags: { SS: distinct(1 + int(4), (i) => `t${i}-${int(50)}`) },
    codes: { NS: distinct(1 + int(4), (i) => String(i * 1000 + int(1000))) },
    blobs: { BS: distinct(1 + int(3), (i) => base64([i, int(256), int(256)])) },
    detail: { M: { card: { M: { last4: { S: String(1000 + int(9000)) }, ok: { BOOL: random() < 0.5 } } }, list: { L: [{ N: String(int(100)) }, { S: "x" }, { NULL: true }] } } },
    history: { L: Array.from({ length: int(4) }, () => ({ M: { at: { N: String(1700000000 + int(1e6)) }, by: { S: pick(["api", "batch"]) } } })) },
    flag: { BOOL: random() < 0.5 },
    nothing: { NULL: true },
  };
  if (random() < 0.3) delete item.history;
  if (random() < 0.01) item.note = { S: "n".repeat(4000 + int(8000)) }; // a larger item now and then
  return item;
}

/**
 * Writes random changes (insert, modify by put or update, delete) until `changes` stream records
 * were made. Up to `concurrency` writes run at once, always on distinct keys, so each key's
 * records stay in the order of its writes (as in a stream shard).
 */
export async function writeRandomChanges(
  recorder: StreamRecorder,
  schema: KeySchema,
  options: { changes: number; keys: number; random: () => number; concurrency?: number },
): Promise<void> {
  const { random } = options;
  const target = recorder.records.length + options.changes;
  const change = async (key: Item): Promise<unknown> => {
    const roll = random();
    // A write to an absent key inserts; a delete of an absent key makes no record (the loop goes on).
    if (roll < 0.2) return recorder.delete(key, { read: false });
    if (roll < 0.55) {
      return recorder.update(key, "SET amount = :a, #s = :s ADD tags :t REMOVE nothing", {
        ":a": { N: String(Math.floor(random() * 1e9)) },
        ":s": { S: `updated-${Math.floor(random() * 100)}` },
        ":t": { SS: [`u${Math.floor(random() * 10)}`] },
      }, { "#s": "status" }, { read: false });
    }
    return recorder.put({ ...key, ...randomAttributes(random) }, { read: false });
  };
  while (recorder.records.length < target) {
    // Each write makes at most one record: never more writes at once than records still wanted.
    const width = Math.min(options.concurrency ?? 1, target - recorder.records.length);
    const indexes = new Set<number>();
    while (indexes.size < width) indexes.add(Math.floor(random() * options.keys));
    await Promise.all([...indexes].map((i) => change(keyAt(schema, i))));
    await recorder.sync();
  }
}
