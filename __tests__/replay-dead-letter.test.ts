/**
 * ops/replay-dead-letter: a stream batch that exhausted its retries (its changes missing from the
 * backup) is brought back from the stream by the operator command, end to end on DynamoDB Local's
 * real stream, the synthesized Lambda zip and the real apply-changes job; a range the stream no
 * longer holds is reported with what full-copy can and cannot repair; a start Glue refuses once the
 * manifest is written is left to the sweep (exit 0), while a manifest that cannot be written fails.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { invocationRecordsOf, parseInvocationRecord } from "../ops/replay-dead-letter/invocation-record";
import { backupProblems, startPipeline, type Pipeline, type PipelineOptions } from "./helpers/e2e-pipeline";
import { e2eEnvironment } from "./helpers/e2e-stack";
import { S3RVER_CREDENTIALS } from "../local-aws/local-s3";
import { loadProjectConfig } from "../stacks/config/load";
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
  let files = 0;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "replay-dead-letter-"));
  });
  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Each test's own pipeline (closed after it). */
  const start = async (options: PipelineOptions = {}): Promise<Pipeline> => {
    pipeline = await startPipeline(e2eEnvironment({}), options);
    return pipeline;
  };

  /** Runs the command as an operator would (npm run replay-dead-letter), against the local endpoints. */
  const replay = (messages: unknown): Promise<{ code: number; stdout: string; stderr: string }> => {
    const file = path.join(dir, `messages-${(files += 1)}.json`);
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

  const key = (id: string) => ({ id: { S: id } });

  /**
   * Every manifest write fails until a batch (INSERT l, MODIFY j, REMOVE k, REMOVE l) has used up
   * its retries and is dead-lettered; returns the invocation record Lambda would send for it (AWS's
   * example, with this batch's shard and range). The backup then lacks its 3 changed keys.
   */
  const loseABatch = async (p: Pipeline) => {
    await p.write(async (r) => {
      await r.put({ ...key("j"), amount: { N: "1" } });
      await r.put({ ...key("k"), amount: { N: "2" }, note: { S: "the last state of k" } });
    }, 60_000);
    expect(await p.drain()).toEqual([]);
    expect(await backupProblems(p)).toEqual([]);

    let losing = true;
    p.s3.failNext({ status: 500, code: "InternalError", times: 1e9, match: (r) => losing && r.method === "PUT" && r.url.includes("/changes/") });
    await p.write(async (r) => {
      await r.put({ ...key("l"), amount: { N: "3" } });
      await r.update(key("j"), "SET amount = :a", { ":a": { N: "10" } });
      await r.delete(key("k"));
      await r.delete(key("l"));
    }, 60_000);
    losing = false;
    expect(p.poller.deadLetters).toHaveLength(1);
    const [letter] = p.poller.deadLetters;
    expect(letter!.records.map((record) => (record as { eventName: string }).eventName)).toEqual(["INSERT", "MODIFY", "REMOVE", "REMOVE"]);
    expect(await p.drain()).toEqual([]);
    // The loss, as the backup shows it: j's old amount, k live, l never there.
    expect((await backupProblems(p)).length).toBe(3);

    const { StreamDescription } = await p.ddb.streams<{ StreamDescription: { Shards: { ShardId: string }[] } }>("DescribeStream", { StreamArn: p.recorder.eventSourceARN });
    return {
      ...AWS_RECORD,
      DDBStreamBatchInfo: {
        ...(AWS_RECORD.DDBStreamBatchInfo as object),
        shardId: StreamDescription.Shards[0]!.ShardId,
        startSequenceNumber: letter!.startSequenceNumber,
        endSequenceNumber: letter!.endSequenceNumber,
        batchSize: letter!.batchSize,
        streamArn: p.recorder.eventSourceARN,
      },
    };
  };

  test("INSERT, MODIFY, REMOVE, REMOVE lost after the retries come back with the command; a range the stream no longer holds is named", async () => {
    const pipeline = await start();
    const message = await loseABatch(pipeline);
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

  /** The stdout lines of the command (one JSON object each). */
  const jsonLines = (stdout: string) => stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);

  test("Glue refuses the start (ConcurrentRunsExceededException, a run busy): the manifest is written, the command says the sweep will start a run, exits 0, and the sweep applies it", async () => {
    const pipeline = await start({ glueStarts: "refuse" }); // a start while a run is busy is refused, as the real API may answer
    const message = await loseABatch(pipeline);
    const { applyJob, bucket } = pipeline.environment;
    // The command reads the deployed environment's sweep interval from the project configuration.
    const [deployed] = Object.values(loadProjectConfig(PROJECT_ROOT, {}).environments);
    const sweepMinutes = deployed!.applyChangesJob.sweepIntervalMinutes;
    const startByHand = `aws glue start-job-run --job-name ${applyJob.name}`;

    // A run of apply-changes is busy (it stays RUNNING until the test ends it).
    const busyId = pipeline.glue.addRun(applyJob.name, "RUNNING");
    const busy = pipeline.glue.runs.find((run) => run.Id === busyId)!;
    const startsBefore = pipeline.glue.count("StartJobRun");
    const replayed = await replay({ Messages: [{ ReceiptHandle: "rh-1", Body: JSON.stringify(message) }] });
    expect(pipeline.glue.count("StartJobRun")).toBe(startsBefore + 1); // tried once, refused
    expect(pipeline.glue.problems()).toEqual([]);
    expect(replayed.code).toBe(0);
    const lines = jsonLines(replayed.stdout);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ message: "Messages[0]", records: 4, keys: 3, removedItems: 2, receiptHandle: "rh-1", manifest: expect.stringMatching(/^changes\/.+\.json$/) });
    const manifest = lines[0]!.manifest as string;
    expect(lines[1]).toEqual({
      applyRunNotStarted: {
        jobName: applyJob.name,
        error: "ConcurrentRunsExceededException",
        errorMessage: expect.any(String),
        reason: expect.stringContaining("a run is busy"),
        manifestsWritten: [`s3://${bucket}/${manifest}`],
        sweepIntervalMinutes: sweepMinutes,
        startByHand,
      },
    });
    // Said plainly: what happened, that the manifest is written (by name), the sweep, the command by hand.
    expect(replayed.stderr).toContain(`Glue refused to start a run of ${applyJob.name}: ConcurrentRunsExceededException`);
    expect(replayed.stderr).toContain(`The manifest is written: s3://${bucket}/${manifest}`);
    expect(replayed.stderr).toContain(`the sweep starts a run within ${sweepMinutes} minute`);
    expect(replayed.stderr).toContain(startByHand);
    // The manifest is in the bucket, with the batch's keys.
    expect(await pipeline.s3.listKeys(bucket, "changes/")).toEqual([manifest]);
    expect(JSON.parse((await pipeline.s3.getObject(bucket, manifest))!.body)).toMatchObject({ version: 1, records: 4, eventNames: ["INSERT", "MODIFY", "REMOVE"] });

    // Any other failed start is reported the same way (here: the account's limit on concurrent runs).
    pipeline.glue.failNext({ operation: "StartJobRun", errorType: "ResourceNumberLimitExceededException" });
    const failed = await replay({ Messages: [{ ReceiptHandle: "rh-1", Body: JSON.stringify(message) }] });
    expect(failed.code).toBe(0);
    expect(jsonLines(failed.stdout)[1]).toMatchObject({ applyRunNotStarted: { error: "ResourceNumberLimitExceededException", manifestsWritten: [`s3://${bucket}/${manifest}`] } });
    expect(failed.stderr).toContain(`Starting a run of ${applyJob.name} failed: ResourceNumberLimitExceededException`);
    expect(failed.stderr).toContain(`The manifest is written: s3://${bucket}/${manifest}`);
    expect(failed.stderr).toContain(startByHand);
    expect(await pipeline.s3.listKeys(bucket, "changes/")).toEqual([manifest]); // the same manifest again (same name)

    // The busy run ends; the sweep (here its schedule) starts the run that applies the replayed changes.
    busy.JobRunState = "SUCCEEDED";
    const sweepsBefore = pipeline.summary().scheduledSweeps;
    expect(await pipeline.drain()).toEqual([]);
    expect(pipeline.summary().scheduledSweeps).toBeGreaterThan(sweepsBefore);
    expect(await pipeline.s3.listKeys(bucket, "changes/")).toEqual([]);
    expect(await backupProblems(pipeline)).toEqual([]); // j current, k and l with their last states
  }, 120_000);

  test("a manifest that cannot be written fails the command (exit 1), names the manifest, and starts no run", async () => {
    const pipeline = await start();
    const message = await loseABatch(pipeline);
    const { bucket } = pipeline.environment;
    let failing = true;
    pipeline.s3.failNext({ status: 500, code: "InternalError", times: 1e9, match: (r) => failing && r.method === "PUT" && r.url.includes("/changes/") });
    const glueCallsBefore = pipeline.glue.count();
    const replayed = await replay({ Messages: [{ ReceiptHandle: "rh-1", Body: JSON.stringify(message) }] });
    failing = false;
    expect(replayed.code).toBe(1);
    expect(replayed.stdout).toBe("");
    expect(replayed.stderr).toMatch(new RegExp(`Messages\\[0\\]: the manifest s3://${bucket}/changes/\\S+\\.json could not be written`));
    expect(replayed.stderr).not.toContain("sweep will start");
    expect(pipeline.glue.count()).toBe(glueCallsBefore); // no Glue call at all
    expect(await pipeline.s3.listKeys(bucket, "changes/")).toEqual([]);
    expect((await backupProblems(pipeline)).length).toBe(3); // still lost: the operator runs the command again
  }, 120_000);
});
