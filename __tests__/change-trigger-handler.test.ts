/**
 * The change-trigger handler against local servers that speak the real wire protocols: s3rver
 * (S3 REST/XML) and a local Glue JSON 1.1 endpoint whose requests are validated against
 * the botocore model. Every scenario runs twice: on the TypeScript source and on the bundled zip's
 * index.js, each loaded as a fresh cold start. Events come from the AWS documentation example and
 * from real writes to dynalite.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { startBundledHandler, unzipChangeTrigger, type UnzippedBundle } from "./helpers/change-trigger-bundle";
import {
  APPLY_JOB_NAME,
  DEFAULT_CONFIG,
  HANDLER_SOURCE,
  MANIFEST_BUCKET,
  captureLogs,
  loadHandler,
  startRig,
  type HandlerConfig,
  type Rig,
  type StreamBatchResponse,
} from "./helpers/change-trigger-env";
import { canonical, createTable, startRecordedTable, StreamRecorder, type Item, type LocalDynamo, type StreamRecord } from "./helpers/stream-records";

const DOCS_EXAMPLE = path.resolve(__dirname, "..", "..", "shared", "reference", "ddb-stream-events", "aws-docs-example.json");

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface Manifest {
  version: number;
  keys: Item[];
  eventNames: string[];
  sequenceNumbers: { first: string; last: string };
  records: number;
  eventSourceArn: string;
}

let rig: Rig;
let ddb: LocalDynamo;
let recorder: StreamRecorder;
let bundled: UnzippedBundle;
let prefixCounter = 0;

beforeAll(async () => {
  bundled = unzipChangeTrigger();
  rig = await startRig();
  ({ ddb, recorder } = await startRecordedTable("api-pagos", { partitionKey: { name: "id", type: "S" } }));
});
afterAll(async () => {
  await Promise.all([rig?.close(), ddb?.close()]);
  bundled?.remove();
});
beforeEach(() => rig.reset());

/** 1,000 records from real writes (250 keys, 4 writes each), recorded once for both variants. */
let bulk: Promise<StreamRecord[]> | undefined;
const bulkRecords = (): Promise<StreamRecord[]> =>
  (bulk ??= recordWrites(async (r) => {
    for (let i = 0; i < 1000; i += 1) await r.put({ id: { S: `bulk-${i % 250}` }, n: { N: String(i) } });
  }));

/** Records of the writes done by `writes` (real writes to dynalite). */
async function recordWrites(writes: (r: StreamRecorder) => Promise<unknown>, on: StreamRecorder = recorder): Promise<StreamRecord[]> {
  const start = on.records.length;
  await writes(on);
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
 * failure) whose key matters has its key in a manifest, and a run that will read it exists.
 */
async function expectNothingLost(records: readonly StreamRecord[], response: StreamBatchResponse, prefix: string, deletePolicy: string): Promise<void> {
  const failed = response.batchItemFailures[0]?.itemIdentifier;
  expect(response.batchItemFailures.length).toBeLessThanOrEqual(1);
  const processedUpTo = failed === undefined ? records.length : records.findIndex((r) => r?.dynamodb?.SequenceNumber === failed);
  expect(processedUpTo).toBeGreaterThanOrEqual(0);
  const matters = records.slice(0, processedUpTo).filter((r) => r.eventName !== "REMOVE" || deletePolicy === "mirror");
  const written = new Set((await manifestsUnder(prefix)).flatMap((m) => m.content.keys.map(canonical)));
  for (const record of matters) expect(written).toContain(canonical(record.dynamodb.Keys));
  if (matters.length > 0) expect(rig.glue.runs.some((run) => run.JobRunState === "WAITING" || run.JobRunState === "RUNNING")).toBe(true);
}

type Load = (config: HandlerConfig) => Promise<(event: unknown) => Promise<StreamBatchResponse>>;
const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** The TypeScript source, imported in this jest worker (isolated module registry per load). */
const loadSource: Load = async (config) => loadHandler(HANDLER_SOURCE, config);
/** The bundled zip's index.js, loaded by a fresh node process as Lambda would. */
const loadBundle: Load = async (config) => {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const started = await startBundledHandler(bundled.indexPath, env);
  stops.push(started.stop);
  return started.handler;
};

describe.each([
  ["TypeScript source", loadSource],
  ["bundled zip", loadBundle],
])("change-trigger handler (%s)", (variant, load) => {
  const tag = variant === "bundled zip" ? "zip" : "src"; // item ids differ per variant: writes must change items
  /** A fresh cold start with its own manifest prefix, so each scenario sees only its manifests. */
  async function coldStart(config: HandlerConfig = {}): Promise<{ handler: (event: unknown) => Promise<StreamBatchResponse>; prefix: string; deletePolicy: string }> {
    prefixCounter += 1;
    const merged = { ...DEFAULT_CONFIG, MANIFEST_PREFIX: `changes/t${prefixCounter}/`, ...config };
    return { handler: await load(merged), prefix: merged.MANIFEST_PREFIX, deletePolicy: merged.DELETE_POLICY };
  }
  afterEach(() => expect(rig.glue.problems()).toEqual([]));

  test("AWS documentation example: one manifest with the exact body, one job run started", async () => {
    const { handler, prefix } = await coldStart();
    const event = JSON.parse(fs.readFileSync(DOCS_EXAMPLE, "utf8")) as unknown;
    const { result, logs, errors } = await captureLogs(() => handler(event));
    expect(result).toEqual({ batchItemFailures: [] });
    const body =
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY"],' +
      '"sequenceNumbers":{"first":"111","last":"222"},"records":2,' +
      '"eventSourceArn":"arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2024-06-10T19:26:16.525"}';
    expect(await manifestsUnder(prefix)).toEqual([
      { key: `${prefix}${sha256(body)}.json`, body, contentType: "application/json", content: JSON.parse(body) },
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
        skipped: 0,
        malformed: 0,
        distinctKeys: 1,
        manifestKey: `${prefix}${sha256(body)}.json`,
        startedRun: rig.glue.runs[0]?.Id,
      },
    ]);
  });

  test("real writes, every attribute type, one key changed several times, deletes retained", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-retain-1` }, s: { S: "x" }, n: { N: "12345678901234567890123456789012345678" }, b: { B: "AAEC/w==" } });
      await r.put({ id: { S: `${tag}-retain-2` }, ss: { SS: ["a", "b"] }, ns: { NS: ["1", "2.5"] }, bs: { BS: ["AA==", "AQ=="] } });
      await r.update({ id: { S: `${tag}-retain-1` } }, "SET m = :m", { ":m": { M: { l: { L: [{ NULL: true }, { BOOL: true }] } } } });
      await r.update({ id: { S: `${tag}-retain-1` } }, "SET c = :c", { ":c": { N: "2" } });
      await r.put({ id: { S: `${tag}-retain-1` }, replaced: { BOOL: false } });
      await r.delete({ id: { S: `${tag}-retain-2` } });
    });
    expect(records.map((r) => r.eventName)).toEqual(["INSERT", "INSERT", "MODIFY", "MODIFY", "MODIFY", "REMOVE"]);
    const { handler, prefix, deletePolicy } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records }));
    expect(result).toEqual({ batchItemFailures: [] });
    const [manifest, ...more] = await manifestsUnder(prefix);
    expect(more).toEqual([]);
    expect(manifest?.content).toEqual({
      version: 1,
      keys: [{ id: { S: `${tag}-retain-1` } }, { id: { S: `${tag}-retain-2` } }],
      eventNames: ["INSERT", "MODIFY"],
      sequenceNumbers: { first: records[0]!.dynamodb.SequenceNumber, last: records[4]!.dynamodb.SequenceNumber },
      records: 5,
      eventSourceArn: recorder.eventSourceARN,
    });
    expect(logs[0]).toMatchObject({ records: 6, selected: 5, skipped: 1, distinctKeys: 2 });
    await expectNothingLost(records, result, prefix, deletePolicy);
  });

  test("deletes mirrored: REMOVE keys go into the manifest", async () => {
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
    expect(logs[0]).toMatchObject({ selected: 3, skipped: 0 });
    await expectNothingLost(records.slice(1), result, prefix, deletePolicy);
  });

  test("only REMOVE records under retain: no S3 write, no Glue call, success", async () => {
    const records = await recordWrites(async (r) => {
      await r.put({ id: { S: `${tag}-gone` }, run: { N: String(prefixCounter) } });
      await r.delete({ id: { S: `${tag}-gone` } });
    });
    const { handler, prefix } = await coldStart();
    const { result, logs } = await captureLogs(() => handler({ Records: records.slice(1) }));
    expect(result).toEqual({ batchItemFailures: [] });
    expect(logs).toEqual([expect.objectContaining({ records: 1, selected: 0, skipped: 1, distinctKeys: 0, noRun: "no selected records" })]);
    expect(rig.s3.count()).toBe(0);
    expect(rig.glue.count()).toBe(0);
    expect(await manifestsUnder(prefix)).toEqual([]);
    const empty = await coldStart();
    expect((await captureLogs(() => empty.handler({ Records: [] }))).result).toEqual({ batchItemFailures: [] });
    expect(rig.s3.count() + rig.glue.count()).toBe(0);
  });

  test("composite keys: N partition + S sort, and a B partition key", async () => {
    await createTable(ddb, `orders-${prefixCounter}`, { partitionKey: { name: "customer", type: "N" }, sortKey: { name: "order", type: "S" } });
    const orders = new StreamRecorder(ddb, { tableName: `orders-${prefixCounter}`, schema: { partitionKey: { name: "customer", type: "N" }, sortKey: { name: "order", type: "S" } } });
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

    await createTable(ddb, `blobs-${prefixCounter}`, { partitionKey: { name: "hash", type: "B" } });
    const blobs = new StreamRecorder(ddb, { tableName: `blobs-${prefixCounter}`, schema: { partitionKey: { name: "hash", type: "B" } } });
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
    expect(logs[0]).toMatchObject({ records: 1000, selected: 1000, distinctKeys: 250 });
    const [manifest] = await manifestsUnder(prefix);
    expect(manifest?.content.keys).toHaveLength(250);
    expect(manifest?.content.eventNames).toEqual(["INSERT", "MODIFY"]);
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

    test("GetJobRuns failing: batch failed from the first selected record; a retry of the batch recovers", async () => {
      const { handler, prefix, deletePolicy } = await coldStart();
      rig.glue.failNext({ operation: "GetJobRuns", errorType: "InternalServiceException", status: 500, times: 2 });
      const { result, errors } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "GetJobRuns"]); // SDK retried once
      expect(errors).toEqual([expect.objectContaining({ errorName: "InternalServiceException", step: "glue:GetJobRuns/StartJobRun", retryFrom: records[0]!.dynamodb.SequenceNumber })]);
      const before = await manifestsUnder(prefix);
      expect(before).toHaveLength(1); // written, but not acknowledged: Lambda retries the batch
      await expectNothingLost(records, result, prefix, deletePolicy);

      rig.reset();
      const retried = await captureLogs(() => handler({ Records: records }));
      expect(retried.result).toEqual({ batchItemFailures: [] });
      expect(await manifestsUnder(prefix)).toEqual(before); // same content, same object
      expect(rig.glue.count("StartJobRun")).toBe(1);
      await expectNothingLost(records, retried.result, prefix, deletePolicy);
    });

    test("StartJobRun throttled once: the SDK retries and the batch succeeds", async () => {
      const { handler } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ThrottlingException" });
      const { result } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [] });
      expect(rig.glue.requests.map((r) => r.operation)).toEqual(["GetJobRuns", "StartJobRun", "StartJobRun"]);
    });

    test("StartJobRun throttled beyond the SDK's retries: batch failed", async () => {
      const { handler, prefix, deletePolicy } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ThrottlingException", times: 2 });
      const { result, errors } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(errors[0]).toMatchObject({ errorName: "ThrottlingException" });
      await expectNothingLost(records, result, prefix, deletePolicy);
    });

    test("ConcurrentRunsExceededException is not success: batch failed, logged as unexpected, not retried by the SDK", async () => {
      const { handler, prefix, deletePolicy } = await coldStart();
      rig.glue.failNext({ operation: "StartJobRun", errorType: "ConcurrentRunsExceededException" });
      const { result, errors, logs } = await captureLogs(() => handler({ Records: records }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
      expect(rig.glue.count("StartJobRun")).toBe(1);
      expect(logs).toEqual([]);
      expect(errors).toEqual([expect.objectContaining({ errorName: "ConcurrentRunsExceededException", message: expect.stringMatching(/UNEXPECTED/) })]);
      await expectNothingLost(records, result, prefix, deletePolicy);
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

    test("a malformed record after a skipped REMOVE, with S3 failing: retry from the malformed record", async () => {
      const removed = await recordWrites((r) => r.delete({ id: { S: `${tag}-bad-4` } }));
      const batch: unknown[] = [...clone(removed), { ...clone(records[0]!), eventSource: "aws:sqs" }, ...clone(records.slice(1))];
      const { handler } = await coldStart();
      rig.s3.failNext({ status: 500, code: "InternalError", times: 2 });
      const { result } = await captureLogs(() => handler({ Records: batch }));
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: records[0]!.dynamodb.SequenceNumber }] });
    });
  });

  test("an event that is not a stream batch is an error", async () => {
    const { handler } = await coldStart();
    await expect(handler({})).rejects.toThrow(/no Records array/);
  });

  test("a missing or invalid setting fails the cold start, naming the variable", async () => {
    await expect(load({ ...DEFAULT_CONFIG, APPLY_JOB_NAME: undefined })).rejects.toThrow(/APPLY_JOB_NAME is required/);
    await expect(load({ ...DEFAULT_CONFIG, DELETE_POLICY: "keep" })).rejects.toThrow(/DELETE_POLICY="keep" is invalid/);
  });
});
