/**
 * ops/replay-dead-letter: a stream batch that exhausted its retries (its changes missing from the
 * backup) is brought back from the stream by the operator command, end to end on DynamoDB Local's
 * real stream, the synthesized Lambda zip and the real apply-changes job; and a range the stream no
 * longer holds is reported with what full-copy can and cannot repair.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { invocationRecordsOf, parseInvocationRecord } from "../ops/replay-dead-letter/invocation-record";
import { backupProblems, startPipeline, type Pipeline } from "./helpers/e2e-pipeline";
import { e2eEnvironment } from "./helpers/e2e-stack";
import { S3RVER_CREDENTIALS } from "./helpers/local-s3";
import { ON_FAILURE_RECORD_FILE } from "./helpers/reference";
import { PROJECT_ROOT } from "./helpers/synth";

const AWS_RECORD = JSON.parse(fs.readFileSync(ON_FAILURE_RECORD_FILE, "utf8")) as Record<string, unknown>;

test("AWS's example invocation record parses; a record without the batch info is refused by name", () => {
  expect(parseInvocationRecord(AWS_RECORD)).toEqual({
    streamArn: "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388",
    shardId: "shardId-00000001573689847184-864758bb",
    startSequenceNumber: "800000000003126276362",
    endSequenceNumber: "800000000003126276362",
    batchSize: 1,
    approximateArrivalOfFirstRecord: "2019-11-14T00:13:19Z",
  });
  // What `aws sqs receive-message --output json` prints around it.
  const received = { Messages: [{ MessageId: "m1", ReceiptHandle: "rh1", Body: JSON.stringify(AWS_RECORD) }] };
  expect(invocationRecordsOf(received)).toEqual([{ record: AWS_RECORD, where: "Messages[0]", receiptHandle: "rh1" }]);
  expect(() => parseInvocationRecord({ requestContext: {} })).toThrow("message: no DDBStreamBatchInfo");
  expect(() => parseInvocationRecord({ DDBStreamBatchInfo: { ...(AWS_RECORD.DDBStreamBatchInfo as object), endSequenceNumber: "1" } })).toThrow("is before startSequenceNumber");
});

describe("a dead-lettered batch", () => {
  let pipeline: Pipeline | undefined;
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "replay-dead-letter-"));
  });
  afterAll(async () => {
    await pipeline?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the command as an operator would (npm run replay-dead-letter), against the local endpoints. */
  const replay = (messages: unknown): Promise<{ code: number; stdout: string; stderr: string }> => {
    const file = path.join(dir, `messages-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(messages));
    const { applyJob, bucket, config } = pipeline!.environment;
    const env = {
      PATH: process.env.PATH,
      AWS_REGION: config.region,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB_STREAMS: pipeline!.ddb.endpoint,
      AWS_ENDPOINT_URL_S3: pipeline!.s3.endpoint,
      AWS_ENDPOINT_URL_GLUE: pipeline!.glue.endpoint,
      AWS_S3_FORCE_PATH_STYLE: "true",
      AWS_EC2_METADATA_DISABLED: "true",
    };
    const tsx = path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx");
    const args = ["ops/replay-dead-letter/cli.ts", "--messages", file, "--bucket", bucket, "--job-name", applyJob.name];
    return new Promise((resolve) => {
      execFile(tsx, args, { cwd: PROJECT_ROOT, env }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
  };

  test("INSERT, MODIFY, REMOVE, REMOVE lost after the retries come back with the command; a range the stream no longer holds is named", async () => {
    pipeline = await startPipeline(e2eEnvironment({}));
    const key = (id: string) => ({ id: { S: id } });
    await pipeline.write(async (r) => {
      await r.put({ ...key("j"), amount: { N: "1" } });
      await r.put({ ...key("k"), amount: { N: "2" }, note: { S: "the last state of k" } });
    }, 60_000);
    expect(await pipeline.drain()).toEqual([]);
    expect(await backupProblems(pipeline)).toEqual([]);

    // Every manifest write fails until the batch has used up its retries and is dead-lettered.
    let losing = true;
    pipeline.s3.failNext({ status: 500, code: "InternalError", times: 1e9, match: (r) => losing && r.method === "PUT" && r.url.includes("/changes/") });
    await pipeline.write(async (r) => {
      await r.put({ ...key("l"), amount: { N: "3" } });
      await r.update(key("j"), "SET amount = :a", { ":a": { N: "10" } });
      await r.delete(key("k"));
      await r.delete(key("l"));
    }, 60_000);
    losing = false;
    expect(pipeline.poller.deadLetters).toHaveLength(1);
    const [letter] = pipeline.poller.deadLetters;
    expect(letter!.records.map((record) => (record as { eventName: string }).eventName)).toEqual(["INSERT", "MODIFY", "REMOVE", "REMOVE"]);
    expect(await pipeline.drain()).toEqual([]);
    // The loss, as the backup shows it: j's old amount, k live, l never there.
    expect((await backupProblems(pipeline)).length).toBe(3);

    // The invocation record Lambda would send (AWS's example, with this batch's shard and range).
    const { StreamDescription } = await pipeline.ddb.streams<{ StreamDescription: { Shards: { ShardId: string }[] } }>("DescribeStream", { StreamArn: pipeline.recorder.eventSourceARN });
    const message = {
      ...AWS_RECORD,
      DDBStreamBatchInfo: {
        ...(AWS_RECORD.DDBStreamBatchInfo as object),
        shardId: StreamDescription.Shards[0]!.ShardId,
        startSequenceNumber: letter!.startSequenceNumber,
        endSequenceNumber: letter!.endSequenceNumber,
        batchSize: letter!.batchSize,
        streamArn: pipeline.recorder.eventSourceARN,
      },
    };
    const replayed = await replay({ Messages: [{ ReceiptHandle: "rh-1", Body: JSON.stringify(message) }] });
    expect(replayed.stderr).toBe("");
    expect(replayed.code).toBe(0);
    const lines = replayed.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ message: "Messages[0]", records: 4, malformed: 0, keys: 3, removedItems: 2, receiptHandle: "rh-1" });
    expect(lines[1]).toEqual({ applyRun: { startedRun: expect.any(String) } });
    expect(await pipeline.drain()).toEqual([]);
    expect(await backupProblems(pipeline)).toEqual([]); // j current, k and l with their last states

    // A stream that no longer exists (as after 24 hours the range's records no longer do).
    const gone = await replay({ ...message, DDBStreamBatchInfo: { ...message.DDBStreamBatchInfo, streamArn: `${pipeline.recorder.eventSourceARN}0` } });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("are no longer in the stream (DynamoDB Streams keeps records 24 hours)");
    expect(gone.stderr).toContain("Run full-copy now");
    expect(gone.stderr).toContain("cannot bring back the last state of an item deleted in that range");
  }, 120_000);
});
