/** Makes sure a run of the apply job starts after a manifest was written. */
import { GetJobRunsCommand, GlueClient, StartJobRunCommand } from "@aws-sdk/client-glue";

export type ApplyJobOutcome = { readonly waitingRun: string } | { readonly startedRun: string };

/** How many of the newest runs are inspected for a queued one (GetJobRuns returns newest first). */
export const RECENT_RUNS = 10;

/**
 * A run in state WAITING (queued, its script not started yet) will list the manifests when it
 * starts, so it sees the one just written: no new run needed. Otherwise StartJobRun; with job run
 * queuing on, a start while runs are busy is queued rather than refused. Every error propagates,
 * ConcurrentRunsExceededException included: the caller reports the batch failed.
 * At most two Glue calls.
 */
export async function ensureApplyRun(glue: GlueClient, jobName: string): Promise<ApplyJobOutcome> {
  const recent = await glue.send(new GetJobRunsCommand({ JobName: jobName, MaxResults: RECENT_RUNS }));
  const waiting = (recent.JobRuns ?? []).find((run) => run.JobRunState === "WAITING");
  if (waiting !== undefined) return { waitingRun: waiting.Id ?? "(no id)" };
  const started = await glue.send(new StartJobRunCommand({ JobName: jobName }));
  if (!started.JobRunId) throw new Error(`StartJobRun for ${jobName} returned no JobRunId`);
  return { startedRun: started.JobRunId };
}
