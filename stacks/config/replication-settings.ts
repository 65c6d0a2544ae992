/** The change-trigger function, the stream it reads, and the Glue jobs. */
import { z } from "zod";
import { int, oneOf, tableName } from "./fields";

/** Lambda runtimes AWS supports for new functions; nodejs20.x is deprecated (Node.js 20 ended in April 2026). */
export const LAMBDA_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
const RETIRED_RUNTIMES: Readonly<Record<string, string>> = {
  "nodejs20.x": "Node.js 20 reached end of life in April 2026 and AWS deprecated the nodejs20.x runtime",
  "nodejs18.x": "Node.js 18 reached end of life in April 2025 and AWS deprecated the nodejs18.x runtime",
};
/** Environment variables the stack sets on the change-trigger function. */
const RESERVED_LAMBDA_VARIABLES = ["MANIFEST_BUCKET", "MANIFEST_PREFIX", "APPLY_JOB_NAME", "DELETE_POLICY", "METRICS_NAMESPACE"] as const;
/** Variables Lambda itself sets and refuses in a function's configuration. */
const LAMBDA_RUNTIME_VARIABLES = [
  "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
  "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_REGION", "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT",
];
/** Seconds between apply-changes' time budget and its Glue timeout: a request's retries (300 s) and the remainder's write. */
const APPLY_TIMEOUT_MARGIN_SECONDS = 420;

const workerType = oneOf(["G.1X", "G.2X", "G.4X", "G.8X"]);
const glueSchedule = z
  .string()
  .regex(/^cron\(.+\)$/, { error: "must be a Glue cron expression such as cron(0 3 ? * SUN *)" })
  .nullable();

/** A share of a table's scan segments, run at random (verify's sample, the restore drill's). */
const segmentShare = z
  .number({ error: "must be a number greater than 0 and at most 1" })
  .gt(0, { error: "must be a number greater than 0 and at most 1" })
  .max(1, { error: "must be a number greater than 0 and at most 1" });

/** Worker type, count and timeout of a Spark job (full-copy, verify, restore and its drill). */
const sparkJobSize = {
  workerType: workerType.default("G.1X").meta({ description: "`G.1X`, `G.2X`, `G.4X`, `G.8X`" }),
  numberOfWorkers: int(2, 299).default(2).meta({ description: "2–299" }),
  timeoutMinutes: int(1, 2880).default(480).meta({ description: "1–2880" }),
};

export const replicationSettings = {
  lambda: z
    .strictObject({
      runtime: z
        .enum(LAMBDA_RUNTIMES, {
          error: (issue) => {
            const allowed = `must be one of ${LAMBDA_RUNTIMES.map((v) => JSON.stringify(v)).join(", ")}`;
            const why = typeof issue.input === "string" ? RETIRED_RUNTIMES[issue.input] : undefined;
            return why === undefined ? allowed : `${why}: ${allowed}`;
          },
        })
        .default("nodejs22.x")
        .meta({ description: "`nodejs22.x`, `nodejs24.x` (the bundle targets the same Node.js; `nodejs20.x` is refused: Node.js 20 ended in April 2026 and AWS deprecated the runtime)" }),
      architecture: oneOf(["arm64", "x86_64"]).default("arm64")
        .meta({ description: "`arm64`, `x86_64`" }),
      memoryMb: int(128, 10240).default(256)
        .meta({ description: "128–10240" }),
      timeoutSeconds: int(1, 900).default(60)
        .meta({ description: "1–900" }),
      /** Extra environment variables for the function (the pipeline's own cannot be overridden). */
      environment: z.record(z.string().regex(/^[a-zA-Z]\w*$/, { error: "must be a valid variable name" }), z.string()).default({})
        .meta({ description: "extra variables; `MANIFEST_BUCKET`, `MANIFEST_PREFIX`, `APPLY_JOB_NAME`, `DELETE_POLICY`, `METRICS_NAMESPACE` are the pipeline's, and the Lambda runtime's own (`AWS_REGION`, `_HANDLER`, …) are refused" }),
    })
    .prefault({}),
  stream: z
    .strictObject({
      batchSize: int(1, 10000).default(100)
        .meta({ description: "1–10000" }),
      batchingWindowSeconds: int(0, 300).default(5)
        .meta({ description: "0–300" }),
      maximumRetryAttempts: int(0, 10000).default(5)
        .meta({ description: "0–10000 (never infinite)" }),
      maximumRecordAgeSeconds: int(60, 604800).default(86400)
        .meta({ description: "60–604800 (never infinite)" }),
      parallelizationFactor: int(1, 10).default(1)
        .meta({ description: "1–10" }),
    })
    .prefault({}),
  applyChangesJob: z
    .strictObject({
      /** Python shell (cheapest, quickest to start) or Spark. */
      type: oneOf(["pythonshell", "glueetl"]).default("pythonshell")
        .meta({ description: "`pythonshell` (one process: quiet tables) or `glueetl` (Spark: each pass's keys spread over the executors, G.1X workers with Glue Auto Scaling up to `maxWorkers`); see [Choosing a configuration](capacity.md#choosing-a-configuration)" }),
      /** Python shell capacity in DPU: 0.0625 or 1. */
      maxCapacity: z.union([z.literal(0.0625), z.literal(1)], { error: "must be 0.0625 or 1" }).default(0.0625)
        .meta({ description: "`0.0625` or `1` (Python shell DPUs; `pythonshell` only)" }),
      /**
       * The G.1X workers a Spark apply run may grow to (one is the driver): Glue Auto Scaling adds
       * executors while a pass's tasks wait, and a pass asks for one task per 1,000 keys.
       */
      maxWorkers: int(2, 299).default(10)
        .meta({ description: "2–299: G.1X workers (4 vCPUs each, one of them the driver) a `glueetl` run may grow to with Glue Auto Scaling; `glueetl` only" }),
      timeoutMinutes: int(1, 2880).default(60)
        .meta({ description: "1–2880" }),
      /**
       * Seconds a run keeps draining manifests before it stops and leaves the rest to the next
       * run. Short, so a run queued behind it never waits long (see docs/design.md, "Liveness").
       */
      timeBudgetSeconds: int(60, 172800).default(600)
        .meta({ description: "60 – (timeout − 420 s): how long one run drains manifests (the 420 s hold a request's retries and the remainder's write)" }),
      /**
       * Manifest JSON one pass reads (MiB): a run holds about 9 times this parsed, so the default
       * fits the 1 GB of a 0.0625-DPU Python shell worker with room to spare, whatever the backlog.
       */
      maxPassMegabytes: int(1, 256).default(16)
        .meta({ description: "1–256: manifest JSON one pass reads. A run holds about 9 times this once parsed, so its memory does not grow with the backlog; the default drains a bulk delete of 10 KB items well inside the 1 GB of a 0.0625-DPU worker ([measured](measurements.md#glue-jobs-glue-jobbenchmarks))" }),
      /**
       * Minutes between the sweeps that start an apply run when manifests are pending and none is
       * running: the safety net behind the sweep on every apply run's end (docs/design.md, "Liveness").
       */
      sweepIntervalMinutes: int(1, 60).default(5)
        .meta({ description: "1–60: how often the schedule sweeps for pending manifests (the safety net behind the sweep on every successful run's end, and the restart after a failed run; see [Liveness](design.md#liveness-every-manifest-is-applied-whatever-glue-does-with-a-busy-start))" }),
    })
    .prefault({}),
  fullCopyJob: z
    .strictObject({
      ...sparkJobSize,
      /** Parallel-scan segments; 0 derives them from the worker count. */
      scanSegments: int(0, 1000000).default(0)
        .meta({ description: "parallel-scan segments; `0` derives them from the workers" }),
      /**
       * Read every written key again from the source and re-copy it if it changed meanwhile, so a
       * change applied during the copy is never overwritten by an older copy. Costs one consistent
       * read per item; turn off only when nothing else writes the backup during the copy.
       */
      verifyWrites: z.boolean().default(true)
        .meta({ description: "re-read each written key from the source and re-copy it if it changed during the copy (one consistent read per item); `false` only when nothing else writes the backup meanwhile" }),
      /** Items per second per segment for provisioned tables; 0 is no limit. */
      maxItemsPerSecond: int(0, 1000000).default(0)
        .meta({ description: "per-segment rate limit for provisioned tables; `0` is none" }),
      /** Glue cron expression of the reconciliation run, or null for on demand only. */
      schedule: glueSchedule.default("cron(0 3 ? * SUN *)")
        .meta({ description: "a Glue cron expression, or `null` for on demand only" }),
    })
    .prefault({}),
  verifyJob: z
    .strictObject({
      /** Glue cron expression, or null for on demand only; by default two hours after full-copy's. */
      schedule: glueSchedule.default("cron(0 5 ? * SUN *)")
        .meta({ description: "a Glue cron expression (default: two hours after full-copy's default start), or `null` for on demand only" }),
      ...sparkJobSize,
      /** Share of the scan segments a scheduled run checks: 1 checks everything, 0.1 a random tenth. */
      sampleFraction: segmentShare
        .default(1)
        .meta({ description: "more than 0, at most 1: the share of the scan segments a scheduled run checks (`0.1` checks a random tenth for a tenth of the reads)" }),
      /**
       * Seconds after a mismatch that survived the consistent re-read before verify reads it once more:
       * longer than the pipeline takes to apply a change (batching window plus an apply run).
       */
      settleSeconds: int(0, 3600).default(300)
        .meta({ description: "0–3600: how long after a mismatch that survived the consistent re-read verify reads it once more; longer than the pipeline takes to apply a change" }),
    })
    .prefault({}),
  restore: z
    .strictObject({
      /**
       * Existing tables the restore job may write besides new tables named
       * `<backupTable.name>-restore-*`; the backup itself never. Name sourceTable.name here to allow
       * restoring into the source (each run must also pass --allow_source_target true).
       */
      allowedTargets: z.array(tableName).default([])
        .meta({ description: "existing table names the restore job may write besides new tables named `<backupTable.name>-restore-*`; never `backupTable.name`. Name `sourceTable.name` here to allow restoring into the source (each such run must also pass `--allow_source_target true`)" }),
      ...sparkJobSize,
      /** Items per second per segment written to the target (provisioned targets); 0 is no limit. */
      maxItemsPerSecond: int(0, 1000000).default(0)
        .meta({ description: "items written per second per segment, for provisioned targets; `0` is none (a run may pass `--max_items_per_second`)" }),
    })
    .prefault({}),
  /**
   * The scheduled restore drill: a share of the backup restored as restore would into a table of its
   * own, checked, measured and deleted. It runs on the restore job's workers and timeout (restore.*), so
   * the rate it measures is the one a real restore would reach.
   */
  restoreDrill: z
    .strictObject({
      /**
       * Glue cron expression, or null for on demand only. Wednesdays 04:00 UTC: apart from the weekend's
       * full-copy and verify, which load the backup and would slow the measured rate, and early enough
       * in a working week for a failed drill to be looked at by the people who run restores.
       */
      schedule: glueSchedule.default("cron(0 4 ? * WED *)")
        .meta({ description: "a Glue cron expression, or `null` to turn the drill off (the job stays, for runs by hand). The default, Wednesdays 04:00 UTC, keeps it apart from full-copy (Sundays 03:00) and verify (Sundays 05:00), which load the backup and would slow the rate it measures" }),
      /** Share of the backup's scan segments a drill restores. */
      sampleFraction: segmentShare
        .default(0.05)
        .meta({ description: "more than 0, at most 1: the share of the backup's scan segments a drill restores, chosen at random and run at once (a twentieth by default: a large table's drill writes a twentieth of what a restore writes)" }),
      /**
       * The estimated full restore (minutes) above which the drill's alarm fires. 240: half the restore
       * job's default timeout (480), so that an estimate drawn from a sample and an item count up to six
       * hours old still leaves a real restore room to finish inside its job's timeout.
       */
      maxRestoreMinutes: int(1, 2880).default(240)
        .meta({ description: "1–2880, at most `restore.timeoutMinutes`: the alarm fires when a drill estimates a full restore longer than this. 240, half the restore job's default timeout, leaves a real restore room to finish inside its timeout whatever the estimate missed (it extrapolates a sample, with an item count DynamoDB refreshes every six hours); set your recovery time objective if it is shorter" }),
    })
    .prefault({}),
};

/**
 * A chunk started just before the budget ends may still retry a request for up to 300 s (ddb_batch's
 * max_elapsed): the timeout must leave room for it and for the remainder's write.
 */
export function checkApplyTimeBudget(env: { applyChangesJob: { timeBudgetSeconds: number; timeoutMinutes: number } }, ctx: z.RefinementCtx): void {
  if (env.applyChangesJob.timeBudgetSeconds > env.applyChangesJob.timeoutMinutes * 60 - APPLY_TIMEOUT_MARGIN_SECONDS) {
    ctx.addIssue({
      code: "custom",
      path: ["applyChangesJob", "timeBudgetSeconds"],
      input: env.applyChangesJob.timeBudgetSeconds,
      message: `must end at least ${APPLY_TIMEOUT_MARGIN_SECONDS} s before the job's timeout (applyChangesJob.timeoutMinutes = ${env.applyChangesJob.timeoutMinutes})`,
    });
  }
}

/** The function's own variables and the Lambda runtime's are not the configuration's to set. */
export function checkLambdaEnvironment(env: { lambda: { environment: Record<string, string> } }, ctx: z.RefinementCtx): void {
  for (const name of Object.keys(env.lambda.environment)) {
    if ((RESERVED_LAMBDA_VARIABLES as readonly string[]).includes(name)) {
      ctx.addIssue({ code: "custom", path: ["lambda", "environment", name], input: name, message: `is set by the pipeline (${RESERVED_LAMBDA_VARIABLES.join(", ")} are reserved)` });
    } else if (LAMBDA_RUNTIME_VARIABLES.includes(name)) {
      ctx.addIssue({ code: "custom", path: ["lambda", "environment", name], input: name, message: "is reserved by the Lambda runtime" });
    }
  }
}

/** Restore reads the backup: it may never be a restore target. */
export function checkRestoreTargets(env: { restore: { allowedTargets: string[] }; backupTable: { name: string } }, ctx: z.RefinementCtx): void {
  env.restore.allowedTargets.forEach((name, i) => {
    if (name === env.backupTable.name) {
      ctx.addIssue({ code: "custom", path: ["restore", "allowedTargets", i], input: name, message: "cannot be backupTable.name: restore reads the backup and never writes it" });
    }
  });
}

/**
 * A real restore runs on the restore job, whose timeout stops it: an estimate past the timeout means the
 * restore could not finish, so the alarm must fire before that.
 */
export function checkRestoreDrill(env: { restoreDrill: { maxRestoreMinutes: number }; restore: { timeoutMinutes: number } }, ctx: z.RefinementCtx): void {
  if (env.restoreDrill.maxRestoreMinutes > env.restore.timeoutMinutes) {
    ctx.addIssue({
      code: "custom",
      path: ["restoreDrill", "maxRestoreMinutes"],
      input: env.restoreDrill.maxRestoreMinutes,
      message: `must be at most restore.timeoutMinutes (${env.restore.timeoutMinutes}): a restore estimated to take longer would be stopped by its job's timeout before it ended`,
    });
  }
}
