/** The stream-record builder (helpers/stream-records.ts) against real writes and AWS's own events. */
import * as fs from "node:fs";
import * as path from "node:path";
import { STREAM_EVENTS_DIR } from "./helpers/reference";
import { itemSize, startRecordedTable, type Item, type LocalDynamo, type StreamRecord, type StreamRecorder } from "./helpers/stream-records";

const EVENTS_DIR = STREAM_EVENTS_DIR;
type AnyRecord = Record<string, unknown> & { eventName: string; dynamodb: Record<string, unknown> };
const readRecords = (name: string): AnyRecord[] => (JSON.parse(fs.readFileSync(path.join(EVENTS_DIR, name), "utf8")) as { Records: AnyRecord[] }).Records;
const docsExample = readRecords("aws-docs-example.json");
// AWS's events with every event name and ApproximateCreationDateTime (aws-lambda-go testdata).
const withAllEventNames = readRecords("aws-lambda-go_dynamodb-time-window-event.json");

const fieldTypes = (object: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.keys(object).sort().map((k) => [k, Array.isArray(object[k]) ? "array" : typeof object[k]]));

const ALL_TYPES: Item = {
  id: { S: "all-types" },
  s: { S: "héllo ✓" },
  n: { N: "-12345678901234567890.123456789012345678" },
  b: { B: Buffer.from([0, 1, 2, 255]).toString("base64") },
  ss: { SS: ["a", "b"] },
  ns: { NS: ["1", "2.5"] },
  bs: { BS: [Buffer.from("x").toString("base64"), Buffer.from("y").toString("base64")] },
  m: { M: { inner: { L: [{ N: "1" }, { S: "two" }, { NULL: true }] }, flag: { BOOL: false } } },
  l: { L: [{ M: { k: { SS: ["z"] } } }, { BOOL: true }] },
  yes: { BOOL: true },
  nothing: { NULL: true },
};

let ddb: LocalDynamo;
let recorder: StreamRecorder;
beforeAll(async () => {
  ({ ddb, recorder } = await startRecordedTable("api-pagos", { partitionKey: { name: "id", type: "S" } }));
});
afterAll(() => ddb.close());

describe("records built from real writes", () => {
  let insert: StreamRecord, modify: StreamRecord, remove: StreamRecord;
  beforeAll(async () => {
    insert = (await recorder.put(ALL_TYPES))!;
    modify = (await recorder.update({ id: { S: "all-types" } }, "SET #n = :n REMOVE nothing", { ":n": { N: "7.50" } }, { "#n": "n" }))!;
    remove = (await recorder.delete({ id: { S: "all-types" } }))!;
  });

  test("INSERT, MODIFY, REMOVE with the images each carries", () => {
    expect([insert.eventName, modify.eventName, remove.eventName]).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    expect(insert.dynamodb.OldImage).toBeUndefined();
    expect(remove.dynamodb.NewImage).toBeUndefined();
    expect(modify.dynamodb.OldImage).toEqual(insert.dynamodb.NewImage);
    expect(modify.dynamodb.NewImage?.n).toEqual({ N: "7.5" }); // normalized by the server, as DynamoDB does
    expect(modify.dynamodb.NewImage?.nothing).toBeUndefined();
    expect(remove.dynamodb.OldImage).toEqual(modify.dynamodb.NewImage);
    for (const record of [insert, modify, remove]) expect(record.dynamodb.Keys).toEqual({ id: { S: "all-types" } });
  });

  test("images carry every attribute type as stored", () => {
    const image = insert.dynamodb.NewImage!;
    const types = new Set(Object.values(image).flatMap((value) => Object.keys(value)));
    expect([...types].sort()).toEqual(["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"]);
    expect(image).toEqual(ALL_TYPES); // nothing changed on the way (these values are already normalized)
  });

  test.each(["INSERT", "MODIFY", "REMOVE"])("%s has the same fields (and field types) as AWS's records", (eventName) => {
    const built = { INSERT: insert, MODIFY: modify, REMOVE: remove }[eventName] as unknown as AnyRecord;
    const aws = withAllEventNames.find((r) => r.eventName === eventName)!;
    expect(fieldTypes(built)).toEqual(fieldTypes(aws));
    expect(fieldTypes(built.dynamodb)).toEqual(fieldTypes(aws.dynamodb));
    // The documentation example has the same record fields (it omits ApproximateCreationDateTime).
    const docs = docsExample.find((r) => r.eventName === eventName);
    if (docs) {
      expect(Object.keys(built).sort()).toEqual(Object.keys(docs).sort());
      expect(Object.keys(built.dynamodb).filter((k) => k !== "ApproximateCreationDateTime").sort()).toEqual(Object.keys(docs.dynamodb).sort());
    }
    expect(built).toMatchObject({ eventVersion: "1.1", eventSource: "aws:dynamodb", dynamodb: { StreamViewType: "NEW_AND_OLD_IMAGES" } });
    expect(built.eventSourceARN).toMatch(/^arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table\/api-pagos\/stream\/.+$/);
  });

  test("sequence numbers increase", () => {
    const sequence = [insert, modify, remove].map((r) => BigInt(r.dynamodb.SequenceNumber));
    expect(sequence[0]! < sequence[1]! && sequence[1]! < sequence[2]!).toBe(true);
  });

  test("writes that change nothing produce no record", async () => {
    const before = recorder.records.length;
    await recorder.put({ id: { S: "same" }, v: { N: "1" } });
    expect(await recorder.put({ id: { S: "same" }, v: { N: "1.0" } })).toBeUndefined();
    expect(await recorder.delete({ id: { S: "never-written" } })).toBeUndefined();
    expect(recorder.records.length).toBe(before + 1);
  });
});

test("SizeBytes follows DynamoDB's item sizing: it reproduces the AWS documentation example", () => {
  for (const record of docsExample) {
    const d = record.dynamodb as { Keys: Item; NewImage?: Item; OldImage?: Item; SizeBytes: number };
    expect(itemSize(d.Keys) + (d.NewImage ? itemSize(d.NewImage) : 0) + (d.OldImage ? itemSize(d.OldImage) : 0)).toBe(d.SizeBytes);
  }
});
