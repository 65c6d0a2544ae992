/**
 * The whole pipeline on one machine, for the end-to-end test, from an E2eEnvironment (e2e-stack.ts):
 *
 *   DynamoDB Local: source + backup tables; writes to the source -> its DynamoDB Streams API ->
 *     StreamRecorder (reads the stream shard by shard) -> stream records
 *   StreamPoller (the event source mapping, simulated time) -> the BUNDLED change-trigger zip,
 *     run in its own node process like Lambda -> s3rver (manifests) + local Glue endpoint
 *   local Glue: StartJobRun / GetJobRuns, runs RUNNING one at a time (queued runs WAITING, or
 *     refused with ConcurrentRunsExceededException: `glueStarts`), each run is
 *     the synthesized apply_changes.py under `python3`, the synthesized wheel its only job code,
 *     with the job's arguments -> backup table
 *   the sweep: every run's end is delivered to the same function as EventBridge's "Glue Job State
 *     Change" event (the stack's rule), and drain() stands in for the schedule
 *
 * `drain()` brings it to rest; `backupProblems()` compares the backup with what it must hold
 * (`expectedBackup()`: the source, and under retain every deleted item's last state) item by item.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { startBundledHandler, type BundledHandler } from "../../local-aws/lambda-node";
import { Cleanup, startedTogether } from "./cleanup";
import { pythonJob, pythonWithBoto3, type PythonJob } from "../../local-aws/glue-python-job";
import { withLocalTableNames, type E2eEnvironment } from "./e2e-stack";
import { StreamPoller } from "../../local-aws/stream-poller";
import { DynamoError, dynamoDbLocal, type LocalDynamo } from "../../local-aws/local-dynamodb";
import { startLocalGlue, type LocalGlue, type LocalJobRun } from "../../local-aws/local-glue";
import { EVENTBRIDGE_DIR } from "./reference";
import { SWEPT_RUN_STATES } from "../../stacks/constructs/apply-sweep";
import { startLocalCloudWatch, type LocalCloudWatch } from "./local-cloudwatch";
import { S3RVER_CREDENTIALS, startLocalS3, type LocalS3 } from "../../local-aws/local-s3";
import { canonical, createTable, StreamRecorder, type Item, type StreamRecord } from "../../local-aws/stream-records";

let python: string | undefined;

/** A console line the bundled handler logged (it logs one object per line). */
export interface HandlerLog {
  readonly level: string;
  readonly line: Record<string, unknown>;
}

/** How the local Glue answers a start while a run is busy, and whether run-end events arrive. */
export interface PipelineOptions {
  /** "queue": the start WAITs (job run queuing, the stack's setting); "refuse": ConcurrentRunsExceededException. */
  readonly glueStarts?: "queue" | "refuse";
  /** "lost": no run-end event reaches the sweep (EventBridge is best effort): only the schedule starts runs. */
  readonly runEndedEvents?: "delivered" | "lost";
}

export interface PipelineSummary {
  /** Batches read from the stream / invocations of the function (retries and halves included). */
  readonly batches: number;
  readonly invocations: number;
  /** Glue runs started (by the function and by drain()), of which FAILED. */
  readonly runs: number;
  readonly failedRuns: number;
  /** Scheduled sweeps drain() delivered because manifests were left with no run busy. */
  readonly scheduledSweeps: number;
  /** Run-end events delivered to the sweep, and the runs sweeps started. */
  readonly runEndedSweeps: number;
  readonly runsStartedBySweeps: number;
  /** Batches whose run the function could not start (logged, left to the sweep). */
  readonly runsNotStarted: number;
  /** Sweeps that failed all three attempts of an asynchronous invocation (the schedule would come round). */
  readonly sweepFailures: number;
  /** Invocations that found a WAITING run to rely on instead of starting one (the function logs it). */
  readonly reusedWaitingRuns: number;
  readonly deadLetters: number;
  /** PutMetricData requests the apply runs sent. */
  readonly metricRequests: number;
}

export interface Pipeline {
  readonly environment: E2eEnvironment;
  readonly ddb: LocalDynamo;
  readonly s3: LocalS3;
  readonly glue: LocalGlue;
  readonly job: PythonJob;
  readonly poller: StreamPoller;
  readonly recorder: StreamRecorder;
  /** What the function logged, in order. */
  readonly handlerLogs: HandlerLog[];
  /** Simulated time (ms) of the stream. */
  readonly now: number;
  /**
   * Writes to the source table; the changes become stream records at the current simulated time,
   * the clock moves on by `advanceMs`, and every batch due by then is delivered.
   */
  write(writes: (recorder: StreamRecorder) => Promise<unknown>, advanceMs?: number): Promise<void>;
  /** Puts records on the stream as they are (e.g. a malformed one) at the current simulated time. */
  inject(records: readonly unknown[]): void;
  /** Moves simulated time on and delivers the batches that became due. */
  advance(ms: number): Promise<void>;
  /**
   * Brings the pipeline to rest: every record delivered (however long the windows), every sweep
   * done, no run RUNNING or WAITING, no manifest left (if some are, the scheduled sweep is
   * delivered, as EventBridge's schedule would). Returns the manifest keys under the rejected
   * prefix (expect none).
   */
  drain(): Promise<string[]>;
  /** Delivers one scheduled sweep (the schedule rule's event) and waits for it. */
  scheduledSweep(): Promise<unknown>;
  summary(): PipelineSummary;
  /** The typed key of an item (or a stream record's Keys), as JSON: the identity scan() uses. */
  keyOf(item: Item): string;
  /** Every item of a table: typed key (JSON) -> the item's JSON text as DynamoDB Local returns it. */
  scan(table: string): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/** Starts every piece for one environment; pair with close(). */
export async function startPipeline(configured: E2eEnvironment, options: PipelineOptions = {}): Promise<Pipeline> {
  python ??= pythonWithBoto3();
  const environment = withLocalTableNames(configured);
  const { sourceTable, backupTable, applyJob, bucket, config } = environment;
  const region = config.region;
  const credentials = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };

  // Everything started is registered as it starts: a setup that fails half-way leaves nothing running.
  const cleanup = new Cleanup();
  let setupDone = false;
  try {
    const [ddb, s3, cloudwatch] = await startedTogether([dynamoDbLocal(), startLocalS3({ buckets: [bucket] }), startLocalCloudWatch()]);
    cleanup.closes(ddb);
    cleanup.closes(s3);
    cleanup.closes(cloudwatch);
    // (createTable turns a stream on for both; nothing reads the backup's.) Dropped at the end: the
    // shared DynamoDB Local gets slower with every stream record it keeps.
    cleanup.add(undefined, () => dropTables(ddb, [sourceTable.name, backupTable.name]));
    const recorder = await StreamRecorder.create(ddb, sourceTable.name, sourceTable.schema);
    await createTable(ddb, backupTable.name, backupTable.schema);

    const jobEnv: Record<string, string> = {
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH: cloudwatch.endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      ...credentials,
    };
    // The job code as Glue gets it: the synthesized script and wheel, in a folder of their own.
    const jobDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-glue-job-"));
    cleanup.add(undefined, () => fs.rmSync(jobDir, { recursive: true, force: true }));
    for (const file of [applyJob.script, applyJob.library]) fs.writeFileSync(path.join(jobDir, file.fileName), file.bytes);
    const job = pythonJob({
      python,
      script: path.join(jobDir, applyJob.script.fileName),
      pythonPath: path.join(jobDir, applyJob.library.fileName),
      env: jobEnv,
    });
    const sweeps = new SweepTracker();
    const glue = cleanup.closes(
      await startLocalGlue({
        jobs: {
          [applyJob.name]: {
            maxConcurrentRuns: applyJob.maxConcurrentRuns,
            jobRunQueuing: options.glueStarts === undefined ? applyJob.jobRunQueuing : options.glueStarts === "queue",
            defaultArguments: applyJob.defaultArguments,
            execute: job.execute,
          },
        },
        onRunEnded: (run) => {
          // The stack's rule matches these end states only (a failed run is the schedule's to restart).
          const matched = (SWEPT_RUN_STATES as readonly string[]).includes(run.JobRunState);
          if (options.runEndedEvents !== "lost" && matched) sweeps.deliver(runEndedEvent(run, region));
        },
      }),
    );
    // Runs still executing when the pipeline closes are ended, not waited for forever.
    cleanup.add(undefined, () => job.crashRunning().then(() => undefined));

    // The function as Lambda runs it: the synthesized zip, unzipped, loaded by its own node process.
    const [moduleName, exportName] = environment.lambda.handler.split(".");
    if (exportName !== "handler") throw new Error(`e2e: the runner calls exports.handler, the stack says ${environment.lambda.handler}`);
    const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-lambda-"));
    cleanup.add(undefined, () => fs.rmSync(codeDir, { recursive: true, force: true }));
    for (const [name, bytes] of Object.entries(unzipSync(environment.lambda.zip))) {
      fs.mkdirSync(path.dirname(path.join(codeDir, name)), { recursive: true });
      fs.writeFileSync(path.join(codeDir, name), bytes);
    }
    const handlerLogs: HandlerLog[] = [];
    // The runner re-logs the function's console lines here; keep them (and out of jest's output).
    for (const level of ["log", "info", "warn", "error"] as const) {
      const spy = jest.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        handlerLogs.push({ level, line: (args.length === 1 && typeof args[0] === "object" ? args[0] : { args }) as Record<string, unknown> });
      });
      cleanup.add(undefined, () => spy.mockRestore());
    }
    const fn: BundledHandler = await startBundledHandler(path.join(codeDir, `${moduleName}.js`), {
      PATH: process.env.PATH,
      ...environment.lambda.environment,
      // What the Lambda runtime provides, pointed at the local endpoints.
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      ...credentials,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_GLUE: glue.endpoint,
      AWS_S3_FORCE_PATH_STYLE: "true",
      AWS_EC2_METADATA_DISABLED: "true",
    }, environment.lambda.runtime);
    cleanup.add(undefined, () => fn.stop());
    sweeps.attach(fn);
    const pipeline = assemble({ environment, ddb, s3, glue, job, recorder, handlerLogs, fn, cleanup, sweeps, cloudwatch });
    setupDone = true;
    return pipeline;
  } finally {
    if (!setupDone) await cleanup.run();
  }
}

/** A "Glue Job State Change" event for a run that ended, as the stack's rule delivers it (reference/eventbridge). */
let runEndedTemplate: Record<string, unknown> | undefined;
function runEndedEvent(run: LocalJobRun, region: string): Record<string, unknown> {
  runEndedTemplate ??= JSON.parse(fs.readFileSync(path.join(EVENTBRIDGE_DIR, "glue-job-state-change-failed.json"), "utf8")) as Record<string, unknown>;
  const template = runEndedTemplate;
  const succeeded = run.JobRunState === "SUCCEEDED";
  return {
    ...template,
    region,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    detail: { jobName: run.JobName, severity: succeeded ? "INFO" : "ERROR", state: run.JobRunState, jobRunId: run.Id, message: succeeded ? "Job run succeeded" : (run.ErrorMessage ?? "") },
  };
}

/**
 * The sweeps delivered to the function. EventBridge invokes it asynchronously: Lambda retries a
 * failed invocation twice (its default), then drops it; errors are kept, not thrown.
 */
class SweepTracker {
  private fn: BundledHandler | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly early: Record<string, unknown>[] = [];
  readonly outcomes: unknown[] = [];
  readonly errors: unknown[] = [];
  runEnded = 0;

  attach(fn: BundledHandler): void {
    this.fn = fn;
    for (const event of this.early.splice(0)) this.deliver(event);
  }

  deliver(event: Record<string, unknown>): Promise<unknown> {
    if (this.fn === undefined) {
      this.early.push(event);
      return Promise.resolve();
    }
    if (event.source === "aws.glue") this.runEnded += 1;
    const fn = this.fn;
    const attempt = async (): Promise<void> => {
      for (let left = 3; ; left -= 1) {
        try {
          this.outcomes.push(await fn.handler(event));
          return;
        } catch (error) {
          if (left === 1) {
            this.errors.push(error);
            return;
          }
        }
      }
    };
    const call = attempt();
    this.inFlight.add(call);
    void call.finally(() => this.inFlight.delete(call));
    return call;
  }

  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}

async function dropTables(ddb: LocalDynamo, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map((name) =>
      ddb.call("DeleteTable", { TableName: name }).catch((error: unknown) => {
        if (!(error instanceof DynamoError && error.type === "ResourceNotFoundException")) throw error;
      }),
    ),
  );
}

interface Parts {
  readonly environment: E2eEnvironment;
  readonly ddb: LocalDynamo;
  readonly s3: LocalS3;
  readonly glue: LocalGlue;
  readonly job: PythonJob;
  readonly recorder: StreamRecorder;
  readonly handlerLogs: HandlerLog[];
  readonly fn: BundledHandler;
  readonly cleanup: Cleanup;
  readonly sweeps: SweepTracker;
  readonly cloudwatch: LocalCloudWatch;
}

function assemble({ environment, ddb, s3, glue, job, recorder, handlerLogs, fn, cleanup, sweeps, cloudwatch }: Parts): Pipeline {
  const { sourceTable, applyJob, bucket } = environment;
  const poller = new StreamPoller(environment.eventSourceMapping, (event) => fn.handler(event));
  const manifestPrefix = environment.lambda.environment.MANIFEST_PREFIX ?? "";
  const rejectedPrefix = applyJob.defaultArguments["--rejected_prefix"] ?? "rejected/";
  let now = 0;
  let scheduledSweeps = 0;
  const scheduledEvent = JSON.parse(fs.readFileSync(path.join(EVENTBRIDGE_DIR, "scheduled-event.json"), "utf8")) as Record<string, unknown>;

  const keyOf = (item: Item): string => JSON.stringify([sourceTable.schema.partitionKey, sourceTable.schema.sortKey].filter((k) => k !== undefined).map((k) => item[k.name]));

  const pipeline: Pipeline = {
    environment,
    ddb,
    s3,
    glue,
    job,
    poller,
    recorder,
    handlerLogs,
    get now() {
      return now;
    },
    async write(writes, advanceMs = 0) {
      const before = recorder.records.length;
      await writes(recorder);
      await recorder.sync(); // whatever else the stream emitted meanwhile (e.g. TTL deletes)
      poller.append(recorder.records.slice(before), now);
      await pipeline.advance(advanceMs);
    },
    inject(records) {
      poller.append(records, now);
    },
    async advance(ms) {
      now += ms;
      await poller.deliverDue(now);
    },
    async drain() {
      for (let round = 0; ; round += 1) {
        if (round > 8) throw new Error("e2e: the pipeline does not come to rest (manifests keep being left)");
        await poller.deliverAll();
        // Runs end, their ends are swept, sweeps start runs...: until all of it is quiet.
        for (;;) {
          await glue.whenIdle();
          await sweeps.settled();
          if (!glue.runs.some((run) => ["STARTING", "RUNNING", "STOPPING", "WAITING"].includes(run.JobRunState))) break;
        }
        if ((await s3.listKeys(bucket, manifestPrefix)).length === 0) break;
        await pipeline.scheduledSweep();
      }
      return s3.listKeys(bucket, rejectedPrefix);
    },
    async scheduledSweep() {
      scheduledSweeps += 1;
      await sweeps.deliver(scheduledEvent);
    },
    keyOf,
    summary() {
      const runs = glue.runs.filter((run) => run.JobName === applyJob.name);
      return {
        batches: poller.stats.batches,
        invocations: poller.stats.invocations,
        runs: runs.length,
        failedRuns: runs.filter((run) => run.JobRunState === "FAILED").length,
        scheduledSweeps,
        runEndedSweeps: sweeps.runEnded,
        runsStartedBySweeps: sweeps.outcomes.filter((outcome) => typeof outcome === "object" && outcome !== null && "startedRun" in outcome).length,
        runsNotStarted: handlerLogs.filter(({ line }) => line.applyRunNotStarted !== undefined).length,
        sweepFailures: sweeps.errors.length,
        metricRequests: cloudwatch.operations.PutMetricData ?? 0,
        reusedWaitingRuns: handlerLogs.filter(({ line }) => line.waitingRun !== undefined).length,
        deadLetters: poller.deadLetters.length,
      };
    },
    async scan(table) {
      const items = new Map<string, string>();
      let start: Record<string, unknown> | undefined;
      do {
        const page = await ddb.call<{ Items: Item[]; LastEvaluatedKey?: Record<string, unknown> }>("Scan", {
          TableName: table,
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        });
        for (const item of page.Items) items.set(keyOf(item), JSON.stringify(item));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    },
    async close() {
      // Let runs end on their own for a while (a test that passed has none left), then end them.
      await Promise.race([glue.whenIdle(), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
      await cleanup.run();
    },
  };
  return pipeline;
}

/** An item's JSON text (as scan() returns it) with its members, at every level, in sorted order. */
const canonicalItem = (text: string): string => canonical(JSON.parse(text));

/**
 * What the backup must hold, item by item, from the source table and the stream records written
 * (typed key JSON -> canonical item JSON). Under `mirror`: the source. Under `retain`: the source,
 * plus, for every key deleted from it (its last record a REMOVE), its last state before the delete
 * (that REMOVE's OldImage), however soon after a write the delete came (same batch, or before a
 * run read the source). Records the test put on the stream without writing them (inject) are not
 * part of the model.
 */
export function expectedBackup(pipeline: Pipeline, source: ReadonlyMap<string, string>): Map<string, string> {
  const expected = new Map<string, string>();
  for (const [key, item] of source) expected.set(key, canonicalItem(item));
  if (pipeline.environment.config.deletes !== "retain") return expected;
  const last = new Map<string, StreamRecord>();
  for (const record of pipeline.recorder.records as StreamRecord[]) last.set(pipeline.keyOf(record.dynamodb.Keys), record);
  for (const [key, record] of last) {
    if (source.has(key)) continue;
    if (record.eventName !== "REMOVE" || record.dynamodb.OldImage === undefined) {
      throw new Error(`e2e: ${key} is not in the source but its last record is ${record.eventName} (the recorder and the table disagree)`);
    }
    const marker = pipeline.environment.config.retainedAttribute;
    expected.set(key, canonical({ ...record.dynamodb.OldImage, [marker]: retainedVersion(record) }));
  }
  return expected;
}

/**
 * The attribute apply-changes adds to a retained item (glue-job/backup_replication/retained.py): the REMOVE record's
 * sequence number zero-padded to 40 digits, and its time as ISO-8601 UTC (milliseconds only when not whole).
 */
function retainedVersion(record: StreamRecord): Item[string] {
  const deletedAt = new Date(record.dynamodb.ApproximateCreationDateTime * 1000).toISOString().replace(".000Z", "Z");
  // Time to Live deletions (the userIdentity AWS documents for them) are marked as such; DynamoDB Local
  // sends none, its TTL deletions are filtered out (README, DynamoDB Local quirks).
  const expired = record.userIdentity?.type === "Service" && record.userIdentity.principalId === "dynamodb.amazonaws.com";
  return { M: { sequenceNumber: { S: record.dynamodb.SequenceNumber.padStart(40, "0") }, deletedAt: { S: deletedAt }, ...(expired ? { timeToLive: { BOOL: true } } : {}) } };
}

/**
 * How the backup differs from what it should hold (expectedBackup), item by item (empty: in
 * step). Items compare as the JSON text DynamoDB Local returns with object members sorted: DynamoDB
 * items and maps have no member order (the server keeps no particular order, and a retained
 * item is written from the manifest's canonical JSON), while every value (strings, numbers as
 * their digits, base64, set and list elements in order) is compared byte for byte.
 */
export async function backupProblems(pipeline: Pipeline): Promise<string[]> {
  const { sourceTable, backupTable } = pipeline.environment;
  const [source, backup] = await Promise.all([pipeline.scan(sourceTable.name), pipeline.scan(backupTable.name)]);
  const expected = expectedBackup(pipeline, source);
  const problems: string[] = [];
  for (const [key, item] of expected) {
    const copy = backup.get(key);
    const what = source.has(key) ? "source item" : "deleted item's last state";
    if (copy === undefined) problems.push(`missing from the backup (${what}): ${key}`);
    else if (canonicalItem(copy) !== item) problems.push(`differs from the ${what}: ${key}\n  expected ${item}\n  backup   ${canonicalItem(copy)}`);
  }
  for (const key of backup.keys()) {
    if (!expected.has(key)) problems.push(`in the backup, but deleted from the source (deletes: ${pipeline.environment.config.deletes}) or never written: ${key}`);
  }
  return problems;
}
