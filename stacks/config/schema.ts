import { z } from "zod";
import { providerRequirements, unmetRequirement } from "./provider-requirements";

/**
 * The configuration of one environment (one Terraform stack). Every setting has a default, so an
 * empty object `{}` is a complete configuration: the seed's tables `api-pagos` -> `api-pos-backup`
 * in us-east-1. Documented setting by setting in README.md ("Configuration reference").
 */

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Terraform's operators, at most one space after each (Terraform rejects more), comma-separated.
const PROVIDER_CONSTRAINT = /^\s*((>=|<=|!=|~>|=|>|<) ?)?\d+(\.\d+){0,2}(-[\w.]+)?(\s*,\s*((>=|<=|!=|~>|=|>|<) ?)?\d+(\.\d+){0,2}(-[\w.]+)?)*\s*$/;
// Lowercase because the prefix also names the S3 bucket; short enough for every derived name
// (IAM role names and S3 bucket_prefix are the tightest limits).
const NAME_PREFIX = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;
const ATTRIBUTE_NAME = /^.{1,255}$/s;
// A key ARN, not an alias: key policies and IAM grants are evaluated on the key's ARN.
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/mrk-[0-9a-f]{32}$/;
/** Lambda runtimes AWS supports for new functions; nodejs20.x is deprecated (Node.js 20 ended in April 2026). */
export const LAMBDA_RUNTIMES = ["nodejs22.x", "nodejs24.x"] as const;
const RETIRED_RUNTIMES: Readonly<Record<string, string>> = {
  "nodejs20.x": "Node.js 20 reached end of life in April 2026 and AWS deprecated the nodejs20.x runtime",
  "nodejs18.x": "Node.js 18 reached end of life in April 2025 and AWS deprecated the nodejs18.x runtime",
};
/** Environment variables the stack sets on the change-trigger function. */
export const RESERVED_LAMBDA_VARIABLES = ["MANIFEST_BUCKET", "MANIFEST_PREFIX", "APPLY_JOB_NAME", "DELETE_POLICY", "METRICS_NAMESPACE"] as const;
/** Variables Lambda itself sets and refuses in a function's configuration. */
const LAMBDA_RUNTIME_VARIABLES = [
  "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
  "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_REGION", "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT",
];
/** Seconds between apply-changes' time budget and its Glue timeout: a request's retries (300 s) and the remainder's write. */
const APPLY_TIMEOUT_MARGIN_SECONDS = 420;
/** The retention periods CloudWatch Logs accepts (PutRetentionPolicy). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const int = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}` });

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}` });

const tableName = z.string({ error: "must be a string" }).regex(TABLE_NAME, {
  error: "must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.' (a DynamoDB table name)",
});

const attributeName = z
  .string({ error: "must be a string" })
  .regex(ATTRIBUTE_NAME, { error: "must be 1 to 255 characters (a DynamoDB attribute name)" });

const required = (what: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`),
});

const backendSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("local"),
      /** State file, relative to the stack folder; default: terraform.<environment>.tfstate in the project root. */
      path: z.string().regex(/^[^/]/, { error: "must be a relative path (the output must not name absolute paths)" }).optional(),
    }),
    z.strictObject({
      type: z.literal("s3"),
      bucket: z.string(required("the name of the S3 bucket that holds the state")).regex(S3_BUCKET, { error: "must be an S3 bucket name" }),
      /** Default: <environment>/terraform.tfstate. */
      key: z.string().min(1).optional(),
      /** Region of the state bucket; default: the environment's region. */
      region: z.string().regex(REGION, { error: "must be an AWS region name such as us-east-1 or eu-west-3" }).optional(),
      /** KMS key for the state object; default SSE-S3. The state is always encrypted. */
      kmsKeyId: z.string().min(1).optional(),
    }),
    z
      .strictObject({
        type: z.literal("cloud"),
        organization: z.string(required("the Terraform Cloud / HCP Terraform organization")).min(1),
        /** One workspace by name ... */
        workspace: z.string().min(1).optional(),
        /** ... or the workspaces carrying these tags. */
        workspaceTags: z.array(z.string().min(1)).min(1).optional(),
        /** Terraform Enterprise host; default app.terraform.io. */
        hostname: z.string().regex(/^[a-z0-9.-]+$/, { error: "must be a host name such as app.terraform.io" }).optional(),
      })
      .refine((cloud) => (cloud.workspace === undefined) !== (cloud.workspaceTags === undefined), {
        error: "needs exactly one of workspace or workspaceTags",
      }),
  ],
  { error: 'must be "local", "s3" or "cloud"' },
);

const workerType = oneOf(["G.1X", "G.2X", "G.4X", "G.8X"]);
const glueSchedule = z
  .string()
  .regex(/^cron\(.+\)$/, { error: "must be a Glue cron expression such as cron(0 3 ? * SUN *)" })
  .nullable();

/** Worker type, count and timeout of a Spark job (full-copy, verify, restore). */
const sparkJobSize = {
  workerType: workerType.default("G.1X").meta({ description: "`G.1X`, `G.2X`, `G.4X`, `G.8X`" }),
  numberOfWorkers: int(2, 299).default(2).meta({ description: "2–299" }),
  timeoutMinutes: int(1, 2880).default(480).meta({ description: "1–2880" }),
};

const keyAttribute = z.strictObject({
  /** Attribute name of the key. */
  name: attributeName,
  /** DynamoDB scalar type of the key: S (string), N (number) or B (binary). */
  type: oneOf(["S", "N", "B"]).default("S"),
});

const logRetentionDays = z.number().refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
  error: `must be one of the CloudWatch Logs retention periods ${LOG_RETENTION_DAYS.join(", ")}`,
});

export const environmentSchema = z
  .strictObject({
    /** AWS region of every resource. */
    region: z.string().regex(REGION, { error: "must be an AWS region name such as us-east-1 or eu-west-3" }).default("us-east-1")
      .meta({ description: "an AWS region name" }),
    /** Prefix of every name this stack gives (function, jobs, roles, queue, bucket prefix). */
    namePrefix: z
      .string()
      .regex(NAME_PREFIX, { error: "must be 3 to 32 characters of a-z, 0-9 and '-', starting with a letter" })
      .default("api-pagos-replication")
      .meta({ description: "3–32 of `a-z 0-9 -`, starting with a letter; prefixes every name the stack gives" }),
    /** Tags added to every resource (merged over the default tags application/environment/managed-by). */
    tags: z.record(z.string(), z.string()).default({})
      .meta({ description: "string map, merged over `application`, `environment`, `managed-by`" }),
    /**
     * AWS provider version constraint written to required_providers. Its lowest allowed version must
     * be one this configuration can plan with (see provider-requirements.ts), or synth fails.
     */
    providerVersion: z
      .string()
      .regex(PROVIDER_CONSTRAINT, { error: 'must be a Terraform version constraint such as "6.25.0", "~> 6.25" or ">= 6.25, < 7.0"' })
      .default("6.25.0")
      .meta({ description: "a Terraform version constraint for `hashicorp/aws`, e.g. `~> 6.25`; its lowest allowed version must be at least 5.100.0 (the oldest the tests run the Terraform with) and 6.20.0 with `lambda.runtime` `nodejs24.x`" }),
    /** Accounts the provider may act in (allowed_account_ids): a guard against applying to the wrong account. */
    allowedAccountIds: z
      .array(z.string().regex(/^\d{12}$/, { error: "must be a 12-digit AWS account ID" }))
      .min(1, { error: "must name at least one account (leave it out to allow any)" })
      .optional()
      .meta({ description: "12-digit account IDs the provider may act in" }),
    /** Where Terraform keeps this environment's state. */
    backend: backendSchema.default({ type: "local" })
      .meta({ description: "see [Environments and backends](../README.md#environments-and-backends)" }),
    sourceTable: z
      .strictObject({
        name: tableName.default("api-pagos")
          .meta({ description: "3–255 of `a-z A-Z 0-9 _ . -`" }),
        partitionKey: keyAttribute.prefault({ name: "id" })
          .meta({ description: "`type`: `S`, `N` or `B`" }),
        sortKey: keyAttribute.optional()
          .meta({ description: "as `partitionKey`" }),
        /** Attribute holding the expiry time (epoch seconds) when the source uses DynamoDB TTL. */
        ttlAttribute: attributeName.optional()
          .meta({ description: "the source's TTL attribute (not a key)" }),
        /**
         * The table exists and is managed elsewhere: the stack only reads it (and fails the plan
         * unless its key matches and its stream is on with NEW_AND_OLD_IMAGES); it never changes it.
         */
        existing: z.boolean().default(false)
          .meta({ description: "`true`: the table exists and is managed elsewhere; read, checked, never changed" }),
        /**
         * With `existing`: the customer-managed KMS key the existing table (and so its stream) is
         * encrypted with. The function and both jobs are granted kms:Decrypt on it through DynamoDB
         * only, and the plan fails unless the table uses exactly this key. The key's own policy must
         * also allow this account's IAM policies (the default key policy does).
         */
        kmsKeyArn: z
          .string({ error: "must be a string" })
          .regex(KMS_KEY_ARN, { error: "must be the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias" })
          .optional()
          .meta({ description: "with `existing`: the ARN (not an alias) of the customer-managed KMS key the table is encrypted with. The function and both jobs get `kms:Decrypt` on it through DynamoDB only, and the plan fails unless the table uses exactly this key. The key's own policy must allow this account's IAM policies (a default key policy does; a key in another account must name the three roles). Without it, a source under its owner's customer-managed key fails at run time with AccessDenied on the stream and the reads" }),
      })
      .prefault({}),
    backupTable: z
      .strictObject({
        name: tableName.default("api-pos-backup")
          .meta({ description: "as `sourceTable.name`, and different from it" }),
        /** With a source TTL: expire backup items on the same attribute (false keeps them). */
        expireWithSource: z.boolean().default(true)
          .meta({ description: "with a source TTL, expire backup items on the same attribute; `false` keeps them" }),
      })
      .prefault({}),
    /** Deletion protection on both tables. */
    deletionProtection: z.boolean().default(true)
      .meta({ description: "boolean, for both tables" }),
    /** What the backup does when an item is deleted from the source: keep it (retain) or delete it (mirror). */
    deletes: oneOf(["retain", "mirror"]).default("retain")
      .meta({ description: "`retain` (the backup keeps items deleted from the source) or `mirror`" }),
    /**
     * Under `retain`, the attribute that marks a backup item as the last state of an item deleted from
     * the source: `{"M": {"sequenceNumber": {"S": <REMOVE record's sequence number, 40 digits>},
     * "deletedAt": {"S": <ISO-8601 UTC>}}}`. Both Glue jobs write with conditions on it, so that the
     * newest deletion wins whatever order writes land in. Source items must never carry it (a job run
     * meeting one stops with an error naming the item), and the transform may not touch it.
     */
    retainedAttribute: attributeName.default("_deleted_from_source")
      .meta({ description: "1–255 characters: the attribute marking a retained item with its deletion's version (`{\"sequenceNumber\": S, \"deletedAt\": S}`); must be an attribute source items never have (a run meeting one stops, naming the item), not a key or the TTL attribute, and not renamed or dropped by `transform`" }),
    /** Optional transformation of non-key attributes, applied identically by both Glue jobs. */
    transform: z
      .strictObject({
        rename: z.record(attributeName, attributeName).default({})
          .meta({ description: "non-key attribute → new name, applied identically by both replication jobs (verify compares through it, restore reverses it); two attributes cannot get one name" }),
        drop: z.array(attributeName).default([])
          .meta({ description: "non-key attributes the backup leaves out" }),
      })
      .prefault({}),
    logRetentionDays: logRetentionDays.default(30)
      .meta({ description: "a CloudWatch Logs retention period (1, 3, 5, 7, 14, 30, 60, 90, …, 3653)" }),
    encryption: z
      .strictObject({
        /**
         * Encrypt the tables, bucket, queue, Lambda logs and Glue output with a customer-managed KMS
         * key of this stack instead of AWS-owned/managed keys. The alarm topic always uses that key.
         */
        customerManagedKey: z.boolean().default(false)
          .meta({ description: "`true` encrypts the data stores with the stack's KMS key" }),
      })
      .prefault({}),
    bucket: z
      .strictObject({
        /** Days an overwritten or deleted object version is kept. */
        noncurrentVersionDays: int(1, 3650).default(30)
          .meta({ description: "1–3650: how long overwritten or deleted object versions are kept" }),
        /** Days a rejected (malformed) manifest is kept for inspection. */
        rejectedManifestDays: int(1, 3650).default(90)
          .meta({ description: "1–3650: how long rejected manifests are kept" }),
        /**
         * Let `terraform destroy` delete the bucket with every object version in it (manifests,
         * quarantined keys, verify and restore reports). Off, a bucket the pipeline has written to
         * cannot be destroyed (BucketNotEmpty): turn it on, apply, then destroy (README, "Destroying an environment").
         */
        forceDestroy: z.boolean().default(false)
          .meta({ description: "boolean: `terraform destroy` deletes the bucket with every object version in it (see \"Destroying an environment\")" }),
      })
      .prefault({}),
    alarms: z
      .strictObject({
        /** Address subscribed to the alarm topic (confirm the subscription e-mail once). */
        email: z.email({ error: "must be an e-mail address" }).optional()
          .meta({ description: "an e-mail address subscribed to the alarm topic" }),
        /** Alarm when the oldest unprocessed stream record is older than this. */
        iteratorAgeSeconds: int(60, 86400).default(600)
          .meta({ description: "60–86400" }),
        /**
         * Alarm when a change took longer than this from its stream record to the backup (maximum of
         * ReplicationLatency over 5 minutes). Default: the batching window, a Glue Python shell start
         * (about a minute), a queued run behind a busy one (applyChangesJob.timeBudgetSeconds) and margin.
         */
        replicationLatencySeconds: int(60, 86400).default(900)
          .meta({ description: "60–86400, above `stream.batchingWindowSeconds` + 60: alarm when the maximum `ReplicationLatency` of 5 minutes reaches it. 900 s holds the batching window, a Python shell start (about a minute), a run queued behind a busy one (`applyChangesJob.timeBudgetSeconds`, 600 s) and margin" }),
        /** Alarm when the oldest manifest waiting to be applied is older than this at the start of a pass. */
        oldestPendingManifestAgeSeconds: int(60, 86400).default(1800)
          .meta({ description: "60–86400: alarm when the oldest manifest waiting at a pass start is this old" }),
        /**
         * Alarm when, in each half of this many minutes, manifests were written or pending and no
         * apply-changes run finished. Each half must hold one whole run (applyChangesJob.timeBudgetSeconds
         * plus 300 s), so that a healthy run never looks stalled. Default: 30, or the least that holds
         * two runs when the time budget is longer (see stalledApplyMinutes).
         */
        applyStalledMinutes: int(10, 1440).optional()
          .meta({
            description: "10–1440, at least that: alarm when manifests were written or pending and no apply-changes run finished, in each half of this window",
            defaultText: "`30`, or 2 × (`applyChangesJob.timeBudgetSeconds` + 300 s) when longer",
          }),
      })
      .prefault({}),
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
          .meta({ description: "`pythonshell` or `glueetl` (Spark, 2 × G.1X)" }),
        /** Python shell capacity in DPU: 0.0625 or 1. */
        maxCapacity: z.union([z.literal(0.0625), z.literal(1)], { error: "must be 0.0625 or 1" }).default(0.0625)
          .meta({ description: "`0.0625` or `1` (Python shell DPUs)" }),
        timeoutMinutes: int(1, 2880).default(60)
          .meta({ description: "1–2880" }),
        /**
         * Seconds a run keeps draining manifests before it stops and leaves the rest to the next
         * run. Short, so a run queued behind it never waits long (see README, job run queuing).
         */
        timeBudgetSeconds: int(60, 172800).default(600)
          .meta({ description: "60 – (timeout − 420 s): how long one run drains manifests (the 420 s hold a request's retries and the remainder's write)" }),
        /**
         * Manifest JSON one pass reads (MiB): a run holds about 9 times this parsed, so the default
         * fits the 1 GB of a 0.0625-DPU Python shell worker with room to spare, whatever the backlog.
         */
        maxPassMegabytes: int(1, 256).default(16)
          .meta({ description: "1–256: manifest JSON one pass reads. A run holds about 9 times this once parsed, so its memory does not grow with the backlog; the default drains a bulk delete of 10 KB items well inside the 1 GB of a 0.0625-DPU worker (glue-job/README.md, \"Measured\")" }),
        /**
         * Minutes between the sweeps that start an apply run when manifests are pending and none is
         * running: the safety net behind the sweep on every apply run's end (README, "Liveness").
         */
        sweepIntervalMinutes: int(1, 60).default(5)
          .meta({ description: "1–60: how often the schedule sweeps for pending manifests (the safety net behind the sweep on every successful run's end, and the restart after a failed run; see [Liveness](../README.md#liveness-every-manifest-is-applied-whatever-glue-does-with-a-busy-start))" }),
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
        sampleFraction: z
          .number({ error: "must be a number greater than 0 and at most 1" })
          .gt(0, { error: "must be a number greater than 0 and at most 1" })
          .max(1, { error: "must be a number greater than 0 and at most 1" })
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
  })
  .superRefine((env, ctx) => {
    if (env.sourceTable.name === env.backupTable.name) {
      ctx.addIssue({
        code: "custom",
        path: ["backupTable", "name"],
        input: env.backupTable.name,
        message: "must differ from sourceTable.name (the backup cannot be its own source)",
      });
    }
    const keys = [env.sourceTable.partitionKey.name, env.sourceTable.sortKey?.name].filter((k): k is string => !!k);
    if (env.sourceTable.sortKey && env.sourceTable.sortKey.name === env.sourceTable.partitionKey.name) {
      ctx.addIssue({ code: "custom", path: ["sourceTable", "sortKey", "name"], input: env.sourceTable.sortKey.name, message: "must differ from sourceTable.partitionKey.name" });
    }
    if (env.sourceTable.ttlAttribute && keys.includes(env.sourceTable.ttlAttribute)) {
      ctx.addIssue({ code: "custom", path: ["sourceTable", "ttlAttribute"], input: env.sourceTable.ttlAttribute, message: `cannot be a key attribute (${keys.join(", ")})` });
    }
    for (const [from, to] of Object.entries(env.transform.rename)) {
      if (keys.includes(from) || keys.includes(to)) {
        ctx.addIssue({ code: "custom", path: ["transform", "rename", from], input: to, message: `cannot rename to or from a key attribute (${keys.join(", ")})` });
      }
    }
    // A chunk started just before the budget ends may still retry a request for up to 300 s
    // (ddb_batch's max_elapsed): the timeout must leave room for it and for the remainder's write.
    if (env.applyChangesJob.timeBudgetSeconds > env.applyChangesJob.timeoutMinutes * 60 - APPLY_TIMEOUT_MARGIN_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["applyChangesJob", "timeBudgetSeconds"],
        input: env.applyChangesJob.timeBudgetSeconds,
        message: `must end at least ${APPLY_TIMEOUT_MARGIN_SECONDS} s before the job's timeout (applyChangesJob.timeoutMinutes = ${env.applyChangesJob.timeoutMinutes})`,
      });
    }
    if (env.sourceTable.kmsKeyArn !== undefined && !env.sourceTable.existing) {
      ctx.addIssue({
        code: "custom",
        path: ["sourceTable", "kmsKeyArn"],
        input: env.sourceTable.kmsKeyArn,
        message: "applies only with sourceTable.existing = true (a source this stack creates uses encryption.customerManagedKey)",
      });
    }
    checkAlarmThresholds(env, ctx);
    for (const name of Object.keys(env.lambda.environment)) {
      if ((RESERVED_LAMBDA_VARIABLES as readonly string[]).includes(name)) {
        ctx.addIssue({ code: "custom", path: ["lambda", "environment", name], input: name, message: `is set by the pipeline (${RESERVED_LAMBDA_VARIABLES.join(", ")} are reserved)` });
      } else if (LAMBDA_RUNTIME_VARIABLES.includes(name)) {
        ctx.addIssue({ code: "custom", path: ["lambda", "environment", name], input: name, message: "is reserved by the Lambda runtime" });
      }
    }
    const targets = new Map<string, string>();
    for (const [from, to] of Object.entries(env.transform.rename)) {
      const other = targets.get(to);
      if (other !== undefined) {
        ctx.addIssue({ code: "custom", path: ["transform", "rename", from], input: to, message: `renames to the same name as ${other}: one would overwrite the other` });
      }
      targets.set(to, from);
    }
    const ttl = env.sourceTable.ttlAttribute;
    if (ttl && env.backupTable.expireWithSource && (ttl in env.transform.rename || env.transform.drop.includes(ttl))) {
      ctx.addIssue({
        code: "custom",
        path: ["sourceTable", "ttlAttribute"],
        input: ttl,
        message: "is renamed or dropped by transform, so the backup could not expire items on it (set backupTable.expireWithSource to false, or keep the attribute)",
      });
    }
    env.transform.drop.forEach((name, i) => {
      if (keys.includes(name)) {
        ctx.addIssue({ code: "custom", path: ["transform", "drop", i], input: name, message: `cannot drop a key attribute (${keys.join(", ")})` });
      }
    });
    checkRetainedAttribute(env, keys, ctx);
    const unmet = unmetRequirement(env.providerVersion, providerRequirements(env));
    if (unmet) {
      ctx.addIssue({
        code: "custom",
        path: ["providerVersion"],
        input: env.providerVersion,
        message: `allows hashicorp/aws ${unmet.allows}, older than ${unmet.need.version}, ${unmet.need.because}`,
      });
    }
    env.restore.allowedTargets.forEach((name, i) => {
      if (name === env.backupTable.name) {
        ctx.addIssue({ code: "custom", path: ["restore", "allowedTargets", i], input: name, message: "cannot be backupTable.name: restore reads the backup and never writes it" });
      }
    });
  });

/** alarms.applyStalledMinutes, or its default: 30 minutes, longer when two runs of the time budget need more (CloudWatch's limit is a day). */
export function stalledApplyMinutes(env: { alarms: { applyStalledMinutes?: number }; applyChangesJob: { timeBudgetSeconds: number } }): number {
  return env.alarms.applyStalledMinutes ?? Math.min(1440, Math.max(30, 2 * Math.ceil((env.applyChangesJob.timeBudgetSeconds + 300) / 60)));
}

/** Thresholds below what a healthy pipeline takes would page on every burst. */
function checkAlarmThresholds(
  env: { alarms: { replicationLatencySeconds: number; applyStalledMinutes?: number }; stream: { batchingWindowSeconds: number }; applyChangesJob: { timeBudgetSeconds: number } },
  ctx: z.RefinementCtx,
): void {
  const { alarms } = env;
  if (alarms.replicationLatencySeconds <= env.stream.batchingWindowSeconds + 60) {
    ctx.addIssue({
      code: "custom",
      path: ["alarms", "replicationLatencySeconds"],
      input: alarms.replicationLatencySeconds,
      message: `must exceed stream.batchingWindowSeconds (${env.stream.batchingWindowSeconds}) plus 60 s for a Glue start, or every change would alarm`,
    });
  }
  if (alarms.applyStalledMinutes !== undefined && Math.floor(alarms.applyStalledMinutes / 2) * 60 < env.applyChangesJob.timeBudgetSeconds + 300) {
    ctx.addIssue({
      code: "custom",
      path: ["alarms", "applyStalledMinutes"],
      input: alarms.applyStalledMinutes,
      message: `must be at least twice applyChangesJob.timeBudgetSeconds (${env.applyChangesJob.timeBudgetSeconds}) plus 300 s, in minutes (${Math.ceil((2 * (env.applyChangesJob.timeBudgetSeconds + 300)) / 60)}): each half must hold a whole run, or a healthy run would alarm`,
    });
  }
}

/** The retained-item marker must not collide with anything the source items or the transform use. */
function checkRetainedAttribute(
  env: { retainedAttribute: string; sourceTable: { ttlAttribute?: string }; transform: { rename: Record<string, string>; drop: string[] } },
  keys: readonly string[],
  ctx: z.RefinementCtx,
): void {
  const marker = env.retainedAttribute;
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: "custom", path, input, message });
  if (keys.includes(marker)) {
    issue(["retainedAttribute"], marker, `cannot be a key attribute (${keys.join(", ")}): it marks retained items and must be an attribute source items never have`);
  }
  if (env.sourceTable.ttlAttribute === marker) {
    issue(["retainedAttribute"], marker, "cannot be sourceTable.ttlAttribute: it marks retained items and must be an attribute source items never have");
  }
  for (const [from, to] of Object.entries(env.transform.rename)) {
    if (from === marker || to === marker) {
      issue(["transform", "rename", from], to, `cannot rename to or from retainedAttribute (${JSON.stringify(marker)}), the attribute that marks retained items`);
    }
  }
  env.transform.drop.forEach((name, i) => {
    if (name === marker) issue(["transform", "drop", i], name, `cannot drop retainedAttribute (${JSON.stringify(marker)}), the attribute that marks retained items`);
  });
}

export type EnvironmentInput = z.input<typeof environmentSchema>;
export type EnvironmentConfig = z.output<typeof environmentSchema>;
export type KeyAttribute = z.output<typeof keyAttribute>;

export const projectConfigSchema = z
  .strictObject({
    /** One stack per environment, keyed by the stack name. */
    environments: z
      .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,63}$/, { error: "must be a stack name of letters, digits and '-'" }), environmentSchema)
      .refine((envs) => Object.keys(envs).length > 0, { error: "must declare at least one environment" })
      .default({ "api-pagos-replication": environmentSchema.parse({}) }),
  })
  .superRefine(({ environments }, ctx) => {
    const names = Object.keys(environments);
    for (const [i, a] of names.entries()) {
      for (const b of names.slice(i + 1)) {
        const [x, y] = [environments[a], environments[b]];
        const separateAccounts = x.allowedAccountIds && y.allowedAccountIds && !x.allowedAccountIds.some((id) => y.allowedAccountIds!.includes(id));
        if (separateAccounts) continue;
        const clash = (setting: string, value: string, why: string) =>
          ctx.addIssue({
            code: "custom",
            path: ["environments", b, ...setting.split(".")],
            input: value,
            message: `is also used by environment "${a}" in ${x.region}: ${why} (use another name, or set allowedAccountIds to keep them in separate accounts)`,
          });
        // IAM role names and CloudWatch dashboards ("global, not region-specific", PutDashboard) are
        // account-wide, so the prefix that names them clashes whatever the regions.
        if (x.namePrefix === y.namePrefix) {
          const why = x.region === y.region ? "two stacks would manage the same resources" : "its IAM roles and its CloudWatch dashboard are named account-wide";
          clash("namePrefix", x.namePrefix, why);
        }
        if (x.region !== y.region) continue;
        if (x.sourceTable.name === y.sourceTable.name) clash("sourceTable.name", x.sourceTable.name, "two stacks would manage the same resources");
        if (x.backupTable.name === y.backupTable.name) clash("backupTable.name", x.backupTable.name, "two stacks would manage the same resources");
      }
    }
  });

export type ProjectConfigInput = z.input<typeof projectConfigSchema>;
export type ProjectConfig = z.output<typeof projectConfigSchema>;
