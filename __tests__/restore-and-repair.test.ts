/**
 * Restore into the source and verify --repair as an operator runs them (the README's runbooks), end to
 * end on DynamoDB Local's real stream, the synthesized Lambda zip and the real apply-changes job; the
 * Spark jobs run from the synthesized wheel as processes with their segments in-process
 * (glue-job/tests/local_spark_job.py):
 * - restore brings back exactly the items deleted by mistake: nothing deleted on purpose before or
 *   after the mistake (recorded or still on its way to the backup), nothing the application deletes
 *   while it runs; it waits for the backup to catch up and says so when it cannot;
 * - a deleted item too large for the retained marker: apply-changes quarantines its deletion (its last
 *   state kept in the quarantine object), verify --repair reports it unrepaired and still writes its
 *   report, and replaying the quarantine object once the backup holds a newer deletion is a no-op.
 */
import { execFile } from "node:child_process";
import { CopyObjectCommand, DeleteObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as path from "node:path";
import { backupProblems, startPipeline, type Pipeline } from "./helpers/e2e-pipeline";
import { e2eEnvironment } from "./helpers/e2e-stack";
import { S3RVER_CREDENTIALS } from "../local-aws/local-s3";
import { pythonWithBoto3 } from "../local-aws/glue-python-job";
import { PROJECT_ROOT } from "./helpers/synth";
import type { Item } from "../local-aws/stream-records";

const key = (id: string): Item => ({ id: { S: id } });
const payment = (id: string, amount: number): Item => ({ ...key(id), amount: { N: String(amount) }, note: { S: `payment ${id}` } });
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `p${String(from + i).padStart(2, "0")}`);
const idOf = (k: Item): string => (k.id as { S: string }).S;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const minuteOf = (ms: number) => ms - (ms % 60_000);
/** Waits into the next whole minute (a second past it); returns that minute's start (ms). */
const nextMinute = async (): Promise<number> => {
  const next = minuteOf(Date.now()) + 60_000;
  await pause(next + 1_000 - Date.now());
  return next;
};

interface JobRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly events: Record<string, unknown>[];
}

/** Runs a Spark job of glue-job/ as a process against the pipeline's endpoints. */
function sparkJob(pipeline: Pipeline, job: "restore" | "verify", args: Record<string, string>): Promise<JobRun> {
  const env = {
    PATH: process.env.PATH,
    AWS_ENDPOINT_URL_DYNAMODB: pipeline.ddb.endpoint,
    AWS_ENDPOINT_URL_S3: pipeline.s3.endpoint,
    AWS_REGION: pipeline.environment.config.region,
    AWS_DEFAULT_REGION: pipeline.environment.config.region,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    PYTHONPATH: pipeline.job.pythonPath, // the synthesized wheel, as apply-changes' runs
  };
  const argv = [path.join("glue-job", "tests", "local_spark_job.py"), job, "--JOB_RUN_ID", `jr_${job}`, ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])];
  return new Promise((resolve) => {
    execFile(pythonWithBoto3(), argv, { cwd: PROJECT_ROOT, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, events });
    });
  });
}

/** The report a run wrote (its restore_done / verify_done line names it). */
async function reportOf(pipeline: Pipeline, run: JobRun, event: string): Promise<Record<string, any>> {
  const done = run.events.find((e) => e.event === event);
  if (done === undefined) throw new Error(`no ${event} line:\n${run.stdout}\n${run.stderr}`);
  const [, , bucket, ...rest] = String(done.report).split("/");
  return JSON.parse((await pipeline.s3.getObject(bucket!, rest.join("/")))!.body) as Record<string, any>;
}

/** The runbook's `aws s3 mv` of a quarantine object back under changes/. */
async function moveObject(pipeline: Pipeline, bucket: string, from: string, to: string): Promise<void> {
  const s3 = new S3Client({
    endpoint: pipeline.s3.endpoint, forcePathStyle: true, region: pipeline.environment.config.region,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey },
  });
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${from}` }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
  s3.destroy();
}

describe("restore and repair, end to end", () => {
  let pipeline: Pipeline | undefined;
  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
  });

  test("restore into the source brings back the mistake and nothing deleted on purpose, after or during it", async () => {
    const p = (pipeline = await startPipeline(e2eEnvironment({}), { glueStarts: "refuse" }));
    const { sourceTable, backupTable, bucket, applyJob } = p.environment;
    await p.write(async (r) => {
      for (const id of ids(0, 40)) await r.put(payment(id, 10));
    }, 60_000);
    expect(await p.drain()).toEqual([]);
    // A stream record's time is rounded down: to the second on AWS, to the minute on DynamoDB Local. The
    // window's bounds are whole minutes here, so the deletions fall on the side they belong to.
    const deletedAfter = minuteOf(Date.now());
    await p.write(async (r) => {
      for (const id of ids(0, 10)) await r.delete(key(id)); // the mistake
    }, 60_000);
    expect(await p.drain()).toEqual([]);
    const deletedBefore = await nextMinute();
    // Deleted on purpose after the mistake, and not recorded yet: apply-changes is busy, the manifests wait.
    const busyId = p.glue.addRun(applyJob.name, "RUNNING");
    const busy = p.glue.runs.find((run) => run.Id === busyId)!;
    await p.write(async (r) => {
      for (const id of ids(20, 30)) await r.delete(key(id));
    }, 60_000);
    const pending = await p.s3.listKeys(bucket, "changes/");
    expect(pending.length).toBeGreaterThan(0);
    await nextMinute(); // a restore into the source ends its window at least a minute before its start

    const runbook = {
      target_table: sourceTable.name, allow_source_target: "true", mode: "missing-only", include_retained: "true",
      deleted_after: iso(deletedAfter), deleted_before: iso(deletedBefore), report_bucket: bucket, report_prefix: "restore/",
      poll_seconds: "1",
      // the job's non-overridable arguments, as the stack sets them (delivery: the stream here is driven by the test)
      backup_table: backupTable.name, source_table: sourceTable.name, allowed_targets: JSON.stringify([sourceTable.name]),
      manifest_bucket: bucket, manifest_prefix: "changes/", rejected_prefix: "rejected/", quarantine_prefix: "quarantine/",
      delivery_seconds: "0",
    };
    // The backup is behind the restore's start: it waits, then refuses, naming what is pending.
    const refused = await sparkJob(p, "restore", { ...runbook, dry_run: "true", catch_up_seconds: "2" });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("has not caught up");
    expect(refused.stderr).toContain(pending[0]);

    busy.JobRunState = "SUCCEEDED";
    expect(await p.drain()).toEqual([]);
    const dry = await reportOf(p, await sparkJob(p, "restore", { ...runbook, dry_run: "true", catch_up_seconds: "30" }), "restore_done");
    expect(dry.counts).toMatchObject({ would_write: 10, written: 0, retained_skipped: 10, already_present: 20, not_recorded: 0 });
    expect(dry.sample_keys.would_write.map(idOf).sort()).toEqual(ids(0, 10));

    // The application deletes more while the restore runs: none of it may come back.
    const restoring = sparkJob(p, "restore", { ...runbook, catch_up_seconds: "30" });
    await p.write(async (r) => {
      for (const id of ids(35, 40)) await r.delete(key(id));
    }, 0);
    const run = await restoring;
    expect(run.code).toBe(0);
    const report = await reportOf(p, run, "restore_done");
    expect(report.counts.written).toBe(10);
    expect(report.sample_keys.written.map(idOf).sort()).toEqual(ids(0, 10));

    const source = await p.scan(sourceTable.name);
    expect([...source.values()].map((item) => idOf(JSON.parse(item) as Item)).sort()).toEqual([...ids(0, 20), ...ids(30, 35)]);
    // The restored items reach the backup through the stream like any write (live again there).
    await p.write((r) => r.sync(), 60_000);
    expect(await p.drain()).toEqual([]);
    expect(await backupProblems(p)).toEqual([]);
  }, 300_000);

  test("a deleted item too large for the marker: quarantined with its last state, repair reports it, a stale replay is a no-op", async () => {
    const p = (pipeline = await startPipeline(e2eEnvironment({})));
    const { sourceTable, backupTable, bucket } = p.environment;
    const big = (n: number): Item => ({ ...key("big"), n: { N: String(n) }, payload: { S: "x".repeat(400 * 1024 - 40) } });
    await p.write(async (r) => {
      await r.put(big(1));
      for (const id of ids(0, 5)) await r.put(payment(id, 1));
    }, 60_000);
    expect(await p.drain()).toEqual([]);
    await p.write(async (r) => {
      await r.put(big(2));
      await r.delete(key("big"));
    }, 60_000);
    await p.drain();
    const [held] = await p.s3.listKeys(bucket, "quarantine/");
    expect(held).toBeDefined();
    const kept = JSON.parse((await p.s3.getObject(bucket, held!))!.body) as { removed: { oldImage: Item }[] };
    expect(kept.removed[0]!.oldImage.n).toEqual({ N: "2" }); // the last state, kept in S3
    expect(p.summary().failedRuns).toBeGreaterThan(0); // KeysQuarantined: the alarm fires

    // verify --repair: the older unmarked copy cannot be marked; reported, the rest repaired, report written.
    await p.ddb.call("DeleteItem", { TableName: backupTable.name, Key: key("p01") });
    const verified = await sparkJob(p, "verify", {
      source_table: sourceTable.name, backup_table: backupTable.name, report_bucket: bucket, report_prefix: "verify/",
      repair: "true", settle_seconds: "0", delete_policy: "retain",
    });
    expect(verified.code).toBe(0);
    const report = await reportOf(p, verified, "verify_done");
    expect(report.repaired).toEqual({ missing: 1, different: 0, extra: 0 });
    expect(report.unrepaired.count).toBe(1);
    expect(report.unrepaired.sample[0].key).toEqual(key("big"));

    // The key comes back small and is deleted again: the backup records the newer deletion; the old
    // quarantine object, replayed as the runbook says, changes nothing and the run succeeds.
    await p.write(async (r) => {
      await r.put({ ...key("big"), n: { N: "3" } });
      await r.delete(key("big"));
    }, 60_000);
    expect(await p.drain()).toEqual([]);
    const failedBefore = p.summary().failedRuns;
    await moveObject(p, bucket, held!, `changes/${held!.slice("quarantine/".length)}`);
    expect(await p.drain()).toEqual([]);
    expect(p.summary().failedRuns).toBe(failedBefore);
    expect(await p.s3.listKeys(bucket, "quarantine/")).toEqual([]);
    expect(await p.s3.listKeys(bucket, "changes/")).toEqual([]);
    expect(await backupProblems(p)).toEqual([]);
  }, 240_000);
});
