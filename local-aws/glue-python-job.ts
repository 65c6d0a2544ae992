/**
 * The apply-changes job run for real, for the local Glue endpoint (local-glue.ts): each run that
 * becomes RUNNING starts the entry script with `python3` (the end-to-end test: the synthesized script,
 * the synthesized wheel alone on its path, as Python shell's --extra-py-files puts it there), with the
 * run's arguments (the job's default arguments, as Glue passes them, plus Glue's own --JOB_ID,
 * --JOB_RUN_ID, --JOB_NAME) against the local endpoints; exit code 0 is SUCCEEDED, anything else
 * FAILED. The end-to-end test and the sustained-load benchmark (scripts/bench-apply.ts) run it.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { PROJECT_ROOT } from "../stacks/project-root";
import type { JobRunOutcome, LocalGlueJob, LocalJobRun } from "./local-glue";

/** The python3 with boto3 that scripts/ensure-python-boto3.sh prints (it installs one if it can). */
export function pythonWithBoto3(): string {
  return execFileSync("bash", [path.join(PROJECT_ROOT, "scripts", "ensure-python-boto3.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

/** One finished run of the script. */
export interface ScriptRun {
  readonly runId: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly seconds: number;
  /** The job's JSON log lines (stdout), parsed. */
  readonly events: Record<string, unknown>[];
  readonly stderr: string;
}

export interface PythonJob {
  /** For LocalGlueJob.execute. */
  readonly execute: NonNullable<LocalGlueJob["execute"]>;
  /** Every finished run, in the order they ended. */
  readonly runs: ScriptRun[];
  /** The PYTHONPATH the runs import the job code from (the wheel). */
  readonly pythonPath: string;
  /**
   * Kills (SIGKILL) the script of every run that is executing, standing in for a Glue worker that
   * dies mid-run: the run ends FAILED from the exit status; manifests not fully applied stay.
   * Resolves with the ids of the killed runs once their processes have exited (and the local Glue
   * endpoint has been told: it is told first).
   */
  crashRunning(): Promise<string[]>;
}

export interface PythonJobOptions {
  readonly python: string;
  readonly script: string;
  /** Where the job code comes from: the wheel file (zipimport), or a folder of the package sources. */
  readonly pythonPath: string;
  /** AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, credentials, region. */
  readonly env: Readonly<Record<string, string>>;
}

export function pythonJob(options: PythonJobOptions): PythonJob {
  const runs: ScriptRun[] = [];
  const executing = new Map<string, { child: ChildProcess; exited: Promise<void> }>();
  const execute = (run: LocalJobRun, args: Record<string, string>): Promise<JobRunOutcome> =>
    new Promise<JobRunOutcome>((resolve, reject) => {
      const argv = [
        options.script,
        "--JOB_ID", `j_${run.Id.slice(3, 19)}`,
        "--JOB_RUN_ID", run.Id,
        "--JOB_NAME", run.JobName,
        ...Object.entries(args).flat(),
      ];
      const env = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_EC2_METADATA_DISABLED: "true",
        PYTHONDONTWRITEBYTECODE: "1",
        PYTHONUNBUFFERED: "1",
        PYTHONPATH: options.pythonPath,
        ...options.env,
      };
      const started = Date.now();
      const child = spawn(options.python, argv, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let exited: () => void = () => undefined;
      executing.set(run.Id, { child, exited: new Promise<void>((resolveExit) => (exited = resolveExit)) });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.on("error", reject);
      child.on("close", (exitCode, signal) => {
        executing.delete(run.Id);
        const events = stdout.split("\n").flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return []; // not a log line (or cut short by a kill)
          }
        });
        runs.push({ runId: run.Id, exitCode, signal, seconds: (Date.now() - started) / 1000, events, stderr });
        if (exitCode === 0) resolve({ succeeded: true });
        else {
          const lastLine = stderr.trim().split("\n").pop() ?? "";
          resolve({ succeeded: false, errorMessage: signal ? `process killed (${signal})` : `exit ${exitCode}: ${lastLine}` });
        }
        // After resolve: the endpoint's reaction to the outcome is queued before crashRunning's caller resumes.
        exited();
      });
    });
  const crashRunning = async (): Promise<string[]> => {
    const killed = [...executing.entries()];
    for (const [, { child }] of killed) child.kill("SIGKILL");
    await Promise.all(killed.map(([, { exited }]) => exited));
    return killed.map(([runId]) => runId);
  };
  return { execute, runs, pythonPath: options.pythonPath, crashRunning };
}
