/**
 * End to end on one machine: a change written to api-pagos shows up in api-pos-backup.
 *
 * Real pieces: dynalite holds both tables (created from the stack's config), writes to the source
 * become DynamoDB Streams records, a stand-in for the event source mapping delivers them with the
 * synthesized mapping's settings to the BUNDLED change-trigger zip (the synthesized asset, in its
 * own node process), which writes manifests to s3rver and starts runs on a local Glue endpoint,
 * whose runs execute the synthesized apply_changes.py, importing the job code from the synthesized
 * wheel alone, with the synthesized job's arguments. Only time is
 * simulated (batching windows); Glue runs take the real time of their python processes, so runs
 * overlap the batches. See helpers/e2e-*.ts.
 */
import { keyAt, randomAttributes, seededRandom, writeRandomChanges } from "./helpers/e2e-changes";
import { backupProblems, startPipeline, type Pipeline, type PipelineOptions } from "./helpers/e2e-pipeline";
import { e2eEnvironment, type E2eEnvironment } from "./helpers/e2e-stack";
import { matchesPattern, StreamPoller, type BatchResponse, type EventSourceMappingSettings } from "../local-aws/stream-poller";
import { startLocalGlue, type JobRunOutcome } from "../local-aws/local-glue";
import type { Item, StreamRecord, StreamRecorder } from "../local-aws/stream-records";

// Alone a pipeline test takes 3-35 s; beside the Terraform tier and the Python suite on 2 cores, one
// took over 300 s. The limit only ends a hung test.
jest.setTimeout(600_000);

/** The default environment (parseProjectConfig({})): api-pagos -> api-pos-backup, key `id` (S), deletes retained. */
let retainEnv: E2eEnvironment;
/** A composite key (pk N + sk B: with the default id S, every key type) and `deletes: "mirror"`. */
let mirrorEnv: E2eEnvironment;
beforeAll(() => {
  retainEnv = e2eEnvironment({});
  mirrorEnv = e2eEnvironment({
    environments: { "e2e-mirror": { sourceTable: { partitionKey: { name: "pk", type: "N" }, sortKey: { name: "sk", type: "B" } }, deletes: "mirror" } },
  });
});

const open: Pipeline[] = [];
async function startIn(environment: E2eEnvironment, options: PipelineOptions = {}): Promise<Pipeline> {
  const pipeline = await startPipeline(environment, options);
  open.push(pipeline);
  return pipeline;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((pipeline) => pipeline.close()));
});

/** Closes the pipeline (which stops capturing the function's console) and prints one line. */
async function report(name: string, pipeline: Pipeline): Promise<void> {
  const summary = pipeline.summary();
  await pipeline.close();
  open.splice(open.indexOf(pipeline), 1);
  const ratio = summary.runs === 0 ? "-" : (summary.batches / summary.runs).toFixed(1);
  const scripts = pipeline.job.runs;
  const meanRun = scripts.length === 0 ? "-" : (scripts.reduce((sum, run) => sum + run.seconds, 0) / scripts.length).toFixed(2);
  console.log(
    `e2e ${name}: ${summary.batches} batches (${summary.invocations} invocations), ${summary.runs} Glue runs ` +
      `(${summary.failedRuns} failed), ${ratio} batches per run; ${summary.reusedWaitingRuns} invocations relied on a WAITING run, ` +
      `${summary.runsNotStarted} could not start one; ${summary.runEndedSweeps} run-end sweeps and ${summary.scheduledSweeps} scheduled sweeps ` +
      `started ${summary.runsStartedBySweeps} runs; ${summary.deadLetters} dead letters; a run's script took ${meanRun} s on average`,
  );
}

/**
 * Drains the pipeline and compares the backup with what it must hold: the source, and under
 * retain every deleted item's last state (see expectedBackup in helpers/e2e-pipeline.ts).
 */
async function expectInStep(pipeline: Pipeline): Promise<void> {
  expect(await pipeline.drain()).toEqual([]); // drained, and no manifest was rejected as malformed
  const problems = await backupProblems(pipeline);
  expect({ count: problems.length, first: problems.slice(0, 5) }).toEqual({ count: 0, first: [] });
  expect(pipeline.glue.problems()).toEqual([]); // every Glue request valid for the real API
  expect(pipeline.summary().sweepFailures).toBe(0);
  expect(pipeline.summary().metricRequests).toBeGreaterThan(0); // the runs published (to the local stand-in)
}

const scanBoth = (pipeline: Pipeline): Promise<Map<string, string>[]> =>
  Promise.all([pipeline.scan(pipeline.environment.sourceTable.name), pipeline.scan(pipeline.environment.backupTable.name)]);

/** Sizes of the source and the backup after insertsModifiesDeletes: 62 keys written, 25 left in the source. */
const AFTER_INSERTS_MODIFIES_DELETES = { source: 25, keysWritten: 62 };

/**
 * Inserts, then modifies, then deletes, each phase drained and compared; then changes and deletes
 * of the same items close together: within one batching window (one batch, so the run that
 * applies it reads the source after the deletes), and in consecutive batches (the deletes reach
 * the stream while the run started for the writes has barely started, if at all).
 */
async function insertsModifiesDeletes(pipeline: Pipeline, seed: number): Promise<void> {
  const { schema } = pipeline.environment.sourceTable;
  const random = seededRandom(seed);
  const update = (r: StreamRecorder, i: number) =>
    r.update(keyAt(schema, i), "SET amount = :a REMOVE #raw ADD tags :t", { ":a": { N: String(Math.floor(random() * 1e6) / 100) }, ":t": { SS: [`m${i}`] } }, { "#raw": "raw" });
  await pipeline.write(async (r) => {
    for (let i = 0; i < 40; i += 1) await r.put({ ...keyAt(schema, i), ...randomAttributes(random) });
  });
  // 40 records, fewer than a batch: it is delivered when its batching window ends (simulated time).
  const windowMs = pipeline.environment.eventSourceMapping.batchingWindowSeconds * 1000;
  await pipeline.advance(windowMs - 1);
  expect(pipeline.poller.stats.batches).toBe(0);
  await pipeline.advance(1);
  expect(pipeline.poller.stats.batches).toBe(1);
  await expectInStep(pipeline);
  await pipeline.write(async (r) => {
    for (let i = 0; i < 40; i += 2) {
      if (i % 4 === 0) await r.put({ ...keyAt(schema, i), ...randomAttributes(random) });
      else await r.update(keyAt(schema, i), "SET amount = :a REMOVE #raw ADD tags :t", { ":a": { N: "-0.5" }, ":t": { SS: ["modified"] } }, { "#raw": "raw" });
    }
  });
  await expectInStep(pipeline);
  await pipeline.write(async (r) => {
    for (let i = 0; i < 40; i += 3) await r.delete(keyAt(schema, i));
  });
  await expectInStep(pipeline);

  // One batching window, one batch: every change below is in the stream before the batch closes.
  const batchesBefore = pipeline.poller.stats.batches;
  const recordsBefore = pipeline.recorder.records.length;
  await pipeline.write(async (r) => {
    for (let i = 40; i < 52; i += 1) await r.put({ ...keyAt(schema, i), ...randomAttributes(random) }); // new items
    for (let i = 40; i < 46; i += 1) await update(r, i); // ... modified
    for (let i = 40; i < 48; i += 1) await r.delete(keyAt(schema, i)); // ... and deleted: 40-45 modified, 46-47 as inserted
    for (const i of [1, 2, 4]) await update(r, i); // existing items modified, then deleted
    for (const i of [1, 2, 4, 5]) await r.delete(keyAt(schema, i)); // (5 as it already was)
    await r.put({ ...keyAt(schema, 0), ...randomAttributes(random) }); // deleted earlier: inserted again, modified, deleted again
    await update(r, 0);
    await r.delete(keyAt(schema, 0));
    await r.put({ ...keyAt(schema, 3), ...randomAttributes(random) }); // deleted earlier: inserted again (stays)
    await r.delete(keyAt(schema, 7)); // deleted, then inserted again (stays)
    await r.put({ ...keyAt(schema, 7), ...randomAttributes(random) });
  });
  expect(pipeline.recorder.records.length - recordsBefore).toBeLessThanOrEqual(pipeline.environment.eventSourceMapping.batchSize);
  await pipeline.advance(windowMs);
  expect(pipeline.poller.stats.batches).toBe(batchesBefore + 1);
  await expectInStep(pipeline);

  // Consecutive batches: written (a run starts for them), then deleted at once, in the next batch.
  await pipeline.write(async (r) => {
    for (let i = 60; i < 70; i += 1) await r.put({ ...keyAt(schema, i), ...randomAttributes(random) });
    for (const i of [8, 10]) await update(r, i);
  }, windowMs);
  expect(pipeline.poller.stats.batches).toBe(batchesBefore + 2);
  await pipeline.write(async (r) => {
    for (let i = 60; i < 70; i += 1) await r.delete(keyAt(schema, i));
    for (const i of [8, 10]) await r.delete(keyAt(schema, i));
  }, windowMs);
  expect(pipeline.poller.stats.batches).toBe(batchesBefore + 3);
  await expectInStep(pipeline);
}

// Glue's documentation leaves open whether a Python shell start at the job's limit is queued or
// refused (README, "What AWS documents"): the suite runs under both answers.
describe.each([["queue"], ["refuse"]] as const)("end to end (a start while a run is busy: %s): a change written to api-pagos shows up in api-pos-backup", (glueStarts) => {
  const start = (environment: E2eEnvironment): Promise<Pipeline> => startIn(environment, { glueStarts });
  const name = (what: string): string => `${what} [starts: ${glueStarts}]`;
  // The scenarios whose Glue traffic does not depend on the answer run once (suite time).
  const bothWays = test;
  const queueOnly = glueStarts === "queue" ? test : () => undefined;

  queueOnly("inserts, modifies, deletes; deletes: retain (default config) keeps every deleted item's last state, even when deleted right after a write", async () => {
    // The synthesized mapping's filter (read from the stack, not written here) must let REMOVE
    // records through under retain: the function needs their OldImage.
    const { filterPatterns } = retainEnv.eventSourceMapping;
    expect(filterPatterns.length === 0 || filterPatterns.some((pattern) => matchesPattern(pattern, { eventName: "REMOVE" }))).toBe(true);
    const pipeline = await start(retainEnv);
    await insertsModifiesDeletes(pipeline, 1);
    const [source, backup] = await scanBoth(pipeline);
    expect([source.size, backup.size]).toEqual([AFTER_INSERTS_MODIFIES_DELETES.source, AFTER_INSERTS_MODIFIES_DELETES.keysWritten]);
    expect(pipeline.poller.stats.filtered).toBe(0); // the REMOVE records reach the function
    // The function listed the deleted items' last states in its manifests (the apply job keeps
    // them): 14 in the delete phase, 13 in the one-window batch, 12 in the batch after the writes.
    const removedItems = pipeline.handlerLogs.map(({ line }) => line.removedItems).filter((n): n is number => typeof n === "number" && n > 0);
    expect(removedItems).toEqual([14, 13, 12]);
    await report(name("retain: inserts, modifies, deletes"), pipeline);
  });

  queueOnly("inserts, modifies, deletes; composite key and deletes: mirror", async () => {
    const pipeline = await start(mirrorEnv);
    await insertsModifiesDeletes(pipeline, 2);
    const [source, backup] = await scanBoth(pipeline);
    expect([source.size, backup.size]).toEqual([AFTER_INSERTS_MODIFIES_DELETES.source, AFTER_INSERTS_MODIFIES_DELETES.source]);
    expect(pipeline.handlerLogs.filter(({ line }) => typeof line.removedItems === "number" && line.removedItems > 0)).toEqual([]);
    await report(name("mirror: inserts, modifies, deletes"), pipeline);
  });

  queueOnly("S3 failures: the function's manifest write fails, the batch is retried; the job's S3 errors are retried", async () => {
    const pipeline = await start(retainEnv);
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(4);
    for (let chunk = 0; chunk < 12; chunk += 1) {
      if (chunk === 5) pipeline.s3.failNext({ status: 500, code: "InternalError", times: 3, match: (r) => r.method === "PUT" });
      if (chunk === 9) pipeline.s3.failNext({ status: 503, code: "SlowDown", times: 1, match: (r) => r.method === "DELETE" });
      await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 50, keys: 400, random, concurrency: 10 }), 50);
    }
    await expectInStep(pipeline);
    const failedBatches = pipeline.handlerLogs.filter(({ line }) => line.step === "s3:PutObject");
    expect(failedBatches).toHaveLength(1);
    expect(pipeline.s3.requests.filter((r) => r.status >= 500).map((r) => r.method)).toEqual(["PUT", "PUT", "PUT", "DELETE"]);
    expect(pipeline.summary().failedRuns).toBe(0);
    await report(name("S3 failures (retain)"), pipeline);
  });

  queueOnly("a poison record ends in the dead-letter list after the retry budget; the other records still flow", async () => {
    const pipeline = await start(retainEnv);
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(5);
    let poison: Record<string, unknown> | undefined;
    for (let chunk = 0; chunk < 8; chunk += 1) {
      await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 50, keys: 400, random, concurrency: 10 }), 50);
      if (chunk === 4) {
        // A record the function cannot read (its key is not S/N/B), in the middle of a batch.
        const last = pipeline.recorder.records[pipeline.recorder.records.length - 1] as StreamRecord;
        poison = { ...last, eventName: "INSERT", dynamodb: { ...last.dynamodb, Keys: { id: { NULL: true } }, SequenceNumber: String(BigInt(last.dynamodb.SequenceNumber) + 1n) } };
        pipeline.inject([poison]);
      }
    }
    await expectInStep(pipeline);
    const { maximumRetryAttempts } = pipeline.environment.eventSourceMapping;
    expect(pipeline.poller.deadLetters).toHaveLength(1);
    const [letter] = pipeline.poller.deadLetters;
    expect(letter?.records[0]).toBe(poison);
    expect(letter?.records.length).toBeGreaterThan(1); // the batch's records after it went along (their keys were applied anyway)
    expect(letter?.approximateInvokeCount).toBe(1 + maximumRetryAttempts);
    await report(name("poison record (retain)"), pipeline);
  });

  bothWays("a burst of 1,500 changes while runs overlap, with a Glue failure in the middle: nothing lost, runs coalesced", async () => {
    const pipeline = await start(mirrorEnv);
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(3);
    let crashed: string[] = [];
    for (let chunk = 0; chunk < 30; chunk += 1) {
      // From the 40% mark, the first time a run is RUNNING: its worker dies (the run FAILS), and
      // StartJobRun answers 500 to all of the SDK's attempts for a while. Whoever calls it next (the
      // sweep of the dead run's end, or a batch) fails to start a run: a batch logs it and succeeds
      // (its manifest is durable), the sweep is retried as EventBridge's asynchronous invocation is.
      if (chunk >= 12 && crashed.length === 0 && pipeline.glue.runs.some((run) => run.JobRunState === "RUNNING")) {
        pipeline.glue.failNext({ operation: "StartJobRun", errorType: "InternalServiceException", status: 500, times: 3 });
        crashed = await pipeline.job.crashRunning();
        expect(pipeline.glue.runs.filter((run) => crashed.includes(run.Id)).map((run) => run.JobRunState)).toEqual(["FAILED"]);
        expect(pipeline.glue.runs.some((run) => run.JobRunState === "WAITING")).toBe(false);
      }
      // 50 changes per 50 ms of simulated time: 1,000 changes/s, full batches.
      await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 50, keys: 1500, random, concurrency: 10 }), 50);
    }
    expect(pipeline.recorder.records).toHaveLength(1500);
    await expectInStep(pipeline);

    const summary = pipeline.summary();
    expect(crashed).toHaveLength(1);
    expect(summary.invocations).toBe(summary.batches); // no batch is failed for a run that did not start
    expect(summary.failedRuns).toBe(1);
    expect(summary.deadLetters).toBe(0);
    expect(summary.sweepFailures).toBe(0);
    // Queued: batches during a run rely on the WAITING one. Refused: their starts are refused, logged.
    if (glueStarts === "queue") expect(summary.reusedWaitingRuns).toBeGreaterThan(0);
    else expect(summary.runsNotStarted).toBeGreaterThan(0);
    expect(summary.batches).toBeGreaterThanOrEqual(15);
    // Coalesced: batches arriving while a run works rely on the queued run, or are applied by the
    // running one when their start is refused: fewer runs than batches (how many fewer depends on how
    // fast runs end against how fast batches come, i.e. on the machine's load: 3 to 15 runs for 25
    // batches measured).
    expect(summary.runs).toBeLessThan(summary.batches);
    await report(name("burst of 1,500 changes (mirror, composite key), Glue failures"), pipeline);
  });
});

/** Percentile (nearest rank) of numbers. */
const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

describe.each([["queue"], ["refuse"]] as const)("liveness under sustained load (a start while a run is busy: %s)", (glueStarts) => {
  test("a steady write rate over many batches while runs overlap: write-to-backup lag, no dead letters, nothing lost", async () => {
    const pipeline = await startIn(retainEnv, { glueStarts });
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(glueStarts === "queue" ? 7 : 8);
    const stepMs = 200; // simulated: 41 changes each, about 200 changes/s, a full batch about every half second (15 batches)
    const probes: { key: Item; writtenAt: number; seenAt?: number }[] = [];
    let overlapped = 0;
    for (let step = 0; step < 36; step += 1) {
      const key = keyAt(schema, 100000 + step); // a probe: written once, its arrival in the backup timed
      probes.push({ key, writtenAt: pipeline.now });
      await pipeline.write(async (r) => {
        await writeRandomChanges(r, schema, { changes: 40, keys: 600, random, concurrency: 10 });
        await r.put({ ...key, probe: { N: String(step) } });
      }, stepMs);
      if (pipeline.glue.runs.some((run) => run.JobRunState === "RUNNING")) overlapped += 1;
      const unseen = probes.filter((probe) => probe.seenAt === undefined);
      const found = await pipeline.ddb.call<{ Responses: Record<string, Item[]> }>("BatchGetItem", {
        RequestItems: { [pipeline.environment.backupTable.name]: { Keys: unseen.map((probe) => probe.key), ConsistentRead: true } },
      });
      const arrived = new Set((found.Responses[pipeline.environment.backupTable.name] ?? []).map((item) => pipeline.keyOf(item)));
      for (const probe of unseen) if (arrived.has(pipeline.keyOf(probe.key))) probe.seenAt = pipeline.now;
    }
    const writesEnd = pipeline.now;
    await expectInStep(pipeline);
    const summary = pipeline.summary();
    expect(summary.deadLetters).toBe(0);
    expect(summary.invocations).toBe(summary.batches);
    expect(overlapped).toBeGreaterThan(3); // runs overlapped the writes
    const lags = probes.filter((probe) => probe.seenAt !== undefined).map((probe) => probe.seenAt! - probe.writtenAt);
    const late = probes.length - lags.length; // still on the way when the writes stopped: applied by the drain
    expect(lags.length).toBeGreaterThan(probes.length / 2);
    await report(`sustained load [starts: ${glueStarts}]`, pipeline); // (closing it gives the console back)
    console.log(
      `e2e sustained load [starts: ${glueStarts}]: ${pipeline.recorder.records.length} changes in ${writesEnd / 1000} s simulated, ` +
        `${summary.batches} batches, ${summary.runs} runs; write-to-backup lag (simulated; runs take their real time) ` +
        `median ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms over ${lags.length} probes, ${late} applied after the writes stopped; ` +
        `${summary.deadLetters} dead letters`,
    );
  });
});

describe("liveness when Glue does not do what a start asked for", () => {
  test("WAITING runs that end FAILED without running (Glue: after 15 minutes or 10 attempts): the run-end sweep starts another; nothing stranded", async () => {
    const pipeline = await startIn(retainEnv, { glueStarts: "queue" });
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(9);
    pipeline.glue.failWaitingRuns(3);
    for (let chunk = 0; chunk < 8; chunk += 1) {
      await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 100, keys: 400, random, concurrency: 10 }), 50);
    }
    await expectInStep(pipeline);
    const summary = pipeline.summary();
    const waitedAndFailed = pipeline.glue.runs.filter((run) => run.JobRunState === "FAILED" && run.ExecutionTime === undefined);
    expect(waitedAndFailed.length).toBeGreaterThan(0);
    expect(summary.reusedWaitingRuns).toBeGreaterThan(0); // batches relied on runs that then failed
    // Who starts the next run depends on when a WAITING run fails: after the last run-end sweep relied
    // on it, only the schedule is left (as designed: it bounds the wait). Each failed WAITING run needs
    // at most one scheduled sweep; on a quiet machine the run-end sweeps alone usually do it.
    expect(summary.scheduledSweeps).toBeLessThanOrEqual(waitedAndFailed.length);
    expect(summary.deadLetters).toBe(0);
    await report("WAITING runs fail", pipeline);
  });

  test("run-end events lost (EventBridge is best effort), starts refused, the last run dying mid-pass: the schedule alone brings every manifest in", async () => {
    const pipeline = await startIn(retainEnv, { glueStarts: "refuse", runEndedEvents: "lost" });
    const { schema } = pipeline.environment.sourceTable;
    const random = seededRandom(10);
    for (let chunk = 0; chunk < 4; chunk += 1) {
      await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 100, keys: 400, random, concurrency: 10 }), 50);
    }
    await pipeline.glue.whenIdle();
    // One more batch starts a run (none is busy), whose worker dies at once (a run ending on
    // RetryBudgetExceeded is the same case): it ends FAILED, and no event says so.
    await pipeline.write((r) => writeRandomChanges(r, schema, { changes: 100, keys: 400, random, concurrency: 10 }), 50);
    const crashed = await pipeline.job.crashRunning();
    expect(crashed).toHaveLength(1);
    expect((await pipeline.s3.listKeys(pipeline.environment.bucket, pipeline.environment.lambda.environment.MANIFEST_PREFIX ?? "")).length).toBeGreaterThan(0);
    await expectInStep(pipeline);
    const summary = pipeline.summary();
    expect(summary.runEndedSweeps).toBe(0);
    expect(summary.scheduledSweeps).toBeGreaterThan(0);
    expect(summary.runsStartedBySweeps).toBeGreaterThan(0);
    expect(summary.deadLetters).toBe(0);
    await report("run-end events lost, starts refused, the last run killed", pipeline);
  });
});

describe("the stream poller follows the event source mapping's rules (checked on a fake function)", () => {
  const settings: EventSourceMappingSettings = {
    batchSize: 3,
    batchingWindowSeconds: 5,
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: 2,
    reportBatchItemFailures: true,
    filterPatterns: [{ eventName: ["INSERT", "MODIFY"] }],
  };
  const record = (n: number, eventName = "INSERT") => ({ eventName, dynamodb: { SequenceNumber: String(n) } });
  const seqs = (event: { Records: unknown[] }) => event.Records.map((r) => Number((r as ReturnType<typeof record>).dynamodb.SequenceNumber));

  test("batches close when full or when the window ends; filtered records are never delivered", async () => {
    const calls: number[][] = [];
    const poller = new StreamPoller(settings, async (event) => void calls.push(seqs(event)));
    poller.append([record(1), record(2, "REMOVE"), record(3)], 0);
    poller.append([record(4)], 1000);
    await poller.deliverDue(4999);
    expect(calls).toEqual([[1, 3, 4]]); // full at 1000 ms
    poller.append([record(5)], 2000);
    await poller.deliverDue(6999);
    expect(calls).toHaveLength(1);
    await poller.deliverDue(7000); // window of the batch that starts at 2000 ms
    expect(calls).toEqual([[1, 3, 4], [5]]);
    expect(poller.stats.filtered).toBe(1);
  });

  test("a reported failure is retried from its sequence number; after the retries it is dead-lettered", async () => {
    const calls: number[][] = [];
    const poller = new StreamPoller(settings, async (event): Promise<BatchResponse> => {
      calls.push(seqs(event));
      return { batchItemFailures: seqs(event).includes(2) ? [{ itemIdentifier: "2" }] : [] };
    });
    poller.append([record(1), record(2), record(3), record(4)], 0);
    await poller.deliverAll();
    expect(calls).toEqual([[1, 2, 3], [2, 3], [2, 3], [4]]);
    expect(poller.deadLetters).toMatchObject([{ startSequenceNumber: "2", endSequenceNumber: "3", batchSize: 2, approximateInvokeCount: 3 }]);
  });

  test("a function error bisects the batch; the failing record alone uses up the retries", async () => {
    const calls: number[][] = [];
    const poller = new StreamPoller(settings, async (event) => {
      calls.push(seqs(event));
      if (seqs(event).includes(3)) throw new Error("boom");
      return { batchItemFailures: [] };
    });
    poller.append([record(1), record(2), record(3)], 0);
    await poller.deliverAll();
    expect(calls).toEqual([[1, 2, 3], [1, 2], [3], [3], [3]]);
    expect(poller.deadLetters.map((letter) => letter.startSequenceNumber)).toEqual(["3"]);
  });
});

describe("the local Glue endpoint keeps run states like Glue (checked on a scripted job)", () => {
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  test("max 1 run with queuing: later starts WAIT and run in turn; SUCCEEDED or FAILED from the outcome; newest first", async () => {
    const ends: ((outcome: JobRunOutcome) => void)[] = [];
    const executed: Record<string, string>[] = [];
    const glue = await startLocalGlue({
      jobs: {
        job: {
          maxConcurrentRuns: 1,
          jobRunQueuing: true,
          defaultArguments: { "--a": "1", "--b": "2" },
          execute: (_run, args) => new Promise<JobRunOutcome>((resolve) => void (executed.push(args), ends.push(resolve))),
        },
      },
    });
    try {
      const [first, second, third] = [glue.startJobRun("job"), glue.startJobRun("job", { "--b": "3" }), glue.startJobRun("job")];
      const states = (): string[][] => glue.runs.map((run) => [run.Id, run.JobRunState]);
      expect(states()).toEqual([[third, "WAITING"], [second, "WAITING"], [first, "RUNNING"]]);
      ends[0]!({ succeeded: false, errorMessage: "boom" });
      await settle();
      expect(states()).toEqual([[third, "WAITING"], [second, "RUNNING"], [first, "FAILED"]]);
      expect(glue.runs[2]).toMatchObject({ ErrorMessage: "boom", CompletedOn: expect.any(Number), ExecutionTime: expect.any(Number) });
      ends[1]!({ succeeded: true });
      await settle();
      expect(states()).toEqual([[third, "RUNNING"], [second, "SUCCEEDED"], [first, "FAILED"]]);
      ends[2]!({ succeeded: true });
      await glue.whenIdle();
      expect(executed).toEqual([{ "--a": "1", "--b": "2" }, { "--a": "1", "--b": "3" }, { "--a": "1", "--b": "2" }]);
    } finally {
      await glue.close();
    }
  });

  test("without job run queuing, a start while a run is busy is ConcurrentRunsExceededException", async () => {
    const glue = await startLocalGlue({ jobs: { job: { jobRunQueuing: false, execute: () => new Promise<JobRunOutcome>(() => undefined) } } });
    try {
      glue.startJobRun("job");
      expect(() => glue.startJobRun("job")).toThrow(expect.objectContaining({ type: "ConcurrentRunsExceededException" }));
    } finally {
      await glue.close();
    }
  });
});
