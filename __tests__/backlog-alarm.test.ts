/**
 * When the backup falls behind for longer than alarms.oldestPendingManifestAgeSeconds, the
 * oldest-pending-manifest-age alarm fires; while it keeps up, it never does.
 *
 * The alarm is read from the synthesized stack (aws_cloudwatch_metric_alarm) and evaluated as
 * CloudWatch documents it (helpers/alarm-evaluation.ts) against the datums the apply-changes runs
 * really sent to the CloudWatch stand-in. The runs are the synthesized wheel's apply-changes with
 * the synthesized job's arguments, run after run, against dynalite and s3rver, while the source is
 * written at a steady rate (glue-job/tests/steady_load.py). Minutes of load pass in seconds: time
 * is simulated, and what takes time is the backup table's write capacity (every item written takes
 * 1 / BACKUP_WRITES_PER_SECOND s, whatever the job's parallelism), plus a Python shell run's start.
 * The function, the stream and the event source mapping are stood in for by that script (batches
 * closed by the synthesized batching window and size, manifests named as the function names them);
 * the end-to-end test runs the real ones.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { datumsOf, evaluateAlarm, type Datum, type MetricAlarm } from "./helpers/alarm-evaluation";
import { Cleanup, startedTogether } from "./helpers/cleanup";
import { e2eEnvironment, withLocalTableNames, type E2eEnvironment } from "./helpers/e2e-stack";
import { PROJECT_ROOT } from "./helpers/synth";
import { pythonWithBoto3 } from "../local-aws/glue-python-job";
import { startDynalite } from "../local-aws/local-dynamodb";
import { S3RVER_CREDENTIALS, startLocalS3 } from "../local-aws/local-s3";
import { createTable } from "../local-aws/stream-records";

jest.setTimeout(300_000);

/** alarms.oldestPendingManifestAgeSeconds: near the least allowed (60), yet above a healthy pipeline's ages (a run's start and a batching window). */
const THRESHOLD_SECONDS = 120;
/** The backup's write capacity: items a second. */
const BACKUP_WRITES_PER_SECOND = 5;
/** A Glue Python shell run's start (about a minute): what a manifest waits at least when no run is busy. */
const RUN_START_SECONDS = 60;
/** Long enough for the overload to age manifests past the threshold, too short to reach ten times it. */
const WRITE_SECONDS = 5 * THRESHOLD_SECONDS;
const START = Date.UTC(2026, 0, 1);

interface LoadResult {
  readonly datums: Datum[];
  readonly problems: string[][];
  readonly runs: { start: number; end: number; passes: number; keys: number; stoppedByBudget: boolean }[];
  readonly changes: number;
  readonly backupWrites: number;
  /** Simulated epoch seconds when the last run ended. */
  readonly end: number;
}

let environment: E2eEnvironment;
let alarm: MetricAlarm;
beforeAll(() => {
  const name = "api-pagos-replication";
  environment = e2eEnvironment({ environments: { [name]: { alarms: { oldestPendingManifestAgeSeconds: THRESHOLD_SECONDS } } } });
  alarm = environment.metricAlarms[`${environment.config.namePrefix}-oldest-pending-manifest-age`] as MetricAlarm;
});

/** Writes the source at `changesPerSecond` for WRITE_SECONDS and runs apply-changes until all is applied. */
async function steadyLoad(changesPerSecond: number): Promise<LoadResult> {
  const cleanup = new Cleanup();
  try {
    const [ddb, s3] = await startedTogether([startDynalite(), startLocalS3({ buckets: [environment.bucket] })]);
    cleanup.closes(ddb);
    cleanup.closes(s3);
    const local = withLocalTableNames(environment);
    for (const table of [local.sourceTable, local.backupTable]) await createTable(ddb, table.name, table.schema);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steady-load-"));
    cleanup.add(undefined, () => fs.rmSync(dir, { recursive: true, force: true }));
    const wheel = path.join(dir, local.applyJob.library.fileName);
    fs.writeFileSync(wheel, local.applyJob.library.bytes);
    const scenario = path.join(dir, "scenario.json");
    const result = path.join(dir, "result.json");
    fs.writeFileSync(scenario, JSON.stringify({
      start: START / 1000,
      changes_per_second: changesPerSecond,
      write_seconds: WRITE_SECONDS,
      batch_size: local.eventSourceMapping.batchSize,
      batching_window_seconds: local.eventSourceMapping.batchingWindowSeconds,
      backup_writes_per_second: BACKUP_WRITES_PER_SECOND,
      run_start_seconds: RUN_START_SECONDS,
    }));
    const argv = [path.join("glue-job", "tests", "steady_load.py"), scenario, result, "--", ...Object.entries(local.applyJob.defaultArguments).flat()];
    const env = {
      PATH: process.env.PATH,
      PYTHONPATH: wheel, // the job code as Glue gets it: the synthesized wheel alone
      PYTHONDONTWRITEBYTECODE: "1",
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: local.config.region,
      AWS_DEFAULT_REGION: local.config.region,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
    };
    await new Promise<void>((resolve, reject) => {
      execFile(pythonWithBoto3(), argv, { cwd: PROJECT_ROOT, env, maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error) reject(new Error(`steady_load.py failed: ${error.message}\n${stderr}`));
        else resolve();
      });
    });
    const output = JSON.parse(fs.readFileSync(result, "utf8")) as Omit<LoadResult, "datums" | "problems"> & { requests: { operation: string; problems: string[]; body: Record<string, any> }[] };
    return {
      ...output,
      datums: datumsOf(output.requests.filter((r) => r.operation === "PutMetricData").map((r) => r.body)),
      problems: output.requests.map((r) => r.problems),
    };
  } finally {
    await cleanup.run();
  }
}

/** The published values of one of the pipeline's metrics, by time (seconds since START). */
const series = (load: LoadResult, metricName: string): [number, number][] =>
  load.datums.filter((d) => d.metricName === metricName).map((d) => [(d.timestamp - START) / 1000, d.value!]);

/** The alarm's state at every minute, by time (seconds since START), until its datapoints are long gone. */
const alarmStates = (load: LoadResult, against: MetricAlarm = alarm): { t: number; state: string; evaluated: (number | undefined)[] }[] =>
  evaluateAlarm(against, load.datums, START, load.end * 1000 + 10 * against.period * 1000).map((e) => ({ ...e, t: (e.at - START) / 1000 }));

test("the synthesized alarm watches apply-changes' own metric, with the configured threshold", () => {
  // What the evaluation below relies on: the job publishes into the alarm's namespace, with its dimension.
  expect(alarm).toMatchObject({
    namespace: environment.applyJob.defaultArguments["--metrics_namespace"],
    metric_name: "OldestPendingManifestAge",
    dimensions: { Pipeline: environment.applyJob.defaultArguments["--metrics_pipeline"] },
    threshold: THRESHOLD_SECONDS,
  });
});

test("a sustained overload (writes at 1.6 times the backup's capacity) reaches ALARM while it lasts; at 10 times the threshold it would not", async () => {
  const load = await steadyLoad(1.6 * BACKUP_WRITES_PER_SECOND);
  expect(load.problems.flat()).toEqual([]); // every request as CloudWatch's model wants it
  const ages = series(load, "OldestPendingManifestAge");
  const pending = series(load, "ManifestsPending");
  const states = alarmStates(load);
  const alarmedAt = states.find((e) => e.state === "ALARM")?.t;
  const clearedAt = states.find((e) => alarmedAt !== undefined && e.t > alarmedAt && e.state !== "ALARM")?.t;
  console.log(
    `backlog alarm, overload: ${load.changes} changes in ${WRITE_SECONDS} s (${load.changes / WRITE_SECONDS}/s), backup ${BACKUP_WRITES_PER_SECOND} writes/s, ` +
      `${load.runs.length} runs, all applied at ${Math.round(load.end - START / 1000)} s; at the pass starts, manifests pending ${pending.map(([, v]) => v).join(", ")}, ` +
      `oldest ${ages.map(([t, v]) => `${Math.round(v)} s (at ${t} s)`).join(", ")}; ` +
      `the alarm (threshold ${alarm.threshold} s) in ALARM from ${alarmedAt} s to ${clearedAt} s`,
  );
  expect(load.backupWrites).toBe(load.changes); // all applied, each once
  // The backlog grows while the writes last: more manifests wait at each pass start.
  const whileWriting = pending.filter(([t]) => t <= WRITE_SECONDS).map(([, v]) => v);
  expect(whileWriting.length).toBeGreaterThan(2);
  expect(whileWriting[whileWriting.length - 1]!).toBeGreaterThan(2 * whileWriting[0]!);
  // ALARM while the writes last, and not before a manifest could be that old.
  expect(alarmedAt).toBeDefined();
  expect(alarmedAt!).toBeGreaterThanOrEqual(THRESHOLD_SECONDS);
  expect(alarmedAt!).toBeLessThanOrEqual(WRITE_SECONDS);
  expect(states.filter((e) => e.t >= alarmedAt! && e.t <= WRITE_SECONDS && e.state !== "ALARM")).toEqual([]);
  // The overload is not so large that any threshold fires: ten times this one never does.
  expect(alarmStates(load, { ...alarm, threshold: 10 * alarm.threshold }).filter((e) => e.state === "ALARM")).toEqual([]);
});

test("a load the backup keeps up with (0.6 times its capacity) never breaches", async () => {
  const load = await steadyLoad(0.6 * BACKUP_WRITES_PER_SECOND);
  expect(load.problems.flat()).toEqual([]);
  const ages = series(load, "OldestPendingManifestAge");
  console.log(
    `backlog alarm, normal load: ${load.changes} changes in ${WRITE_SECONDS} s, backup ${BACKUP_WRITES_PER_SECOND} writes/s, ${load.runs.length} runs; ` +
      `oldest pending age up to ${Math.max(...ages.map(([, v]) => v))} s`,
  );
  expect(load.backupWrites).toBe(load.changes);
  expect(ages.length).toBeGreaterThan(2); // published, so "never breaches" is not for want of data
  const states = alarmStates(load);
  expect(states.filter((e) => e.state === "ALARM")).toEqual([]);
  expect(states.some((e) => e.evaluated.some((v) => v !== undefined))).toBe(true); // evaluated on real datapoints
});
