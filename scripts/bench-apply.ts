/**
 * Capacity of apply-changes, in one run; prints one JSON object.
 *
 *   npm run bench:apply [-- --rates 100,200,300,400,500,600,800 --seconds 120 --capacity-args "--backlog 20000"
 *                          --skip-capacity --skip-sustained]
 *
 * `capacity`: glue-job/benchmarks/bench_capacity.py (its docstring): items per CPU-second of the apply
 * path under retain and mirror beside the raw writers, and the spread over 1, 2 and 4 worker processes.
 *
 * `sustained`: the pipeline on this machine in real time, one step per rate of `--rates` (changes per
 * second), each for `--seconds`, stepping up until the backlog grows (then once more half-way between the
 * last rate held and the first one not held). Each step has tables, a bucket, a local Glue and a function
 * of its own, DynamoDB Local included; what it runs is the e2e harness's (local-aws/): DynamoDB Local's
 * stream read as the event source mapping does (StreamPoller, the stack's default batch size and
 * window, real time), the change-trigger function bundled and run in a Node.js process of the Lambda runtime's
 * major (startBundledHandler), manifests in s3rver, and apply-changes (glue-job/apply_changes.py under
 * python3) run by the local Glue as the function and the sweeps start it: one run at a time, queued
 * starts, every successful run's end swept, the schedule every sweepIntervalMinutes.
 * - The writer: `rate` changes a second to the source (a new key each, every `--delete-every`th a delete
 *   of a key put earlier, so retain writes last states too), in BatchWriteItems of up to 25, at most 16
 *   at once. A step whose writer fell below 95% of the rate is not held either (`keptUp`).
 * - Probes: every `--probe-ms` a probe item is written to the source (beside the rate); its lag is the
 *   time until a consistent read of the backup returns it (BatchGetItem every 250 ms).
 * - The backlog, every 5 s: stream records not yet handed to the function, manifests pending and the
 *   keys they hold (read from s3rver, up to 300 manifests a sample).
 * - Held or not: over the second half of the writes, the least-squares slope of the pending keys (keys/s)
 *   and of the probes' lag against their write time (s/s). The backlog grows when the keys grow by more
 *   than 5% of the rate, or the lag by more than 0.05 s a second (3 s a minute).
 * - After the writes, it waits (`--drain-seconds` at most) for the backlog to empty and every probe to
 *   arrive; `lag_at_end` is the lag of the last probe written.
 * - CPU: of this process (the writer, stream reading, s3rver and the local Glue), of its child processes
 *   by kind (DynamoDB Local, the function, the apply runs: /proc, sampled every second), and the
 *   machine's other work (its busy time less all of that).
 * DynamoDB Local rounds a stream record's time to the minute, so the lag is taken from the probes,
 * never from the pipeline's own ReplicationLatency metric.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { unzipSync } from "fflate";
import { bundleFunction } from "../build-tools/bundle";
import { BUCKET_LAYOUT } from "../contracts";
import { APPLY_JOB_NAME, DEFAULT_CONFIG, HANDLER_SOURCE, MANIFEST_BUCKET, sdkEnv } from "../local-aws/change-trigger-env";
import { ENDPOINT_VARIABLE, spawnDynamoDbLocal } from "../local-aws/dynamodb-local-server";
import { pythonJob, pythonWithBoto3, type PythonJob } from "../local-aws/glue-python-job";
import { startBundledHandler, type BundledHandler } from "../local-aws/lambda-node";
import { dynamoDbLocal, type LocalDynamo } from "../local-aws/local-dynamodb";
import { startLocalGlue, type LocalGlue } from "../local-aws/local-glue";
import { S3RVER_CREDENTIALS, startLocalS3, type LocalS3 } from "../local-aws/local-s3";
import { StreamPoller } from "../local-aws/stream-poller";
import { createTable, StreamReader, uniqueTableName, type Item, type KeySchema } from "../local-aws/stream-records";
import { SWEPT_RUN_STATES } from "../stacks/constructs/apply-sweep";
import { parseProjectConfig } from "../stacks/config/load";
import { PROJECT_ROOT } from "../stacks/project-root";

const RUNTIME = "nodejs22.x";
const REGION = "us-east-1";
const SCHEMA: KeySchema = { partitionKey: { name: "id", type: "S" } };
const MAX_IN_FLIGHT = 16;
const SAMPLE_MS = 5000;
const MANIFESTS_READ_PER_SAMPLE = 300;

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1]! : fallback;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const OPTIONS = {
  rates: option("rates", "100,200,300,400,500,600,800").split(",").map(Number).filter((rate) => rate > 0),
  seconds: Number(option("seconds", "120")),
  deleteEvery: Number(option("delete-every", "10")),
  probeMs: Number(option("probe-ms", "2000")),
  drainSeconds: Number(option("drain-seconds", "180")),
  capacityArgs: option("capacity-args", "").split(" ").filter(Boolean),
  skipCapacity: flag("skip-capacity"),
  skipSustained: flag("skip-sustained"),
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

function percentile(values: readonly number[], share: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)]!;
}

/** Least-squares slope of y over x; null with fewer than 3 points. */
function slope(points: readonly [number, number][]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxx = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  return sxx === 0 ? null : points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0) / sxx;
}

// ---------------------------------------------------------------------------------------------
// CPU from /proc

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const SELF = "this process (writer, stream reading, s3rver, local Glue)";

function procStat(pid: string): { comm: string; ppid: number; seconds: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")), ppid: Number(fields[1]), seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS };
  } catch {
    return undefined; // ended meanwhile
  }
}

/** Busy CPU seconds of the whole machine (steal included: the hypervisor's other guests). */
function machineBusy(): number {
  const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return (fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!) / CLOCK_TICKS;
}

const kindOf = (comm: string): string =>
  comm === "java" ? "DynamoDB Local (java)" : comm.startsWith("python") ? "apply-changes runs (python)" : comm === "node" ? "change-trigger function (node)" : comm;

/** CPU seconds of this process and of its children by kind; a child that ended keeps its last sample. */
class CpuSampler {
  private readonly last = new Map<string, { kind: string; seconds: number }>();

  sample(): void {
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = procStat(pid);
      if (stat?.ppid === process.pid) this.last.set(pid, { kind: kindOf(stat.comm), seconds: stat.seconds });
    }
  }

  totals(): Record<string, number> {
    this.sample();
    const usage = process.cpuUsage();
    const totals: Record<string, number> = { [SELF]: (usage.user + usage.system) / 1e6 };
    for (const { kind, seconds } of this.last.values()) totals[kind] = (totals[kind] ?? 0) + seconds;
    totals.machine = machineBusy();
    return totals;
  }
}

function cpuBetween(before: Record<string, number>, after: Record<string, number>, seconds: number): { seconds: Record<string, number>; cores: Record<string, number> } {
  const used: Record<string, number> = {};
  for (const [kind, value] of Object.entries(after)) if (kind !== "machine") used[kind] = value - (before[kind] ?? 0);
  const ours = Object.values(used).reduce((a, b) => a + b, 0);
  used["other work"] = Math.max(0, after.machine! - before.machine! - ours);
  return {
    seconds: Object.fromEntries(Object.entries(used).map(([kind, value]) => [kind, round(value)])),
    cores: Object.fromEntries(Object.entries(used).map(([kind, value]) => [kind, round(value / seconds)])),
  };
}

// ---------------------------------------------------------------------------------------------
// The pipeline of one step

interface Shared {
  readonly python: string;
  readonly indexPath: string;
  readonly cpu: CpuSampler;
  readonly config: ReturnType<typeof defaultEnvironment>;
}

function defaultEnvironment() {
  const environments = Object.values(parseProjectConfig({}).environments);
  if (environments.length !== 1) throw new Error("bench-apply: expected the default configuration to hold one environment");
  return environments[0]!;
}

/** What the stack passes apply-changes (stacks/constructs/jobs/apply-changes.ts), with the default settings; no metrics. */
function jobArguments(config: Shared["config"], source: string, backup: string): Record<string, string> {
  return {
    "--source_table": source,
    "--backup_table": backup,
    "--delete_policy": config.deletes,
    "--transform": JSON.stringify(config.transform),
    "--region": REGION,
    "--retained_attribute": config.retainedAttribute,
    "--manifest_bucket": MANIFEST_BUCKET,
    "--manifest_prefix": BUCKET_LAYOUT.manifests,
    "--rejected_prefix": BUCKET_LAYOUT.rejected,
    "--quarantine_prefix": BUCKET_LAYOUT.quarantine,
    "--time_budget_seconds": String(config.applyChangesJob.timeBudgetSeconds),
    "--max_pass_bytes": String(config.applyChangesJob.maxPassMegabytes * 1024 * 1024),
  };
}

interface Pipeline {
  readonly source: string;
  readonly backup: string;
  readonly reader: StreamReader;
  readonly poller: StreamPoller;
  readonly s3: LocalS3;
  readonly glue: LocalGlue;
  readonly job: PythonJob;
  readonly fn: BundledHandler;
  readonly sweepErrors: unknown[];
  sweep(event: Record<string, unknown>): void;
  close(): Promise<void>;
}

async function startPipeline(shared: Shared, ddb: LocalDynamo): Promise<Pipeline> {
  const { config } = shared;
  const suffix = uniqueTableName("");
  const source = `bench-load-source${suffix}`;
  const backup = `bench-load-backup${suffix}`;
  const reader = new StreamReader(ddb, await createTable(ddb, source, SCHEMA));
  await createTable(ddb, backup, SCHEMA);
  const s3 = await startLocalS3({ buckets: [MANIFEST_BUCKET] });
  const credentials = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
  const job = pythonJob({
    python: shared.python,
    script: path.join(PROJECT_ROOT, "glue-job", "apply_changes.py"),
    pythonPath: path.join(PROJECT_ROOT, "glue-job"),
    env: { AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint, AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_REGION: REGION, AWS_DEFAULT_REGION: REGION, ...credentials },
  });
  const sweepErrors: unknown[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let fn: BundledHandler | undefined;
  // EventBridge invokes asynchronously; Lambda retries a failed invocation twice.
  const sweep = (event: Record<string, unknown>): void => {
    if (fn === undefined) return;
    const handler = fn.handler;
    const call = (async () => {
      for (let left = 3; left > 0; left -= 1) {
        try {
          return await handler(event);
        } catch (error) {
          if (left === 1) sweepErrors.push(String(error));
        }
      }
      return undefined;
    })();
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
  };
  const glue = await startLocalGlue({
    jobs: { [APPLY_JOB_NAME]: { maxConcurrentRuns: 1, jobRunQueuing: true, defaultArguments: jobArguments(config, source, backup), execute: job.execute } },
    onRunEnded: (run) => {
      if ((SWEPT_RUN_STATES as readonly string[]).includes(run.JobRunState)) {
        sweep({ source: "aws.glue", "detail-type": "Glue Job State Change", detail: { jobName: run.JobName, state: run.JobRunState, jobRunId: run.Id } });
      }
    },
  });
  fn = await startBundledHandler(shared.indexPath, { PATH: process.env.PATH, ...DEFAULT_CONFIG, DELETE_POLICY: config.deletes, ...sdkEnv(s3, glue), AWS_DEFAULT_REGION: REGION }, RUNTIME);
  const handler = fn.handler;
  const poller = new StreamPoller(
    {
      batchSize: config.stream.batchSize,
      batchingWindowSeconds: config.stream.batchingWindowSeconds,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: config.stream.maximumRetryAttempts,
      reportBatchItemFailures: true,
      filterPatterns: [{ eventName: ["INSERT", "MODIFY", "REMOVE"] }],
    },
    (event) => handler(event),
  );
  const schedule = setInterval(() => sweep({ source: "aws.events", "detail-type": "Scheduled Event" }), config.applyChangesJob.sweepIntervalMinutes * 60_000);
  return {
    source, backup, reader, poller, s3, glue, job, fn, sweepErrors, sweep,
    close: async () => {
      clearInterval(schedule);
      await Promise.all([...inFlight]);
      await job.crashRunning();
      fn?.stop();
      await Promise.all([s3.close(), glue.close()]);
      await Promise.all([backup, source].map((name) => ddb.call("DeleteTable", { TableName: name }).catch(() => undefined)));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One step: a fixed rate for a while

const loadItem = (i: number): Item => ({ id: { S: `load#${String(i).padStart(9, "0")}` }, version: { N: String(i) }, note: { S: "n".repeat(64 + (i % 64)) }, amount: { N: `${(i * 7919) % 1000003}.${i % 100}` } });

interface Sample {
  readonly second: number;
  readonly streamRecordsWaiting: number;
  readonly manifests: number;
  readonly keys: number;
  readonly keysEstimated: boolean;
  readonly runsActive: number;
}

async function backlogSample(pipeline: Pipeline, second: number): Promise<Sample> {
  const names = (await pipeline.s3.listKeys(MANIFEST_BUCKET, BUCKET_LAYOUT.manifests)).filter((name) => !name.endsWith("/"));
  let keys = 0;
  let read = 0;
  for (const name of names.slice(0, MANIFESTS_READ_PER_SAMPLE)) {
    const object = await pipeline.s3.getObject(MANIFEST_BUCKET, name);
    if (object === undefined) continue; // applied meanwhile
    keys += (JSON.parse(object.body) as { keys: unknown[] }).keys.length;
    read += 1;
  }
  const estimated = names.length > read && read > 0;
  if (estimated) keys = Math.round((keys / read) * names.length);
  const runsActive = pipeline.glue.runs.filter((run) => ["STARTING", "RUNNING", "STOPPING", "WAITING"].includes(run.JobRunState)).length;
  return { second: round(second, 1), streamRecordsWaiting: pipeline.poller.pending, manifests: names.length, keys, keysEstimated: estimated, runsActive };
}

/**
 * A step on a DynamoDB Local of its own: one that kept the stream records of earlier steps' tables
 * answered several times slower, which would count against the later (higher) rates.
 */
async function step(shared: Shared, rate: number): Promise<Record<string, unknown>> {
  const server = await spawnDynamoDbLocal(PROJECT_ROOT);
  process.env[ENDPOINT_VARIABLE] = server.endpoint;
  const ddb = await dynamoDbLocal();
  try {
    return await stepOn(shared, ddb, rate);
  } finally {
    await ddb.close();
    await server.stop();
  }
}

async function stepOn(shared: Shared, ddb: LocalDynamo, rate: number): Promise<Record<string, unknown>> {
  const { cpu } = shared;
  const pipeline = await startPipeline(shared, ddb);
  const { poller, reader } = pipeline;
  try {
    let writing = true;
    let pumping = true;
    const writeErrors: string[] = [];
    // The event source mapping: reads the shard about four times a second, one batch at a time. A read
    // that fails is tried again at the next tick, as the mapping retries (counted).
    const streamErrors: string[] = [];
    const pump = async (): Promise<void> => {
      while (pumping) {
        try {
          poller.append(await reader.poll(), performance.now());
          await poller.deliverDue(performance.now());
        } catch (error) {
          streamErrors.push(String(error));
          if (streamErrors.length > 20) throw error;
        }
        await sleep(250);
      }
    };
    const probes: { n: number; writtenAt: number; seenAt?: number; duringWrites: boolean }[] = [];
    // The first probe goes in before the stream is first read: DynamoDB Local answers
    // TrimmedDataAccessException to an iterator taken on a shard that was still empty.
    let firstProbe: () => void = () => undefined;
    const firstWritten = new Promise<void>((resolve) => (firstProbe = resolve));
    const probeWriter = (async () => {
      for (let n = 0; writing; n += 1) {
        const probe = { n, writtenAt: performance.now(), duringWrites: true };
        probes.push(probe);
        await ddb.call("PutItem", { TableName: pipeline.source, Item: { id: { S: `probe#${String(n).padStart(6, "0")}` }, n: { N: String(n) } } });
        probe.writtenAt = performance.now();
        firstProbe();
        await sleep(OPTIONS.probeMs);
      }
    })();
    let checking = true;
    const probeChecker = (async () => {
      while (checking) {
        const waiting = probes.filter((probe) => probe.seenAt === undefined).slice(0, 100);
        if (waiting.length > 0) {
          const { Responses } = await ddb.call<{ Responses: Record<string, Item[]> }>("BatchGetItem", {
            RequestItems: { [pipeline.backup]: { Keys: waiting.map((probe) => ({ id: { S: `probe#${String(probe.n).padStart(6, "0")}` } })), ConsistentRead: true } },
          });
          const now = performance.now();
          const seen = new Set((Responses[pipeline.backup] ?? []).map((item) => Number((item.n as { N: string }).N)));
          for (const probe of waiting) if (seen.has(probe.n)) probe.seenAt = now;
        }
        await sleep(250);
      }
    })();

    await firstWritten;
    const pumped = pump();
    const samples: Sample[] = [];
    const started = performance.now();
    const sampler = setInterval(() => void backlogSample(pipeline, (performance.now() - started) / 1000).then((sample) => samples.push(sample)), SAMPLE_MS);
    const cpuTimer = setInterval(() => cpu.sample(), 1000);
    const cpuBefore = cpu.totals();

    // The writer: `rate` changes a second in BatchWriteItems of up to 25 (a request per item would cost
    // DynamoDB Local, on the same cores, more than the pipeline does); a new key each, every
    // deleteEvery-th a delete of a key put earlier.
    let issued = 0;
    let done = 0;
    let inFlight = 0;
    let mostBehind = 0;
    const writes = new Set<Promise<void>>();
    const send = (requests: Record<string, unknown>[]): Promise<void> =>
      ddb.call<{ UnprocessedItems?: Record<string, Record<string, unknown>[]> }>("BatchWriteItem", { RequestItems: { [pipeline.source]: requests } }).then((answer) => {
        const left = answer.UnprocessedItems?.[pipeline.source] ?? [];
        done += requests.length - left.length;
        return left.length > 0 ? send(left) : undefined;
      });
    while (performance.now() - started < OPTIONS.seconds * 1000) {
      const due = Math.floor((rate * (performance.now() - started)) / 1000);
      mostBehind = Math.max(mostBehind, due - issued);
      while (issued < due && inFlight < MAX_IN_FLIGHT) {
        const requests: Record<string, unknown>[] = [];
        for (; issued < due && requests.length < 25; issued += 1) {
          const i = issued;
          const deletes = OPTIONS.deleteEvery > 0 && i % OPTIONS.deleteEvery === OPTIONS.deleteEvery - 1 && i > 50;
          // i - 51 is a key that was put (never one of the delete slots), in an earlier request.
          requests.push(deletes ? { DeleteRequest: { Key: { id: loadItem(i - 51).id! } } } : { PutRequest: { Item: loadItem(i) } });
        }
        inFlight += 1;
        const write = send(requests)
          .catch((error: unknown) => void writeErrors.push(String(error)))
          .finally(() => {
            inFlight -= 1;
            writes.delete(write);
          });
        writes.add(write);
      }
      await sleep(20);
    }
    await Promise.all([...writes]);
    const writeSeconds = (performance.now() - started) / 1000;
    writing = false;
    await probeWriter;
    const cpuWrites = cpuBetween(cpuBefore, cpu.totals(), writeSeconds);
    const lastProbe = probes[probes.length - 1];

    // Drain: the backlog empties and every probe arrives (or the drain time runs out).
    const drainStarted = performance.now();
    let drained = false;
    while (performance.now() - drainStarted < OPTIONS.drainSeconds * 1000) {
      const sample = await backlogSample(pipeline, (performance.now() - started) / 1000);
      if (sample.manifests === 0 && sample.streamRecordsWaiting === 0 && sample.runsActive === 0 && probes.every((probe) => probe.seenAt !== undefined)) {
        drained = true;
        break;
      }
      await sleep(1000);
    }
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    clearInterval(sampler);
    clearInterval(cpuTimer);
    checking = false;
    pumping = false;
    await Promise.all([probeChecker, pumped]);

    // Held or not: slopes over the second half of the writes.
    const half = writeSeconds / 2;
    const late = samples.filter((sample) => sample.second >= half && sample.second <= writeSeconds);
    const keysSlope = slope(late.map((sample) => [sample.second, sample.keys + sample.streamRecordsWaiting]));
    const lateProbes = probes.filter((probe) => probe.seenAt !== undefined && (probe.writtenAt - started) / 1000 >= half);
    const lagSlope = slope(lateProbes.map((probe) => [(probe.writtenAt - started) / 1000, (probe.seenAt! - probe.writtenAt) / 1000]));
    const unseen = probes.filter((probe) => probe.seenAt === undefined).length;
    const grows = unseen > 0 || (keysSlope ?? 0) > 0.05 * rate || (lagSlope ?? 0) > 0.05;
    const achieved = done / writeSeconds;
    // A writer that fell behind did not offer the rate: the step says nothing of the pipeline at it.
    const keptUp = achieved >= 0.95 * rate && writeErrors.length === 0;
    const lags = probes.filter((probe) => probe.seenAt !== undefined).map((probe) => (probe.seenAt! - probe.writtenAt) / 1000);
    const passes = pipeline.job.runs.flatMap((run) => run.events.filter((event) => event.event === "apply_pass"));
    const during = samples.filter((sample) => sample.second <= writeSeconds);
    return {
      rate,
      seconds: round(writeSeconds, 1),
      writes: { issued, done, errors: writeErrors.length, firstError: writeErrors[0], achievedPerSecond: round(achieved, 1), keptUp, mostBehind },
      held: !grows && keptUp,
      notHeldBecause: keptUp ? (grows ? "the backlog grew" : null) : "the writer fell behind the rate (the source's own writes, on the same cores)",
      growth: { keysPerSecond: keysSlope === null ? null : round(keysSlope, 2), lagSecondsPerSecond: lagSlope === null ? null : round(lagSlope, 4), unseenProbes: unseen },
      backlog: {
        maxManifests: Math.max(0, ...during.map((sample) => sample.manifests)),
        maxKeys: Math.max(0, ...during.map((sample) => sample.keys)),
        maxStreamRecordsWaiting: Math.max(0, ...during.map((sample) => sample.streamRecordsWaiting)),
        atEndOfWrites: during[during.length - 1],
        samples: during.map((sample) => [sample.second, sample.streamRecordsWaiting, sample.manifests, sample.keys]),
        samplesColumns: ["second", "stream records waiting", "manifests", "keys"],
      },
      lag: {
        probes: probes.length,
        p50: percentile(lags, 0.5) === null ? null : round(percentile(lags, 0.5)!),
        p99: percentile(lags, 0.99) === null ? null : round(percentile(lags, 0.99)!),
        max: lags.length ? round(Math.max(...lags)) : null,
        atEnd: lastProbe?.seenAt === undefined ? null : round((lastProbe.seenAt - lastProbe.writtenAt) / 1000),
      },
      drain: { drained, seconds: round(drainSeconds, 1) },
      cpuDuringWrites: cpuWrites,
      pipeline: {
        batches: poller.stats.batches,
        invocations: poller.stats.invocations,
        deadLetters: poller.deadLetters.length,
        runs: pipeline.glue.runs.length,
        failedRuns: pipeline.glue.runs.filter((run) => run.JobRunState === "FAILED").length,
        passes: passes.length,
        keysApplied: passes.reduce((sum, event) => sum + Number(event.keys ?? 0), 0),
        passSeconds: { p50: percentile(passes.map((event) => Number(event.seconds)), 0.5), max: passes.length ? Math.max(...passes.map((event) => Number(event.seconds))) : null },
        sweepErrors: pipeline.sweepErrors.length,
        streamReadErrors: streamErrors.length,
        firstStreamReadError: streamErrors[0],
      },
    };
  } finally {
    await pipeline.close();
  }
}

async function sustained(): Promise<Record<string, unknown>> {
  const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-apply-lambda-"));
  // The function's log lines would flood the output: counted, not printed.
  const logged: Record<string, number> = {};
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  for (const level of ["log", "info", "warn", "error"] as const) console[level] = () => void (logged[level] = (logged[level] ?? 0) + 1);
  try {
    const bundle = bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER_SOURCE, runtime: RUNTIME });
    for (const [name, bytes] of Object.entries(unzipSync(bundle.zip))) fs.writeFileSync(path.join(bundleDir, name), bytes);
    const shared: Shared = { python: pythonWithBoto3(), indexPath: path.join(bundleDir, "index.js"), cpu: new CpuSampler(), config: defaultEnvironment() };
    const steps: Record<string, unknown>[] = [];
    let held: number | undefined;
    let notHeld: number | undefined;
    for (const rate of OPTIONS.rates) {
      const result = await step(shared, rate);
      steps.push(result);
      if (!result.held) {
        notHeld = rate;
        break;
      }
      held = rate;
    }
    if (held !== undefined && notHeld !== undefined && notHeld - held >= 50) {
      const middle = Math.round((held + notHeld) / 2 / 10) * 10;
      const result = await step(shared, middle);
      steps.push(result);
      if (result.held) held = middle;
      else notHeld = middle;
    }
    return {
      seconds: OPTIONS.seconds,
      settings: { batchSize: shared.config.stream.batchSize, batchingWindowSeconds: shared.config.stream.batchingWindowSeconds, deletes: shared.config.deletes, deleteEvery: OPTIONS.deleteEvery, timeBudgetSeconds: shared.config.applyChangesJob.timeBudgetSeconds },
      highestRateHeld: held ?? null,
      lowestRateNotHeld: notHeld ?? null,
      steps,
      functionLogLines: logged,
    };
  } finally {
    Object.assign(console, saved);
    fs.rmSync(bundleDir, { recursive: true, force: true });
  }
}

/** bench_capacity.py in a child process (its JSON on stdout; its errors pass through). */
function capacity(): Promise<unknown> {
  const python = pythonWithBoto3();
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(PROJECT_ROOT, "glue-job", "benchmarks", "bench_capacity.py"), ...OPTIONS.capacityArgs], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, "glue-job") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bench_capacity.py exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const report: Record<string, unknown> = { date: new Date().toISOString(), cpus: os.cpus().length, loadAverageAtStart: os.loadavg().map((value) => round(value)) };
  if (!OPTIONS.skipCapacity) report.capacity = await capacity();
  if (!OPTIONS.skipSustained) report.sustained = await sustained();
  report.loadAverageAtEnd = os.loadavg().map((value) => round(value));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
