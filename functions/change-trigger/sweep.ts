/**
 * The sweep: starts an apply run when manifests are pending, so every manifest is applied within a
 * bounded time whatever Glue does with a start while a run is busy (queue it, or refuse it with
 * ConcurrentRunsExceededException), and even when a WAITING run later fails.
 *
 * Two EventBridge rules invoke it (stacks/constructs/apply-sweep.ts): every apply run that SUCCEEDED
 * ("Glue Job State Change"), and a schedule, the safety net for what the first cannot see (Glue sends
 * its events best effort; a start refused or lost; a WAITING run that failed) and the only restart
 * after a run that FAILED, TIMED OUT or was STOPPED: a run that fails at once (a bad argument, the
 * backup throttled) is thus restarted once a sweep interval, never in a tight loop.
 * One ListObjectsV2 (MaxKeys 1) and, when something is pending, at most two Glue calls.
 */
import type { GlueClient } from "@aws-sdk/client-glue";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { ensureApplyRun, type ApplyJobOutcome } from "./apply-job";
import type { ChangeTriggerConfig } from "./config";

/** The EventBridge events the sweep answers (the envelope EventBridge delivers to a Lambda target). */
export interface SweepEvent {
  readonly source: "aws.glue" | "aws.events";
  readonly "detail-type": string;
  readonly detail?: { readonly jobName?: string; readonly state?: string; readonly jobRunId?: string };
}

export const JOB_STATE_CHANGE = "Glue Job State Change";
export const SCHEDULED_EVENT = "Scheduled Event";

export function isSweepEvent(event: unknown): event is SweepEvent {
  if (typeof event !== "object" || event === null) return false;
  const { source, "detail-type": detailType } = event as Record<string, unknown>;
  return (source === "aws.glue" && detailType === JOB_STATE_CHANGE) || (source === "aws.events" && detailType === SCHEDULED_EVENT);
}

export type SweepOutcome =
  | { readonly pending: false }
  | { readonly pending: "unknown"; readonly leftToSchedule: string }
  | ({ readonly pending: true } & ApplyJobOutcome)
  | { readonly pending: true; readonly busy: string };

/**
 * Nothing pending: nothing to do. Pending: a WAITING run will take it, else StartJobRun. Refused
 * with ConcurrentRunsExceededException: a run is busy; it lists until none is left, and its end
 * sweeps again. Any other error is thrown: EventBridge's asynchronous invocation retries it, and the
 * schedule comes round anyway.
 */
export async function sweep(s3: S3Client, glue: GlueClient, config: ChangeTriggerConfig, event?: SweepEvent): Promise<SweepOutcome> {
  const state = event?.source === "aws.glue" ? event.detail?.state : undefined;
  if (state !== undefined && state !== "SUCCEEDED") return { pending: "unknown", leftToSchedule: state };
  // StartAfter the prefix itself: a "folder" placeholder object named `changes/` is no manifest.
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: config.manifestBucket, Prefix: config.manifestPrefix, MaxKeys: 1, ...(config.manifestPrefix ? { StartAfter: config.manifestPrefix } : {}) }),
  );
  // An empty page that is truncated may still hide manifests (S3 returns "at most" MaxKeys; behind
  // many delete markers a page can be empty): count it as pending, a run that finds nothing is cheap.
  if ((listed.Contents ?? []).length === 0 && listed.IsTruncated !== true) return { pending: false };
  try {
    return { pending: true, ...(await ensureApplyRun(glue, config.applyJobName)) };
  } catch (error) {
    if (error instanceof Error && error.name === "ConcurrentRunsExceededException") return { pending: true, busy: error.message };
    throw error;
  }
}
