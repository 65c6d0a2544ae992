/**
 * What the end-to-end test runs, taken from the project's own configuration and synthesized
 * stack rather than written out again: table names and key schema from the EnvironmentConfig
 * (parseProjectConfig), and from the synthesized Terraform of that environment the Lambda zip and
 * its environment, the event source mapping's settings, and the apply-changes job (its script and
 * the wheel of the job code as uploaded, default arguments, max concurrent runs, queuing), and the
 * metric alarms as declared. Terraform references in those values (but the alarms') are replaced by the local names (tables and jobs by their `name`; the bucket, which AWS names from
 * its bucket_prefix, by `<bucket_prefix>local`). withLocalTableNames() gives each pipeline tables
 * of its own in the run's shared DynamoDB Local.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseProjectConfig } from "../../stacks/config/load";
import type { EnvironmentConfig } from "../../stacks/config/schema";
import type { ProjectConfigInput } from "../../stacks/config/schema";
import type { EventSourceMappingSettings } from "../../local-aws/stream-poller";
import { uniqueTableName, type KeySchema } from "../../local-aws/stream-records";
import { synthesizeEnvironment, type SynthesizedStack } from "./synth";

export interface E2eEnvironment {
  /** The environment (stack) name. */
  readonly name: string;
  readonly config: EnvironmentConfig;
  readonly sourceTable: { readonly name: string; readonly schema: KeySchema };
  readonly backupTable: { readonly name: string; readonly schema: KeySchema };
  /** Local name of the artifacts bucket (manifests). */
  readonly bucket: string;
  readonly lambda: {
    /** The zip Terraform would upload (the synthesized asset), and its handler setting. */
    readonly zip: Uint8Array;
    readonly handler: string;
    /** The Lambda runtime (the zip runs under its Node.js major). */
    readonly runtime: string;
    /** environment.variables, references resolved. */
    readonly environment: Readonly<Record<string, string>>;
  };
  readonly eventSourceMapping: EventSourceMappingSettings;
  readonly applyJob: {
    readonly name: string;
    /** The synthesized file script_location names (glue-job/apply_changes.py as uploaded). */
    readonly script: SynthesizedFile;
    /** The wheel the job's library argument names: all Glue has of the job code besides the script. */
    readonly library: SynthesizedFile;
    /** default_arguments, references resolved. */
    readonly defaultArguments: Readonly<Record<string, string>>;
    readonly maxConcurrentRuns: number;
    readonly jobRunQueuing: boolean;
  };
  /** The aws_cloudwatch_metric_alarm resources by alarm_name, as synthesized. */
  readonly metricAlarms: Readonly<Record<string, Record<string, any>>>;
}

/** A file the stack uploads: its name (the S3 key's last part) and bytes. */
export interface SynthesizedFile {
  readonly fileName: string;
  readonly bytes: Buffer;
}

/** The bytes of the S3 object an `s3://<bucket reference>/<key>` URL of the stack names. */
function uploaded(stack: SynthesizedStack, url: string): SynthesizedFile {
  const key = url.replace(/^s3:\/\/[^/]+\//, "");
  const objects = Object.values(stack.all("aws_s3_object")).filter((object) => object.key === key);
  if (objects.length !== 1) throw new Error(`e2e: ${url} names no uploaded object`);
  return { fileName: path.posix.basename(key), bytes: fs.readFileSync(path.join(stack.dir, objects[0]!.source as string)) };
}

const REFERENCE = /\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}/g;

/** Replaces `${type.name.attribute}` by the local value; any other reference is an error. */
function resolver(stack: SynthesizedStack, bucket: string): (value: string) => string {
  return (value) =>
    value.replace(REFERENCE, (reference, type: string, name: string, attribute: string) => {
      const body = stack.all(type)[name];
      if (type === "aws_s3_bucket" && attribute === "bucket" && body !== undefined) return bucket;
      if (["aws_dynamodb_table", "aws_glue_job"].includes(type) && attribute === "name" && typeof body?.name === "string") return body.name;
      throw new Error(`e2e: no local value for the Terraform reference ${reference}`);
    });
}

const resourceNameOf = (reference: string, type: string): string => {
  const match = new RegExp(`^\\$\\{${type}\\.([A-Za-z0-9_-]+)\\.[a-z_]+\\}$`).exec(reference);
  if (!match) throw new Error(`e2e: expected a reference to a ${type}, got ${reference}`);
  return match[1]!;
};

const keySchemaOf = (config: EnvironmentConfig): KeySchema => ({
  partitionKey: config.sourceTable.partitionKey,
  ...(config.sourceTable.sortKey ? { sortKey: config.sourceTable.sortKey } : {}),
});

/**
 * The local pipeline of the single environment `raw` configures (parseProjectConfig({}) is the
 * default environment). Synthesizes that environment into a temporary folder and removes it.
 */
export function e2eEnvironment(raw: ProjectConfigInput = {}): E2eEnvironment {
  const environments = Object.entries(parseProjectConfig(raw).environments);
  if (environments.length !== 1) throw new Error(`e2e: expected one environment, got ${environments.length}`);
  const [name, config] = environments[0]!;
  const stack = synthesizeEnvironment(raw.environments?.[name] ?? {}, name);
  try {
    const bucketResource = stack.one("aws_s3_bucket").body;
    const bucket = `${bucketResource.bucket_prefix as string}local`;
    const resolve = resolver(stack, bucket);
    const resolveAll = (values: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(values).map(([key, value]) => [key, resolve(value)]));

    const fn = stack.one("aws_lambda_function").body;
    const variables = fn.environment.variables as Record<string, string>;
    const esm = stack.one("aws_lambda_event_source_mapping").body;
    if (esm.parallelization_factor !== 1 || esm.starting_position !== "TRIM_HORIZON") {
      throw new Error("e2e: the stream poller models one batch at a time per shard from TRIM_HORIZON");
    }
    const job = stack.all("aws_glue_job")[resourceNameOf(variables.APPLY_JOB_NAME!, "aws_glue_job")]!;
    const library = (job.default_arguments["--extra-py-files"] ?? job.default_arguments["--additional-python-modules"]) as string | undefined;
    if (library === undefined || library.includes(",")) throw new Error(`e2e: expected the job code as one wheel, got ${library}`);

    const schema = keySchemaOf(config);
    return {
      name,
      config,
      // Both tables have the source's key schema (the stack creates the backup from it).
      sourceTable: { name: config.sourceTable.name, schema },
      backupTable: { name: config.backupTable.name, schema },
      bucket,
      lambda: {
        zip: fs.readFileSync(path.join(stack.dir, fn.filename as string)),
        handler: fn.handler as string,
        runtime: fn.runtime as string,
        environment: resolveAll(variables),
      },
      eventSourceMapping: {
        batchSize: esm.batch_size as number,
        batchingWindowSeconds: esm.maximum_batching_window_in_seconds as number,
        bisectBatchOnFunctionError: esm.bisect_batch_on_function_error as boolean,
        maximumRetryAttempts: esm.maximum_retry_attempts as number,
        reportBatchItemFailures: ((esm.function_response_types ?? []) as string[]).includes("ReportBatchItemFailures"),
        filterPatterns: ((esm.filter_criteria?.filter ?? []) as { pattern: string }[]).map((filter) => JSON.parse(filter.pattern) as Record<string, unknown>),
      },
      applyJob: {
        name: job.name as string,
        script: uploaded(stack, job.command.script_location as string),
        library: uploaded(stack, library),
        defaultArguments: resolveAll(job.default_arguments as Record<string, string>),
        maxConcurrentRuns: (job.execution_property?.max_concurrent_runs as number | undefined) ?? 1,
        jobRunQueuing: job.job_run_queuing_enabled === true,
      },
      metricAlarms: Object.fromEntries(Object.values(stack.all("aws_cloudwatch_metric_alarm")).map((alarm) => [alarm.alarm_name as string, alarm])),
    };
  } finally {
    // synthesizeEnvironment's outdir: <tmp>/stacks/<name>
    fs.rmSync(path.dirname(path.dirname(stack.dir)), { recursive: true, force: true });
  }
}

/**
 * The same environment with tables of its own (names suffixed uniquely), wherever the job's
 * arguments name them: each pipeline of the run gets fresh tables in the shared DynamoDB Local.
 */
export function withLocalTableNames(environment: E2eEnvironment): E2eEnvironment {
  const suffix = uniqueTableName("");
  const renamed = new Map([environment.sourceTable.name, environment.backupTable.name].map((name) => [name, `${name}${suffix}`]));
  const rename = (value: string): string => renamed.get(value) ?? value;
  return {
    ...environment,
    sourceTable: { ...environment.sourceTable, name: rename(environment.sourceTable.name) },
    backupTable: { ...environment.backupTable, name: rename(environment.backupTable.name) },
    applyJob: {
      ...environment.applyJob,
      defaultArguments: Object.fromEntries(Object.entries(environment.applyJob.defaultArguments).map(([key, value]) => [key, rename(value)])),
    },
  };
}
