/**
 * The change-trigger handler against local servers that speak the real wire protocols: s3rver
 * (S3 REST/XML) and a local Glue JSON 1.1 endpoint whose requests are validated against
 * the botocore model. Every scenario runs twice: on the TypeScript source and on the bundled zip's
 * index.js, each loaded as a fresh cold start. Events come from the AWS documentation example and
 * from real writes to AWS's DynamoDB Local, read from its Streams API.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { EVENTBRIDGE_DIR, STREAM_EVENTS_DIR } from "./helpers/reference";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { manifestOrder } from "../functions/change-trigger/manifest";
import { S3RVER_CREDENTIALS } from "../local-aws/local-s3";
import { LAMBDA_RUNTIMES } from "../stacks/config/replication-settings";
import { startBundledHandler } from "../local-aws/lambda-node";
import { buildChangeTrigger, unzipChangeTrigger, type UnzippedBundle } from "./helpers/change-trigger-bundle";
import { runtimeMajor } from "../local-aws/lambda-node";
import { APPLY_JOB_NAME, DEFAULT_CONFIG, HANDLER_SOURCE, MANIFEST_BUCKET, type HandlerConfig } from "../local-aws/change-trigger-env";
import { captureLogs, loadHandler, startRig, type Rig, type StreamBatchResponse } from "./helpers/change-trigger-env";
import { canonical, startRecordedTable, StreamRecorder, uniqueTableName, type Item, type LocalDynamo, type StreamRecord } from "../local-aws/stream-records";

const DOCS_EXAMPLE = path.join(STREAM_EVENTS_DIR, "aws-docs-example.json");

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface Manifest {
  version: number;
  keys: Item[];
  eventNames: string[];
  sequenceNumbers: { first: string; last: string };
  records: number;
  eventSourceArn: string;
  removed?: { key: Item; sequenceNumber: string; oldImage: Item; approximateCreationDateTime?: number }[];
}

/** The manifest's `removed` entry for a REMOVE record (its last state: the OldImage unless given). */
const removedEntry = (record: StreamRecord, oldImage: Item | undefined = record.dynamodb.OldImage) => ({
  key: record.dynamodb.Keys,
  sequenceNumber: record.dynamodb.SequenceNumber,
  oldImage,
  approximateCreationDateTime: record.dynamodb.ApproximateCreationDateTime,
});

let rig: Rig;
let ddb: LocalDynamo;
let recorder: StreamRecorder;
const bundled: Record<string, UnzippedBundle> = {};
let prefixCounter = 0;

beforeAll(async () => {
  for (const runtime of LAMBDA_RUNTIMES) bundled[runtime] = unzipChangeTrigger(buildChangeTrigger({ runtime }));
  rig = await startRig();
  ({ ddb, recorder } = await startRecordedTable("api-pagos", { partitionKey: { name: "id", type: "S" } }));
});
afterAll(async () => {
  await Promise.all([rig?.close(), ddb?.close()]);
  for (const bundle of Object.values(bundled)) bundle.remove();
});
beforeEach(() => rig.reset());

/** 1,000 records from real writes (250 keys, 4 writes each), recorded once for both variants. */
let bulk: Promise<StreamRecord[]> | undefined;
const bulkRecords = (): Promise<StreamRecord[]> =>
  (bulk ??= recordWrites(async (r) => {
    for (let i = 0; i < 1000; i += 1) await r.put({ id: { S: `bulk-${i % 250}` }, n: { N: String(i) } }, { read: false });
  }));

/** The stream records of the writes done by `writes` (real writes to DynamoDB Local, read from its stream). */
async function recordWrites(writes: (r: StreamRecorder) => Promise<unknown>, on: StreamRecorder = recorder): Promise<StreamRecord[]> {
  const start = on.records.length;
  await writes(on);
  await on.sync();
  return on.records.slice(start);
}

async function manifestsUnder(prefix: string): Promise<{ key: string; body: string; contentType: string | undefined; content: Manifest }[]> {
  const keys = await rig.s3.listKeys(MANIFEST_BUCKET, prefix);
  return Promise.all(
    keys.map(async (key) => {
      const object = (await rig.s3.getObject(MANIFEST_BUCKET, key))!;
      return { key, ...object, content: JSON.parse(object.body) as Manifest };
    }),
  );
}

/**
 * No change is lost: every record Lambda would consider processed (those before the reported
 * failure) has its key in a manifest, REMOVE included under both policies; under retain, every
 * key whose last processed record is a REMOVE has that record's OldImage in a manifest's
 * `removed`, with its sequence number; and a run that will read them exists.
 */
async function expectNothingLost(records: readonly StreamRecord[], response: StreamBatchResponse, prefix: string, deletePolicy: string): Promise<void> {
  const failed = response.batchItemFailures[0]?.itemIdentifier;
  expect(response.batchItemFailures.length).toBeLessThanOrEqual(1);
  const processedUpTo = failed === undefined ? records.length : records.findIndex((r) => r?.dynamodb?.SequenceNumber === failed);
  expect(processedUpTo).toBeGreaterThanOrEqual(0);
  const processed = records.slice(0, processedUpTo);
  const manifests = await manifestsUnder(prefix);
  const written = new Set(manifests.flatMap((m) => m.content.keys.map(canonical)));
  for (const record of processed) expect(written).toContain(canonical(record.dynamodb.Keys));
  const removed = new Set(manifests.flatMap((m) => (m.content.removed ?? []).map(canonical)));
  const lastOfKey = new Map(processed.map((r) => [canonical(r.dynamodb.Keys), r]));
  for (const last of lastOfKey.values()) {
    if (deletePolicy !== "retain" || last.eventName !== "REMOVE") continue;
    expect(removed).toContain(canonical(removedEntry(last)));
  }
  if (deletePolicy === "mirror") expect(removed.size).toBe(0);
  if (processed.length > 0) expect(rig.glue.runs.some((run) => run.JobRunState === "WAITING" || run.JobRunState === "RUNNING")).toBe(true);
}

/** The name a batch's manifest must have: its first record's time and sequence number, then the body's hash. */
function manifestKey(prefix: string, records: readonly unknown[], body: string): string {
  const { dynamodb } = records[0] as { dynamodb: { ApproximateCreationDateTime?: number; SequenceNumber: string } };
  return `${prefix}${manifestOrder(dynamodb.ApproximateCreationDateTime ?? 0, dynamodb.SequenceNumber)}-${sha256(body)}.json`;
}

/** Runs `run` capturing console.warn too (captureLogs takes log and error). */
async function captureWithWarnings<T>(run: () => Promise<T>): Promise<Awaited<ReturnType<typeof captureLogs<T>>> & { warnings: unknown[][] }> {
  const warnings: unknown[][] = [];
  const spy = jest.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void warnings.push(JSON.parse(JSON.stringify(args)) as unknown[]));
  try {
    return { ...(await captureLogs(run)), warnings };
  } finally {
    spy.mockRestore();
  }
}

type Load = (config: HandlerConfig) => Promise<(event: unknown) => Promise<StreamBatchResponse>>;
const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** The TypeScript source, imported in this jest worker (isolated module registry per load). */
const loadSource: Load = async (config) => loadHandler(HANDLER_SOURCE, config);
/** The bundled zip's index.js, loaded by a fresh node process of the runtime's Node.js major, as Lambda would. */
const loadBundle = (runtime: string): Load => async (config) => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const started = await startBundledHandler(bundled[runtime]!.indexPath, env, runtime);
  stops.push(started.stop);
  expect(started.nodeVersion.split(".")[0]).toBe(String(runtimeMajor(runtime)));
  return started.handler;
};

const variants: [string, string, Load][] = [
  ["TypeScript source", "src", loadSource],
  ...LAMBDA_RUNTIMES.map((runtime): [string, string, Load] => [`bundled zip on ${runtime}`, runtime.replace(/\W/g, ""), loadBundle(runtime)]),
];
describe.each(variants)("change-trigger handler (%s)", (_variant, tag, load) => {
  // (item ids differ per variant, `tag`: writes must change items)
  /** A fresh cold start with its own manifest prefix, so each scenario sees only its manifests. */
  async function coldStart(config: HandlerConfig = {}): Promise<{ handler: (event: unknown) => Promise<StreamBatchResponse>; prefix: string; deletePolicy: string }> {
    prefixCounter += 1;
    const merged = { ...DEFAULT_CONFIG, MANIFEST_PREFIX: `changes/t${prefixCounter}/`, ...config };
    return { handler: await load(merged), prefix: merged.MANIFEST_PREFIX, deletePolicy: merged.DELETE_POLICY };
  }
  afterEach(() => expect(rig.glue.problems()).toEqual([]));

  test("AWS documentation example: one manifest with the exact body, one job run started", async () => {
    const { handler, prefix } = await coldStart();
    const event = JSON.parse(fs.readFileSync(DOCS_EXAMPLE, "utf8")) as { Records: unknown[] };
    const { Records } = event;
    const { result, logs, errors } = await captureLogs(() => handler(event));
    expect(result).toEqual({ batchItemFailures: [] });
    const body =
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY"],' +
      '"sequenceNumbers":{"first":"111","last":"222"},"records":2,' +
      '"eventSourceArn":"arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2024-06-10T19:26:16.525"}';
    expect(await manifestsUnder(prefix)).toEqual([
      { key: manifestKey(prefix, Records, body), body, contentType: "application/json", content: JSON.parse(body) },
    ]);
    expect(rig.s3.count()).toBe(1);
    expect(rig.glue.requests.map((r) => [r.operation, r.body])).toEqual([
      ["GetJobRuns", { JobName: APPLY_JOB_NAME, MaxResults: 10 }],
      ["StartJobRun", { JobName: APPLY_JOB_NAME }],
    ]);
    expect(errors).toEqual([]);
    expect(logs).toEqual([
      {
        message: "change-trigger batch",
        records: 2,
        selected: 2,
        malformed: 0,
        distinctKeys: 1,
        removedItems: 0,
        removesWithoutOldImage: 0,
        manifestKey: manifestKey(prefix, Records, body),
        startedRun: rig.glue.runs[0]?.Id,
      },
    ]);
  });

  /** The manifest body the handler must write for `records` under retain (an oracle written out here). */
  function expectedRetainBody(records: readonly StreamRecord[], keys: Item[], removed: StreamRecord[]): string {
    const eventNames = [...new Set(records.map((r) => r.eventName))].sort();
    const times = records.map((r) => r.dynamodb.ApproximateCreationDateTime);
    return (
      `{"version":1,"keys":[${keys.map(canonical).join(",")}],"eventNames":${JSON.stringify(eventNames)},` +
      `"sequenceNumbers":{"first":"${records[0]!.dynamodb.SequenceNumber}","last":"${records[records.length - 1]!.dynamodb.SequenceNumber}"},` +
      `"records":${records.length},"eventSourceArn":"${records[0]!.eventSourceARN}"` +
      `,"approximateCreationDateTime":{"earliest":${Math.min(...times)},"latest":${Math.max(...times)}}` +
      (removed.length === 0
        ? ""
        : `,"removed":[${removed
            .map(
              (r) =>
                `{"key":${canonical(r.dynamodb.Keys)},"sequenceNumber":"${r.dynamodb.SequenceNumber}","oldImage":${canonical(r.dynamodb.OldImage)},` +
                `"approximateCreationDateTime":${r.dynamodb.ApproximateCreationDateTime}}`,
            )
            .join(",")}]`) +
      "}"
    );
  }

  test("real writes, every attribute type, one key changed several times, deletes retained: the exact body with the deleted item's last state", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-retain-1` }, s: { S: "x" }, n: { N: "12345678901234567890123456789012345678" }, b: { B: "AAEC/w==" } });
      await r.put({ id: { S: `${tag}-retain-2` }, ss: { SS: ["a", "b"] }, ns: { NS: ["1", "2.5"] }, bs: { BS: ["AA==", "AQ=="] } });
      await r.update({ id: { S: `${tag}-retain-1` } }, "SET m = :m", { ":m": { M: { l: { L: [{ NULL: true }, { BOOL: true }] } } } });
      await r.update({ id: { S: `${tag}-retain-1` } }, "SET c = :c", { ":c": { N: "2" } });
      await r.put({ id: { S: `${tag}-retain-1` }, replaced: { BOOL: false } });
      await r.update({ id: { S: `${tag}-retain-2` } }, "SET m = :m, #10 = :n", { ":m": { M: { z: { S: "last" }, a: { L: [{ B: "/w==" }] } } }, ":n": { N: "-0.5" } }, { "#10": "10" });
      await r.delete({ id: { S: `${tag}-retain-2` } });
    });
    expect(records.map((r) => r.eventName)).toEqual(["INSERT", "INSERT", "MODIFY", "MODIFY", "MODIFY", "MODIFY", "REMOVE"]);
    const { handler, prefix, deletePolicy } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records }));
    expect(result).toEqual({ batchItemFailures: [] });
    const [manifest, ...more] = await manifestsUnder(prefix);
    expect(more).toEqual([]);
    const remove = records[6]!;
    expect(manifest?.content).toEqual({
      version: 1,
      keys: [{ id: { S: `${tag}-retain-1` } }, { id: { S: `${tag}-retain-2` } }],
      eventNames: ["INSERT", "MODIFY", "REMOVE"],
      sequenceNumbers: { first: records[0]!.dynamodb.SequenceNumber, last: remove.dynamodb.SequenceNumber },
      records: 7,
      eventSourceArn: recorder.eventSourceARN,
      approximateCreationDateTime: { earliest: records[0]!.dynamodb.ApproximateCreationDateTime, latest: records[6]!.dynamodb.ApproximateCreationDateTime },
      removed: [removedEntry(remove, records[5]!.dynamodb.NewImage)],
    });
    // The last state: what the last MODIFY wrote, every type as stored (not the inserted state).
    expect(remove.dynamodb.OldImage).toEqual(records[5]!.dynamodb.NewImage);
    expect(remove.dynamodb.OldImage).not.toEqual(records[1]!.dynamodb.NewImage);
    const body = expectedRetainBody(records, [{ id: { S: `${tag}-retain-1` } }, { id: { S: `${tag}-retain-2` } }], [remove]);
    expect(manifest?.body).toBe(body);
    expect(manifest?.key).toBe(manifestKey(prefix, records, body));
    expect(logs).toEqual([expect.objectContaining({ records: 7, selected: 7, malformed: 0, distinctKeys: 2, removedItems: 1, removesWithoutOldImage: 0 })]);
    expect(logs[0]).not.toHaveProperty("skipped");
    await expectNothingLost(records, result, prefix, deletePolicy);
  });

  test("retain, the last record of each key decides: REMOVE then INSERT no entry, INSERT then REMOVE an entry with the last image", async () => {
    const before = await recordWrites((r) => r.put({ id: { S: `${tag}-lw-old` }, v: { S: "written before the batch" }, run: { N: String(prefixCounter) } }));
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-lw-back` }, v: { N: "1" } }); // deleted, then inserted again: no entry
      await r.delete({ id: { S: `${tag}-lw-back` } });
      await r.put({ id: { S: `${tag}-lw-back` }, v: { N: "2" } });
      await r.put({ id: { S: `${tag}-lw-gone` }, v: { N: "1" } }); // inserted, modified, deleted: an entry with the modified state
      await r.update({ id: { S: `${tag}-lw-gone` } }, "SET v = :v, w = :w", { ":v": { N: "10" }, ":w": { SS: ["b", "a"] } });
      await r.delete({ id: { S: `${tag}-lw-gone` } });
      await r.delete({ id: { S: `${tag}-lw-old` } }); // written before this batch, deleted in it: an entry
      await r.put({ id: { S: `${tag}-lw-twice` }, v: { N: "1" } }); // deleted twice: the second delete's image
      await r.delete({ id: { S: `${tag}-lw-twice` } });
      await r.put({ id: { S: `${tag}-lw-twice` }, v: { N: "2" } });
      await r.delete({ id: { S: `${tag}-lw-twice` } });
    });
    expect(records.map((r) => r.eventName)).toEqual(["INSERT", "REMOVE", "INSERT", "INSERT", "MODIFY", "REMOVE", "REMOVE", "INSERT", "REMOVE", "INSERT", "REMOVE"]);
    expect(before).toHaveLength(1);
    expect(records[4]!.dynamodb.NewImage).toEqual({ id: { S: `${tag}-lw-gone` }, v: { N: "10" }, w: { SS: expect.arrayContaining(["a", "b"]) } });
    const { handler, prefix, deletePolicy } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records }));
    expect(result).toEqual({ batchItemFailures: [] });
    const [manifest, ...more] = await manifestsUnder(prefix);
    expect(more).toEqual([]);
    const keys = ["back", "gone", "old", "twice"].map((name) => ({ id: { S: `${tag}-lw-${name}` } }));
    const [removeGone, removeOld, removeTwice] = [records[5]!, records[6]!, records[10]!];
    expect(manifest?.content.removed).toEqual([
      // (the image as the stream carries it: DynamoDB Local keeps set elements in its own order)
      removedEntry(removeGone, records[4]!.dynamodb.NewImage),
      removedEntry(removeOld, before[0]!.dynamodb.NewImage),
      removedEntry(removeTwice, { id: { S: `${tag}-lw-twice` }, v: { N: "2" } }),
    ]);
    const body = expectedRetainBody(records, keys, [removeGone, removeOld, removeTwice]);
    expect(manifest?.body).toBe(body);
    expect(manifest?.key).toBe(manifestKey(prefix, records, body));
    expect(logs[0]).toMatchObject({ records: 11, selected: 11, distinctKeys: 4, removedItems: 3 });
    await expectNothingLost(records, result, prefix, deletePolicy);

    // The same keys under mirror: dirty keys only, no removed field.
    const mirror = await coldStart({ DELETE_POLICY: "mirror" });
    expect((await captureLogs(() => mirror.handler({ Records: records }))).result).toEqual({ batchItemFailures: [] });
    const [mirrored] = await manifestsUnder(mirror.prefix);
    expect(mirrored?.content.keys).toEqual(keys);
    expect(mirrored?.body).not.toContain('"removed"');
    expect(mirrored?.body).toBe(expectedRetainBody(records, keys, []));
  });

  test("deletes mirrored: REMOVE keys go into the manifest, no removed items", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-mirror-1` }, run: { N: String(prefixCounter) } });
      await r.delete({ id: { S: `${tag}-mirror-1` } });
      await r.put({ id: { S: `${tag}-mirror-2` }, v: { N: "1" } });
      await r.delete({ id: { S: `${tag}-mirror-2` } });
    });
    const { handler, prefix, deletePolicy } = await coldStart({ DELETE_POLICY: "mirror" });
    const { result, logs } = await captureLogs(() => handler({ Records: records.slice(1) }));
    expect(result).toEqual({ batchItemFailures: [] });
    const [manifest] = await manifestsUnder(prefix);
    expect(manifest?.content).toMatchObject({ keys: [{ id: { S: `${tag}-mirror-1` } }, { id: { S: `${tag}-mirror-2` } }], eventNames: ["INSERT", "REMOVE"], records: 3 });
    expect(manifest?.content).not.toHaveProperty("removed");
    expect(logs[0]).toMatchObject({ records: 3, selected: 3, removedItems: 0 });
    await expectNothingLost(records.slice(1), result, prefix, deletePolicy);
  });

  test("only a REMOVE under retain: a manifest with the removed item and a job run; an empty batch does nothing", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-gone` }, run: { N: String(prefixCounter) } });
      await r.delete({ id: { S: `${tag}-gone` } });
    });
    const { handler, prefix, deletePolicy } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records.slice(1) }));
    expect(result).toEqual({ batchItemFailures: [] });
    const body = expectedRetainBody(records.slice(1), [{ id: { S: `${tag}-gone` } }], [records[1]!]);
    expect((await manifestsUnder(prefix)).map((m) => m.body)).toEqual([body]);
    expect(JSON.parse(body).removed).toEqual([removedEntry(records[1]!, records[0]!.dynamodb.NewImage)]);
    expect(logs).toEqual([expect.objectContaining({ records: 1, selected: 1, distinctKeys: 1, removedItems: 1, startedRun: expect.any(String) })]);
    expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "StartJobRun"]);
    await expectNothingLost(records.slice(1), result, prefix, deletePolicy);
    rig.reset();
    const empty = await coldStart();
    const emptyRun = await captureLogs(() => empty.handler({ Records: [] }));
    expect(emptyRun.result).toEqual({ batchItemFailures: [] });
    expect(emptyRun.logs).toEqual([expect.objectContaining({ records: 0, selected: 0, noRun: "no selected records" })]);
    expect(rig.s3.count() + rig.glue.count()).toBe(0);
  });

  test("a REMOVE without OldImage under retain: still a dirty key, no removed item, a warning naming its sequence number", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-keys-only` }, run: { N: String(prefixCounter) } });
      await r.delete({ id: { S: `${tag}-keys-only` } });
      await r.put({ id: { S: `${tag}-keys-only-2` }, run: { N: String(prefixCounter) } });
    });
    const batch = clone(records);
    delete batch[1]!.dynamodb.OldImage; // what a KEYS_ONLY or NEW_IMAGE stream would deliver
    const { handler, prefix } = await coldStart();
    const { result, logs, errors, warnings } = await captureWithWarnings(() => handler({ Records: batch }));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(errors).toEqual([]);
    const seq = records[1]!.dynamodb.SequenceNumber;
    expect(warnings).toEqual([[expect.objectContaining({ sequenceNumber: seq, eventID: records[1]!.eventID, index: 1, message: expect.stringContaining(seq) })]]);
    const [manifest] = await manifestsUnder(prefix);
    expect(manifest?.content.keys).toEqual([{ id: { S: `${tag}-keys-only` } }, { id: { S: `${tag}-keys-only-2` } }]);
    expect(manifest?.content).not.toHaveProperty("removed");
    expect(logs).toEqual([expect.objectContaining({ records: 3, selected: 3, removedItems: 0, removesWithoutOldImage: 1 })]);
  });

  test("composite keys: N partition + S sort, and a B partition key", async () => {
    const orders = await StreamRecorder.create(ddb, uniqueTableName("orders"), { partitionKey: { name: "customer", type: "N" }, sortKey: { name: "order", type: "S" } });
    const records = await recordWrites(async (r) => {
      await r.put({ customer: { N: "10" }, order: { S: "b" }, total: { N: "1" } });
      await r.put({ customer: { N: "10" }, order: { S: "a" } });
      await r.put({ customer: { N: "9" }, order: { S: "a" } });
      await r.update({ customer: { N: "10" }, order: { S: "b" } }, "SET #t = :t", { ":t": { N: "2" } }, { "#t": "total" });
    }, orders);
    const { handler, prefix } = await coldStart();
    expect(await captureLogs(() => handler({ Records: records })).then((o) => o.result)).toEqual({ batchItemFailures: [] });
    const [manifest] = await manifestsUnder(prefix);
    expect(manifest?.content.keys).toEqual([
      { customer: { N: "10" }, order: { S: "a" } },
      { customer: { N: "10" }, order: { S: "b" } },
      { customer: { N: "9" }, order: { S: "a" } },
    ]);
    expect(manifest?.body).toContain('{"customer":{"N":"10"},"order":{"S":"a"}}');

    const blobs = await StreamRecorder.create(ddb, uniqueTableName("blobs"), { partitionKey: { name: "hash", type: "B" } });
    const blobRecords = await recordWrites(async (r) => {
      await r.put({ hash: { B: Buffer.from([0xff, 0x00]).toString("base64") }, v: { S: "1" } });
      await r.put({ hash: { B: Buffer.from([0xff, 0x00]).toString("base64") }, v: { S: "2" } });
    }, blobs);
    const second = await coldStart();
    expect(await captureLogs(() => second.handler({ Records: blobRecords })).then((o) => o.result)).toEqual({ batchItemFailures: [] });
    expect((await manifestsUnder(second.prefix))[0]?.content).toMatchObject({ keys: [{ hash: { B: "/wA=" } }], eventNames: ["INSERT", "MODIFY"], records: 2 });
  });

  test("a 1,000-record batch: one PutObject and at most two Glue calls", async () => {
    const records = await bulkRecords();
    expect(records).toHaveLength(1000);
    const { handler, prefix } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records }));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(rig.s3.count()).toBe(1);
    expect(rig.s3.count("PUT")).toBe(1);
    expect(rig.glue.count()).toBeLessThanOrEqual(2);
    expect(logs[0]).toMatchObject({ records: 1000, selected: 1000, malformed: 0, distinctKeys: 250, removedItems: 0 });
    const [manifest] = await manifestsUnder(prefix);
    expect(manifest?.content.keys).toHaveLength(250);
    expect(manifest?.content.eventNames).toEqual(["INSERT", "MODIFY"]);
    expect(manifest?.content).not.toHaveProperty("removed");
  });

  describe("apply job runs", () => {
    let records: StreamRecord[];
    beforeAll(async () => {
      records = await recordWrites((r) => r.put({ id: { S: `${tag}-runs-1` }, at: { N: String(prefixCounter) } }));
    });

    test("a WAITING run exists: no StartJobRun", async () => {
      rig.glue.addRun(APPLY_JOB_NAME, "SUCCEEDED");
      const waiting = rig.glue.addRun(APPLY_JOB_NAME, "WAITING");
      rig.glue.addRun(APPLY_JOB_NAME, "RUNNING");
      const { handler } = await coldStart();
      const { result, logs } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns"]);
      expect(logs[0]).toMatchObject({ waitingRun: waiting });
      expect(logs[0]).not.toHaveProperty("startedRun");
    });

    test("only a RUNNING run: a new run is started (and queued by Glue)", async () => {
      rig.glue.addRun(APPLY_JOB_NAME, "RUNNING");
      const { handler } = await coldStart();
      const { result, logs } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "StartJobRun"]);
      expect(rig.glue.runs[0]).toMatchObject({ JobRunState: "WAITING", Id: logs[0]?.startedRun });
    });

    // The batch is done once its manifest is durable: a run not started is the sweep's to start.
    const expectManifestDurableAndRunLeftToTheSweep = async (
      handler: (event: unknown) => Promise<unknown>,
      { prefix, deletePolicy }: { prefix: string; deletePolicy: string },
      result: StreamBatchResponse,
      warnings: unknown[][],
      errorName: string,
    ): Promise<void> => {
      expect(result).toEqual({ batchItemFailures: [] });
      expect(await manifestsUnder(prefix)).toHaveLength(1);
      expect(warnings).toEqual([[expect.objectContaining({ message: expect.stringMatching(/sweep will start one/), errorName })]]);
      expect(rig.glue.runs).toEqual([]);
      // The scheduled sweep finds the manifest and starts the run: nothing is lost.
      const swept = await captureLogs(() => handler(JSON.parse(fs.readFileSync(path.join(EVENTBRIDGE_DIR, "scheduled-event.json"), "utf8"))));
      expect(swept.result).toMatchObject({ pending: true, startedRun: expect.any(String) });
      await expectNothingLost(records, result, prefix, deletePolicy);
    };

    test("GetJobRuns failing beyond the SDK's retries: the batch succeeds, the run is left to the sweep", async () => {
      const started = await coldStart();
      rig.glue.failNext({ operation: "GetJobRuns", errorType: "InternalServiceException", status: 500, times: 2 });
      const { result, warnings, logs } = await captureWithWarnings(() => started.handler({ Records: records }));
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "GetJobRuns"]); // SDK retried once
      await expectManifestDurableAndRunLeftToTheSweep(started.handler, started, result, warnings, "InternalServiceException");
      expect(logs[0]).toMatchObject({ applyRunNotStarted: "start failed; left to the sweep" });
    });

    test("StartJobRun throttled once: the SDK retries and the batch succeeds", async () => {
      const { handler } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ThrottlingException" });
      const { result } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "StartJobRun", "StartJobRun"]);
    });

    test("StartJobRun throttled beyond the SDK's retries: the batch succeeds, the run is left to the sweep", async () => {
      const started = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ThrottlingException", times: 2 });
      const { result, warnings } = await captureWithWarnings(() => started.handler({ Records: records }));
      await expectManifestDurableAndRunLeftToTheSweep(started.handler, started, result, warnings, "ThrottlingException");
    });

    test("ConcurrentRunsExceededException (Glue refusing a start while a run is busy): logged, not retried, the batch succeeds", async () => {
      const started = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException" });
      const { result, warnings, logs } = await captureWithWarnings(() => started.handler({ Records: records }));
      expect(rig.glue.count("StartJobRun")).toBe(1);
      await expectManifestDurableAndRunLeftToTheSweep(started.handler, started, result, warnings, "ConcurrentRunsExceededException");
      expect(logs[0]).toMatchObject({ applyRunNotStarted: "a run is busy (start refused)" });
    });
  });

  describe("the sweep (EventBridge: an apply run ended, or the schedule)", () => {
    const event = (name: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(EVENTBRIDGE_DIR, name), "utf8"));
    const runEnded = (state = "SUCCEEDED"): Record<string, unknown> => {
      const ended = event("glue-job-state-change-failed.json");
      return { ...ended, detail: { ...(ended.detail as object), jobName: APPLY_JOB_NAME, state } };
    };

    test("nothing pending (a folder placeholder is no manifest): one listing, no Glue call", async () => {
      const { handler, prefix } = await coldStart();
      // The console's "create folder" leaves an empty object named like the prefix.
      const s3 = new S3Client({ endpoint: rig.s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
      await s3.send(new PutObjectCommand({ Bucket: MANIFEST_BUCKET, Key: prefix, Body: "" }));
      s3.destroy();
      const { result, logs } = await captureLogs(() => handler(event("scheduled-event.json")));
      expect(result).toEqual({ pending: false });
      expect(rig.glue.requests).toEqual([]);
      expect(logs[0]).toMatchObject({ message: "apply sweep", trigger: "Scheduled Event", pending: false });
    });

    test("a manifest pending when a run SUCCEEDED: a run is started; with a WAITING run, none; after a FAILED run, the schedule restarts", async () => {
      const { handler } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException" });
      const written = await captureWithWarnings(async () => handler({ Records: await recordWrites((r) => r.put({ id: { S: `${tag}-sweep-1` } })) }));
      expect(written.result).toEqual({ batchItemFailures: [] }); // refused start: the manifest waits for the sweep
      rig.reset();
      // A failed run is restarted by the schedule only: a run that fails at once must not loop.
      const failed = await captureLogs(() => handler(runEnded("FAILED")));
      expect(failed.result).toEqual({ pending: "unknown", leftToSchedule: "FAILED" });
      expect(rig.glue.requests).toEqual([]);
      const ended = await captureLogs(() => handler(runEnded()));
      expect(ended.result).toMatchObject({ pending: true, startedRun: expect.stringMatching(/^jr_/) });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "StartJobRun"]);
      expect(ended.logs[0]).toMatchObject({ trigger: "Glue Job State Change", endedRun: expect.stringMatching(/^jr_/) });
      rig.reset();
      const waiting = rig.glue.addRun(APPLY_JOB_NAME, "WAITING");
      const scheduled = await captureLogs(() => handler(event("scheduled-event.json")));
      expect(scheduled.result).toEqual({ pending: true, waitingRun: waiting });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns"]);
    });

    test("a start refused while a run is busy is not an error (that run's end sweeps again); any other error is thrown for a retry", async () => {
      const { handler } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException" });
      await captureWithWarnings(async () => handler({ Records: await recordWrites((r) => r.put({ id: { S: `${tag}-sweep-2` } })) }));
      rig.reset();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException" });
      const busy = await captureLogs(() => handler(event("scheduled-event.json")));
      expect(busy.result).toMatchObject({ pending: true, busy: expect.any(String) });
      rig.glue.failNext({ operation: "StartJobRun", errorType: "AccessDeniedException" });
      // (The bundled zip runs in its own process: only the message crosses back.)
      await expect(captureLogs(() => handler(runEnded()))).rejects.toThrow(/scripted failure of StartJobRun/);
    });
  });

  describe("S3 failures", () => {
    let records: StreamRecord[];
    beforeAll(async () => {
      records = await recordWrites(async (r) => {
        await r.put({ id: { S: `${tag}-s3-1` }, run: { N: String(prefixCounter) } });
        await r.put({ id: { S: `${tag}-s3-2` }, run: { N: String(prefixCounter) } });
      });
    });

    test("bucket missing: batch failed, no Glue call", async () => {
      const { handler } = await coldStart({ MANIFEST_BUCKET: "no-such-bucket" });
      const { result, errors } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(errors).toEqual([expect.objectContaining({ errorName: "NoSuchBucket", step: "s3:PutObject" })]);
      expect(rig.s3.requests.map((r) => [r.method, r.status])).toEqual([["PUT", 404]]);
      expect(rig.glue.count()).toBe(0);
    });

    test("server answering 500 beyond the SDK's retries: batch failed, no Glue call", async () => {
      const { handler, prefix, deletePolicy } = await coldStart();
      rig.s3.failNext({ status: 500, code: "InternalError", times: 2 });
      const { result } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(rig.s3.requests.map((r) => r.status)).toEqual([500, 500]);
      expect(rig.glue.count()).toBe(0);
      expect(await manifestsUnder(prefix)).toEqual([]);
      await expectNothingLost(records, result, prefix, deletePolicy);
    });

    test("one 500: the SDK retries the PutObject and the batch succeeds", async () => {
      const { handler, prefix } = await coldStart();
      rig.s3.failNext({ status: 500, code: "InternalError" });
      const { result } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(rig.s3.requests.map((r) => r.status)).toEqual([500, 200]);
      expect(await manifestsUnder(prefix)).toHaveLength(1);
    });
  });

  describe("malformed records", () => {
    let records: StreamRecord[];
    beforeAll(async () => {
      records = await recordWrites(async (r) => {
        for (const id of ["bad-1", "bad-2", "bad-3", "bad-4"]) await r.put({ id: { S: `${tag}-${id}` }, run: { N: String(prefixCounter) } });
      });
    });

    test("in the middle: reported by its sequence number; the records around it are in the manifest", async () => {
      const batch: unknown[] = clone(records);
      (batch[2] as Record<string, unknown>).eventSource = "aws:kinesis";
      const { handler, prefix, deletePolicy } = await coldStart();
      const { result, errors } = await captureLogs(() => handler({ Records: batch }));
      const badSeq = records[2]!.dynamodb.SequenceNumber;
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: badSeq }] });
      expect(errors[0]).toMatchObject({ sequenceNumber: badSeq, reason: expect.stringMatching(/aws:kinesis/) });
      expect(errors[1]).toMatchObject({ malformed: 1, retryFrom: badSeq, manifestKey: expect.any(String), startedRun: expect.any(String) });
      const [manifest] = await manifestsUnder(prefix);
      expect(manifest?.content.keys).toEqual([{ id: { S: `${tag}-bad-1` } }, { id: { S: `${tag}-bad-2` } }, { id: { S: `${tag}-bad-4` } }]);
      await expectNothingLost(records, result, prefix, deletePolicy);
    });

    test("a record without Keys, and S3 failing: retry from the first selected record before it", async () => {
      const batch = clone(records) as unknown as { dynamodb: Record<string, unknown> }[];
      delete batch[1]!.dynamodb.Keys;
      const { handler, prefix, deletePolicy } = await coldStart();
      rig.s3.failNext({ status: 500, code: "InternalError", times: 2 });
      const { result, errors } = await captureLogs(() => handler({ Records: batch }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(errors[0]).toMatchObject({ sequenceNumber: records[1]!.dynamodb.SequenceNumber, reason: "no dynamodb.Keys" });
      await expectNothingLost(records, result, prefix, deletePolicy);
    });

    test("a malformed first record with no sequence number: the whole batch fails", async () => {
      const batch: unknown[] = [{ eventSource: "aws:dynamodb", eventName: "INSERT" }, ...clone(records)];
      const { handler } = await coldStart();
      await expect(captureLogs(() => handler({ Records: batch }))).rejects.toThrow(/no record at or before it has a sequence number/);
    });

    test("a malformed record with no sequence number in the middle: retry from the record before it", async () => {
      const batch: unknown[] = clone(records);
      delete (batch[2] as { dynamodb: Record<string, unknown> }).dynamodb.SequenceNumber;
      const { handler, prefix, deletePolicy } = await coldStart();
      const { result, errors } = await captureLogs(() => handler({ Records: batch }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[1]!.dynamodb.SequenceNumber }] });
      expect(errors[0]).toMatchObject({ sequenceNumber: null, eventID: records[2]!.eventID, index: 2 });
      await expectNothingLost(records, result, prefix, deletePolicy);
    });

    test("a malformed record after a REMOVE, with S3 failing: retry from the REMOVE (selected under retain too)", async () => {
      const removed = await recordWrites((r) => r.delete({ id: { S: `${tag}-bad-4` } }));
      const batch: unknown[] = [...clone(removed), { ...clone(records[0]!), eventSource: "aws:sqs" }, ...clone(records.slice(1))];
      const { handler } = await coldStart();
      rig.s3.failNext({ status: 500, code: "InternalError", times: 2 });
      const { result } = await captureLogs(() => handler({ Records: batch }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: removed[0]!.dynamodb.SequenceNumber }] });
    });

    test("a REMOVE whose OldImage lacks the key under retain is malformed: reported, the others written with their removed items", async () => {
      const removes = await recordWrites(async (r) => {
        await r.put({ id: { S: `${tag}-bad-img-1` }, v: { N: "1" } });
        await r.put({ id: { S: `${tag}-bad-img-2` }, v: { N: "2" } });
        await r.delete({ id: { S: `${tag}-bad-img-1` } });
        await r.delete({ id: { S: `${tag}-bad-img-2` } });
      });
      const batch = clone(removes);
      delete batch[2]!.dynamodb.OldImage!.id;
      const { handler, prefix, deletePolicy } = await coldStart();
      const { result, errors } = await captureLogs(() => handler({ Records: batch }));
      const badSeq = removes[2]!.dynamodb.SequenceNumber;
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: badSeq }] });
      expect(errors[0]).toMatchObject({ sequenceNumber: badSeq, reason: expect.stringMatching(/OldImage does not hold the record's key attribute id/) });
      const [manifest] = await manifestsUnder(prefix);
      expect(manifest?.content.removed).toEqual([removedEntry(removes[3]!)]);
      await expectNothingLost(removes, result, prefix, deletePolicy);
    });
  });

  test("an event that is not a stream batch is an error", async () => {
    const { handler } = await coldStart();
    await expect(handler({})).rejects.toThrow(/neither a DynamoDB stream batch \(Records\) nor a sweep event/);
    await expect(handler({ source: "aws.glue", "detail-type": "Glue Crawler State Change", detail: {} })).rejects.toThrow(/neither/);
  });

  test("a missing or invalid setting fails the cold start, naming the variable", async () => {
    await expect(load({ ...DEFAULT_CONFIG, APPLY_JOB_NAME: undefined })).rejects.toThrow(/APPLY_JOB_NAME is required/);
    await expect(load({ ...DEFAULT_CONFIG, DELETE_POLICY: "keep" })).rejects.toThrow(/DELETE_POLICY="keep" is invalid/);
  });
});
