/** The alarms: where they notify, and the thresholds they page at. */
import { z } from "zod";
import { int } from "./fields";

export const alarmSettings = {
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
};

/** alarms.applyStalledMinutes, or its default: 30 minutes, longer when two runs of the time budget need more (CloudWatch's limit is a day). */
export function stalledApplyMinutes(env: { alarms: { applyStalledMinutes?: number }; applyChangesJob: { timeBudgetSeconds: number } }): number {
  return env.alarms.applyStalledMinutes ?? Math.min(1440, Math.max(30, 2 * Math.ceil((env.applyChangesJob.timeBudgetSeconds + 300) / 60)));
}

/** Thresholds below what a healthy pipeline takes would page on every burst. */
export function checkAlarmThresholds(
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
