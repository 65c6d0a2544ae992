/**
 * The stream records the tests feed the pipeline come from AWS's DynamoDB Local (its Streams API,
 * read by local-aws/stream-records.ts): they have the shape of AWS's own events, and the ways
 * DynamoDB Local differs from DynamoDB are shown here, with what the pipeline does about each.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { selectRecords } from "../functions/change-trigger/records";
import { matchesPattern } from "../local-aws/stream-poller";
import { STREAM_EVENTS_DIR } from "./helpers/reference";
import { startRecordedTable, type Item, type LocalDynamo, type StreamRecord, type StreamRecorder } from "../local-aws/stream-records";
import { synthesizeEnvironment } from "./helpers/synth";

type AnyRecord = Record<string, unknown> & { eventName: string; dynamodb: Record<string, unknown> };
const readRecords = (name: string): AnyRecord[] => (JSON.parse(fs.readFileSync(path.join(STREAM_EVENTS_DIR, name), "utf8")) as { Records: AnyRecord[] }).Records;
const docsExample = readRecords("aws-docs-example.json");
// AWS's events with every event name and ApproximateCreationDateTime (aws-lambda-go testdata).
const withAllEventNames = readRecords("aws-lambda-go_dynamodb-time-window-event.json");
// An AWS event with the userIdentity DynamoDB sets on records of TTL deletes.
const withUserIdentity = readRecords("aws-lambda-go_dynamodb-event.json");

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
afterAll(() => ddb?.close());

describe("records of real writes, from DynamoDB Local's stream", () => {
  let insert: StreamRecord, modify: StreamRecord, remove: StreamRecord;
  beforeAll(async () => {
    insert = (await recorder.put(ALL_TYPES))!;
    modify = (await recorder.update({ id: { S: "all-types" } }, "SET #n = :n REMOVE nothing", { ":n": { N: "7.5" } }, { "#n": "n" }))!;
    remove = (await recorder.delete({ id: { S: "all-types" } }))!;
  });

  test("INSERT, MODIFY, REMOVE with the images each carries", () => {
    expect([insert.eventName, modify.eventName, remove.eventName]).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    expect(insert.dynamodb.OldImage).toBeUndefined();
    expect(remove.dynamodb.NewImage).toBeUndefined();
    expect(modify.dynamodb.OldImage).toEqual(insert.dynamodb.NewImage);
    expect(modify.dynamodb.NewImage?.n).toEqual({ N: "7.5" });
    expect(modify.dynamodb.NewImage?.nothing).toBeUndefined();
    expect(remove.dynamodb.OldImage).toEqual(modify.dynamodb.NewImage);
    for (const record of [insert, modify, remove]) expect(record.dynamodb.Keys).toEqual({ id: { S: "all-types" } });
  });

  test("images carry every attribute type as written", () => {
    const image = insert.dynamodb.NewImage!;
    const types = new Set(Object.values(image).flatMap((value) => Object.keys(value)));
    expect([...types].sort()).toEqual(["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"]);
    expect(image).toEqual(ALL_TYPES); // these values are already normalized and their sets sorted
  });

  test.each(["INSERT", "MODIFY", "REMOVE"])("%s has the same fields (and field types) as AWS's records", (eventName) => {
    const local = { INSERT: insert, MODIFY: modify, REMOVE: remove }[eventName] as unknown as AnyRecord;
    const aws = withAllEventNames.find((r) => r.eventName === eventName)!;
    expect(fieldTypes(local)).toEqual(fieldTypes(aws));
    expect(fieldTypes(local.dynamodb)).toEqual(fieldTypes(aws.dynamodb));
    // The documentation example has the same record fields (it omits ApproximateCreationDateTime).
    const docs = docsExample.find((r) => r.eventName === eventName);
    if (docs) {
      expect(Object.keys(local).sort()).toEqual(Object.keys(docs).sort());
      expect(Object.keys(local.dynamodb).filter((k) => k !== "ApproximateCreationDateTime").sort()).toEqual(Object.keys(docs.dynamodb).sort());
    }
    expect(local).toMatchObject({ eventVersion: "1.1", eventSource: "aws:dynamodb", dynamodb: { StreamViewType: "NEW_AND_OLD_IMAGES" } });
    // The ARN names the table (DynamoDB Local's region is "ddblocal", its account 000000000000).
    expect(local.eventSourceARN).toMatch(new RegExp(`^arn:aws:dynamodb:[a-z0-9-]+:\\d{12}:table/${recorder.tableName}/stream/.+$`));
  });

  test("sequence numbers increase as numbers (DynamoDB Local pads them to 21 digits)", () => {
    const sequence = [insert, modify, remove].map((r) => r.dynamodb.SequenceNumber);
    for (const s of sequence) expect(s).toMatch(/^\d{21,40}$/);
    const numbers = sequence.map(BigInt);
    expect(numbers[0]! < numbers[1]! && numbers[1]! < numbers[2]!).toBe(true);
  });

  test("writes that change nothing produce no record", async () => {
    const before = recorder.records.length;
    await recorder.put({ id: { S: "same" }, v: { N: "1" } });
    expect(await recorder.put({ id: { S: "same" }, v: { N: "1.0" } })).toBeUndefined();
    expect(await recorder.delete({ id: { S: "never-written" } })).toBeUndefined();
    expect(recorder.records.length).toBe(before + 1);
  });
});

describe("DynamoDB Local quirks (where it differs from DynamoDB), and what the pipeline does", () => {
  test("UpdateItem SET stores a number as written ('1E+2', '7.50'); PutItem stores it normalized", async () => {
    // DynamoDB stores every number normalized, whichever call wrote it. The pipeline copies what it
    // reads; its writes are PutItem, so a backup copy of such an item holds the normalized digits
    // (glue-job/tests/test_fidelity.py shows the job accepts that as equal and ends).
    const set = await recorder.update({ id: { S: "quirk-number" } }, "SET a = :a, b = :b", { ":a": { N: "1E+2" }, ":b": { N: "7.50" } });
    expect(set?.dynamodb.NewImage).toMatchObject({ a: { N: "1E+2" }, b: { N: "7.50" } });
    const put = await recorder.put({ id: { S: "quirk-number-put" }, a: { N: "1E+2" }, b: { N: "7.50" } });
    expect(put?.dynamodb.NewImage).toMatchObject({ a: { N: "100" }, b: { N: "7.5" } });
  });

  test("a TTL delete arrives as eventName UNKNOWN_TO_SDK_VERSION without userIdentity (AWS: REMOVE, userIdentity Service)", async () => {
    await ddb.call("UpdateTimeToLive", { TableName: recorder.tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: "expires" } });
    await recorder.put({ id: { S: "quirk-ttl" }, expires: { N: String(Math.floor(Date.now() / 1000) - 60) } });
    let ttlDelete: StreamRecord | undefined;
    for (let waited = 0; ttlDelete === undefined && waited < 60_000; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      ttlDelete = (await recorder.sync()).find((record) => JSON.stringify(record.dynamodb.Keys) === JSON.stringify({ id: { S: "quirk-ttl" } }));
    }
    expect(ttlDelete).toBeDefined();
    expect(ttlDelete!.eventName as string).toBe("UNKNOWN_TO_SDK_VERSION");
    expect(ttlDelete!.userIdentity).toBeUndefined();
    expect(ttlDelete!.dynamodb.OldImage).toEqual({ id: { S: "quirk-ttl" }, expires: expect.any(Object) });
    // AWS documents TTL deletes as REMOVE records with this userIdentity (AWS's own event shows it).
    expect(withUserIdentity[0]!.userIdentity).toEqual({ type: "Service", principalId: "dynamodb.amazonaws.com" });

    // Locally, the stack's filter drops such a record before the function sees it (on AWS a TTL delete
    // is a REMOVE and passes it): a local test of TTL would see no change reach the backup.
    const esm = synthesizeEnvironment({ sourceTable: { ttlAttribute: "expires" } }).one("aws_lambda_event_source_mapping").body;
    const patterns = (esm.filter_criteria.filter as { pattern: string }[]).map((filter) => JSON.parse(filter.pattern) as Record<string, unknown>);
    expect(patterns.some((pattern) => matchesPattern(pattern, ttlDelete))).toBe(false);
    // Unfiltered, the function does not drop it either: it is reported as failed, to be retried.
    expect(selectRecords([ttlDelete], "retain").malformed).toEqual([expect.objectContaining({ reason: 'unknown eventName "UNKNOWN_TO_SDK_VERSION"' })]);
    // As AWS delivers it, the same delete is a REMOVE whose last image the backup keeps.
    const asOnAws = { ...ttlDelete!, eventName: "REMOVE", userIdentity: withUserIdentity[0]!.userIdentity };
    expect(patterns.some((pattern) => matchesPattern(pattern, asOnAws))).toBe(true);
    expect(selectRecords([asOnAws], "retain").selected).toEqual([expect.objectContaining({ eventName: "REMOVE", oldImage: ttlDelete!.dynamodb.OldImage })]);
  }, 90_000);
});
