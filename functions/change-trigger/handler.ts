/**
 * change-trigger: DynamoDB stream batch -> one change manifest in S3 -> a run of the apply job; and
 * the sweep (sweep.ts), for the EventBridge events of apply runs ending and of a schedule.
 *
 * Environment, validated once at cold start (config.ts): MANIFEST_BUCKET, MANIFEST_PREFIX,
 * APPLY_JOB_NAME, DELETE_POLICY (retain | mirror), and AWS_S3_FORCE_PATH_STYLE=true for a local
 * S3 server (path-style addressing follows that variable only). Endpoints, region, credentials
 * and retries come from the standard SDK configuration (AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL_GLUE, AWS_MAX_ATTEMPTS, ...).
 *
 * Per batch: one PutObject and at most two Glue calls (GetJobRuns, StartJobRun), whatever its
 * size. Returns Lambda's ReportBatchItemFailures response. A batch is done once its manifest is
 * durable: a run that cannot be started (refused while one is busy, throttled, ...) is logged and
 * left to the sweep, never retried by failing the batch (which would hold up the shard behind it).
 *
 * Every well-formed record's key is a dirty key, REMOVE included, under both delete policies.
 * Under DELETE_POLICY=retain the manifest also lists, in `removed`, the last state (OldImage) of
 * each key whose last record in the batch is a REMOVE, so the backup keeps an item deleted before
 * the apply job read it, with its last state, versioned by the record's sequence number (and dated by
 * its ApproximateCreationDateTime when the record has one).
 */
import { GlueClient } from "@aws-sdk/client-glue";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ensureApplyRun } from "./apply-job";
import { publishBatchMetrics } from "./batch-metrics";
import { loadConfig } from "./config";
import { loadMetricsNamespace } from "./metrics-config";
import { buildManifest } from "./manifest";
import { selectRecords, sequenceNumberOf } from "./records";
import { isSweepEvent, sweep, type SweepEvent, type SweepOutcome } from "./sweep";
import type { DynamoDBStreamEvent, StreamBatchResponse } from "./types";

// Once per container: a bad setting fails the cold start with an error naming the variable.
const config = loadConfig(process.env);
const metricsNamespace = loadMetricsNamespace(process.env);
const s3 = new S3Client({ forcePathStyle: config.s3ForcePathStyle });
const glue = new GlueClient({});

function errorFields(error: unknown): { errorName: string; errorMessage: string } {
  if (error instanceof Error) return { errorName: error.name, errorMessage: error.message };
  return { errorName: typeof error, errorMessage: String(error) };
}

/**
 * The sequence number Lambda must retry from when record `index` is the first one not durably
 * handled.
 *
 * Lambda checkpoints a stream batch at the reported sequence number: every record before it
 * counts as processed, it and everything after it are retried. So the reported record is the
 * FIRST one that is not durably handled:
 * - a malformed record: the records before it were written durably (when the manifest write and
 *   the job start succeeded) and may be acknowledged; it and everything after it are retried.
 *   The well-formed records AFTER it go into the manifest as well: retrying them later is
 *   harmless (the apply job reads the current item state, so a key applied twice is still
 *   right), and should the malformed record exhaust its retries and the rest of its batch go to
 *   the dead-letter queue instead of being processed, their changes are not lost.
 * - the manifest write or the job start failed: nothing selected is durably handled; retry from
 *   the first selected record (or from the first malformed record if that comes earlier).
 * A record without a usable sequence number cannot be named: the nearest earlier record is
 * named instead (retrying one extra, already handled record is harmless). If there is none,
 * undefined: the caller throws, and Lambda retries (or bisects) the whole batch.
 */
function retryFrom(records: readonly unknown[], index: number): string | undefined {
  for (let i = index; i >= 0; i -= 1) {
    const sequenceNumber = sequenceNumberOf(records[i]);
    if (sequenceNumber !== undefined) return sequenceNumber;
  }
  return undefined;
}

function failFrom(records: readonly unknown[], index: number, log: Record<string, unknown>): StreamBatchResponse {
  const itemIdentifier = retryFrom(records, index);
  console.error({ ...log, retryFrom: itemIdentifier ?? "(whole batch)" });
  if (itemIdentifier === undefined) {
    throw new Error(
      `change-trigger: record ${index} of ${records.length} is not handled and no record at or before it has a sequence number; failing the whole batch`,
    );
  }
  return { batchItemFailures: [{ itemIdentifier }] };
}

export async function handler(event: DynamoDBStreamEvent | SweepEvent): Promise<StreamBatchResponse | SweepOutcome> {
  if (isSweepEvent(event)) {
    const outcome = await sweep(s3, glue, config, event);
    console.log({ message: "apply sweep", trigger: event["detail-type"], endedRun: event.detail?.jobRunId ?? null, ...outcome });
    return outcome;
  }
  const records: readonly unknown[] | undefined = Array.isArray((event as DynamoDBStreamEvent)?.Records) ? (event as DynamoDBStreamEvent).Records : undefined;
  if (records === undefined) {
    throw new Error("change-trigger: the event is neither a DynamoDB stream batch (Records) nor a sweep event (Glue Job State Change, Scheduled Event)");
  }
  return handleBatch(records);
}

async function handleBatch(records: readonly unknown[]): Promise<StreamBatchResponse> {
  const { selected, malformed, removesWithoutImage } = selectRecords(records, config.deletePolicy);
  for (const bad of malformed) {
    console.error({
      message: `malformed stream record ${bad.sequenceNumber ?? "(no sequence number)"}: reported as failed, not processed`,
      sequenceNumber: bad.sequenceNumber ?? null,
      eventID: bad.eventID ?? null,
      index: bad.index,
      reason: bad.reason,
    });
  }
  for (const remove of removesWithoutImage) {
    // The stack configures NEW_AND_OLD_IMAGES: a REMOVE without OldImage means a misconfigured stream.
    console.warn({
      message: `REMOVE record ${remove.sequenceNumber} has no OldImage (is the stream NEW_AND_OLD_IMAGES?): its key is applied, but the backup cannot be given the deleted item's last state from this record`,
      sequenceNumber: remove.sequenceNumber,
      eventID: remove.eventID ?? null,
      index: remove.index,
    });
  }
  // records = selected + malformed: no well-formed record is skipped under either delete policy.
  const summary: Record<string, unknown> = {
    message: "change-trigger batch",
    records: records.length,
    selected: selected.length,
    malformed: malformed.length,
    distinctKeys: 0,
    removedItems: 0,
    removesWithoutOldImage: removesWithoutImage.length,
  };
  const firstMalformed = malformed[0]?.index;

  const firstSelected = selected[0];
  if (firstSelected === undefined) {
    summary.noRun = "no selected records";
  } else {
    let step = "build-manifest";
    try {
      const manifest = buildManifest(selected, config.manifestPrefix);
      summary.distinctKeys = manifest.content.keys.length;
      summary.removedItems = manifest.content.removed?.length ?? 0;
      summary.manifestKey = manifest.key;
      step = "s3:PutObject";
      await s3.send(
        new PutObjectCommand({ Bucket: config.manifestBucket, Key: manifest.key, Body: manifest.body, ContentType: "application/json" }),
      );
      publishBatchMetrics(metricsNamespace, {
        records: records.length,
        distinctKeys: manifest.content.keys.length,
        manifestBytes: Buffer.byteLength(manifest.body, "utf8"),
        functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      });
    } catch (error) {
      const from = firstMalformed === undefined ? firstSelected.index : Math.min(firstSelected.index, firstMalformed);
      return failFrom(records, from, { ...summary, message: "change-trigger batch failed; batch will be retried", step, ...errorFields(error) });
    }
    try {
      Object.assign(summary, await ensureApplyRun(glue, config.applyJobName));
    } catch (error) {
      // The manifest is durable: a busy run lists until none is left, and the sweep (on every run's
      // end, and on its schedule) starts a run for whatever is still pending.
      const fields = errorFields(error);
      summary.applyRunNotStarted = fields.errorName === "ConcurrentRunsExceededException" ? "a run is busy (start refused)" : "start failed; left to the sweep";
      console.warn({ message: "apply run not started; the manifest is durable and the sweep will start one", manifestKey: summary.manifestKey, ...fields });
    }
  }

  if (firstMalformed !== undefined) {
    return failFrom(records, firstMalformed, { ...summary, message: "change-trigger batch partly failed: malformed records are retried" });
  }
  console.log(summary);
  return { batchItemFailures: [] };
}
