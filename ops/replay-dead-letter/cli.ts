/**
 * replay-dead-letter: brings back the changes of stream batches that the event source mapping
 * discarded after its retries (its dead-letter queue holds one invocation record per batch).
 *
 *   aws sqs receive-message --queue-url "$(terraform output -raw dead_letter_queue_url)" \
 *     --max-number-of-messages 10 --output json > dead-letters.json
 *   terraform output -json > outputs.json
 *   npm run replay-dead-letter -- --messages dead-letters.json --outputs outputs.json
 *
 * For each record: reads the discarded range from the stream while the stream still holds it
 * (24 hours), writes the manifest the change-trigger function would have written (same code, same
 * name), and makes sure a run of apply-changes starts. When the range is gone it says so, and what
 * full-copy can and cannot repair. Once the manifests are written, a start Glue refuses
 * (ConcurrentRunsExceededException: a run is busy) or that fails is reported (stdout
 * `applyRunNotStarted`, and in words on stderr) but is no error: the sweep starts a run for pending
 * manifests within applyChangesJob.sweepIntervalMinutes. Exit status: 0 all replayed (their
 * manifests written); 2 some range gone; 1 an error (a manifest not written included).
 * Options: --outputs (terraform output -json; gives --bucket and --job-name), --bucket,
 * --job-name, --environment (of replication.config.json, for the delete policy; default: the only
 * one), --region (else the SDK's usual settings).
 */
import * as fs from "node:fs";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { GlueClient } from "@aws-sdk/client-glue";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ensureApplyRun } from "../../functions/change-trigger/apply-job";
import { buildManifest } from "../../functions/change-trigger/manifest";
import { selectRecords } from "../../functions/change-trigger/records";
import { loadProjectConfig } from "../../stacks/config/load";
import { BUCKET_LAYOUT } from "../../contracts";
import { PROJECT_ROOT } from "../../stacks/project-root";
import { invocationRecordsOf, parseInvocationRecord, type DiscardedBatch } from "./invocation-record";
import { RangeGoneError, readDiscardedRange } from "./read-range";

interface Options {
  readonly messages: string;
  readonly bucket: string;
  readonly jobName: string;
  readonly deletePolicy: "retain" | "mirror";
  /** applyChangesJob.sweepIntervalMinutes of the environment: how soon the sweep starts a run. */
  readonly sweepIntervalMinutes: number;
  readonly region?: string;
}

class UsageError extends Error {}

function options(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i]!, argv[i + 1]];
    if (!name.startsWith("--") || value === undefined) throw new UsageError(`expected --option value pairs, got ${JSON.stringify(name)}`);
    args.set(name.slice(2), value);
  }
  const known = ["messages", "outputs", "bucket", "job-name", "environment", "region"];
  const unknown = [...args.keys()].filter((name) => !known.includes(name));
  if (unknown.length) throw new UsageError(`unknown option ${unknown.map((n) => `--${n}`).join(", ")}; allowed: ${known.map((n) => `--${n}`).join(", ")}`);
  const outputs = args.has("outputs") ? (JSON.parse(fs.readFileSync(args.get("outputs")!, "utf8")) as Record<string, { value?: unknown }>) : {};
  const fromOutputs = (name: string): string | undefined => (typeof outputs[name]?.value === "string" ? (outputs[name]!.value as string) : undefined);
  const need = (value: string | undefined, what: string): string => {
    if (!value) throw new UsageError(`${what} is needed: give it, or --outputs with the stack's terraform output -json`);
    return value;
  };
  const config = loadProjectConfig(PROJECT_ROOT, env);
  const names = Object.keys(config.environments);
  const environment = args.get("environment") ?? (names.length === 1 ? names[0]! : undefined);
  if (environment === undefined || config.environments[environment] === undefined) {
    throw new UsageError(`--environment must be one of ${names.join(", ")}`);
  }
  return {
    messages: need(args.get("messages"), "--messages (a file of dead-letter messages)"),
    bucket: need(args.get("bucket") ?? fromOutputs("bucket_name"), "--bucket"),
    jobName: need(args.get("job-name") ?? fromOutputs("apply_changes_job_name"), "--job-name"),
    deletePolicy: config.environments[environment]!.deletes,
    sweepIntervalMinutes: config.environments[environment]!.applyChangesJob.sweepIntervalMinutes,
    ...(args.has("region") ? { region: args.get("region")! } : {}),
  };
}

/** What full-copy does and does not bring back when a discarded range is gone from the stream. */
export function rangeGoneAdvice(batch: DiscardedBatch, deletePolicy: string): string {
  const when = batch.approximateArrivalOfFirstRecord ? ` (written from about ${batch.approximateArrivalOfFirstRecord})` : "";
  return [
    `The ${batch.batchSize || "discarded"} record(s) ${batch.startSequenceNumber}..${batch.endSequenceNumber} of shard ${batch.shardId}${when} are no longer in the stream (DynamoDB Streams keeps records 24 hours): they cannot be replayed.`,
    "Run full-copy now: it copies every item the source holds today, so every item changed in that range and still present gets its current state.",
    deletePolicy === "retain"
      ? "It cannot bring back the last state of an item deleted in that range: the backup keeps whatever it held for it before (nothing, if it was created in that range too). If such items matter, restore them from the source table's point-in-time recovery (PITR) as of a time in that range."
      : "Under mirror, an item deleted in that range may still be in the backup: full-copy with --mirror_deletes true removes it.",
  ].join("\n");
}

const errorName = (error: unknown): string => (error instanceof Error ? error.name : "Error");
const errorText = (error: unknown): string => (error instanceof Error ? (error.name && error.name !== "Error" ? `${error.name}: ${error.message}` : error.message) : String(error));

/** What the command prints when the manifests are written but no apply run could be started. */
export interface ApplyRunNotStarted {
  readonly jobName: string;
  /** The error's name, e.g. ConcurrentRunsExceededException. */
  readonly error: string;
  readonly errorMessage: string;
  readonly reason: string;
  /** s3:// URIs of the manifests this command wrote (still pending). */
  readonly manifestsWritten: readonly string[];
  readonly sweepIntervalMinutes: number;
  /** The command that starts a run by hand. */
  readonly startByHand: string;
}

/**
 * The report (stdout) and the words (stderr) for a start that Glue refused or that failed after the
 * manifests were written: nothing is lost, the sweep starts a run for pending manifests.
 */
export function applyRunNotStarted(
  error: unknown,
  context: { readonly jobName: string; readonly manifestsWritten: readonly string[]; readonly sweepIntervalMinutes: number; readonly region?: string },
): { readonly report: ApplyRunNotStarted; readonly advice: string } {
  const { jobName, manifestsWritten, sweepIntervalMinutes } = context;
  const refused = errorName(error) === "ConcurrentRunsExceededException";
  const startByHand = `aws glue start-job-run --job-name ${jobName}${context.region ? ` --region ${context.region}` : ""}`;
  const report: ApplyRunNotStarted = {
    jobName,
    error: errorName(error),
    errorMessage: error instanceof Error ? error.message : String(error),
    reason: refused ? "a run is busy: Glue refused the start" : "the start failed",
    manifestsWritten,
    sweepIntervalMinutes,
    startByHand,
  };
  const minutes = `${sweepIntervalMinutes} minute${sweepIntervalMinutes === 1 ? "" : "s"}`;
  const advice = [
    refused
      ? `Glue refused to start a run of ${jobName}: ${errorText(error)} (a run is busy).`
      : `Starting a run of ${jobName} failed: ${errorText(error)}.`,
    manifestsWritten.length === 1
      ? `The manifest is written: ${manifestsWritten[0]} (nothing is lost; the replayed changes are in it).`
      : `The ${manifestsWritten.length} manifests are written: ${manifestsWritten.join(", ")} (nothing is lost; the replayed changes are in them).`,
    `Nothing more is needed: the sweep starts a run within ${minutes} (applyChangesJob.sweepIntervalMinutes) whenever manifests are pending, and the end of every successful run sweeps too.`,
    `To start one now: ${startByHand}`,
    "Delete the replayed messages once a run started after this has SUCCEEDED (the manifest is then gone from the bucket).",
  ].join("\n");
  return { report, advice };
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2), process.env);
  const clientConfig = opts.region ? { region: opts.region } : {};
  const streams = new DynamoDBStreamsClient(clientConfig);
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: process.env.AWS_S3_FORCE_PATH_STYLE === "true" });
  const glue = new GlueClient(clientConfig);
  let gone = 0;
  const manifestsWritten: string[] = [];
  for (const { record, where, receiptHandle } of invocationRecordsOf(JSON.parse(fs.readFileSync(opts.messages, "utf8")))) {
    const batch = parseInvocationRecord(record, where);
    let records: Record<string, unknown>[];
    try {
      records = await readDiscardedRange(streams, batch);
    } catch (error) {
      if (!(error instanceof RangeGoneError)) throw error;
      gone += 1;
      console.error(`${where}: ${error.message}\n${rangeGoneAdvice(batch, opts.deletePolicy)}`);
      continue;
    }
    const { selected, malformed } = selectRecords(records, opts.deletePolicy);
    const result: Record<string, unknown> = { message: where, range: [batch.startSequenceNumber, batch.endSequenceNumber], records: records.length, malformed: malformed.length };
    if (receiptHandle) result.receiptHandle = receiptHandle; // to delete the message once the run succeeded
    if (selected.length > 0) {
      const manifest = buildManifest(selected, BUCKET_LAYOUT.manifests);
      const uri = `s3://${opts.bucket}/${manifest.key}`;
      try {
        await s3.send(new PutObjectCommand({ Bucket: opts.bucket, Key: manifest.key, Body: manifest.body, ContentType: "application/json" }));
      } catch (error) {
        const earlier = manifestsWritten.length === 0 ? "" : ` The manifest(s) written before it (${manifestsWritten.join(", ")}) are applied by the sweep within ${opts.sweepIntervalMinutes} minute(s).`;
        throw new Error(
          `${where}: the manifest ${uri} could not be written (${errorText(error)}): this range is not replayed and no apply run was started. Fix the cause and run the command again (it writes the same manifest, so repeating it is safe).${earlier}`,
        );
      }
      manifestsWritten.push(uri);
      Object.assign(result, { manifest: manifest.key, keys: manifest.content.keys.length, removedItems: manifest.content.removed?.length ?? 0 });
    }
    // Records the function could not read at all are named, never dropped silently.
    if (malformed.length > 0) result.malformedRecords = malformed;
    console.log(JSON.stringify(result));
  }
  if (manifestsWritten.length > 0) {
    // The manifests are durable: a start Glue refuses or that fails is left to the sweep, as the
    // change-trigger function leaves it (its batch succeeds once its manifest is in S3).
    let applyRun: Awaited<ReturnType<typeof ensureApplyRun>> | undefined;
    try {
      applyRun = await ensureApplyRun(glue, opts.jobName);
    } catch (error) {
      const { report, advice } = applyRunNotStarted(error, { jobName: opts.jobName, manifestsWritten, sweepIntervalMinutes: opts.sweepIntervalMinutes, ...(opts.region ? { region: opts.region } : {}) });
      console.log(JSON.stringify({ applyRunNotStarted: report }));
      console.error(`replay-dead-letter: ${advice}`);
    }
    if (applyRun !== undefined) console.log(JSON.stringify({ applyRun }));
  }
  return gone > 0 ? 2 : 0;
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(error instanceof Error ? `replay-dead-letter: ${error.message}` : error);
      process.exitCode = 1;
    },
  );
}
