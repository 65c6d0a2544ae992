import { execFile, execFileSync } from "node:child_process";
import { appCommand as projectAppCommand } from "../../build-tools/app-command";
import { PROJECT_ROOT } from "./synth";

/**
 * Runs the app command of cdktf.json as `cdktf synth` does (`--hcl` sets SYNTH_HCL_OUTPUT), into
 * `outdir`, and returns what it printed.
 */
export function runAppCommand(options: AppCommandOptions): string {
  const { file, args, env } = appCommand(options);
  return execFileSync(file, args, { cwd: PROJECT_ROOT, env, encoding: "utf8", stdio: "pipe" });
}

/** runAppCommand without blocking the event loop (for tests that read other processes meanwhile). */
export function runAppCommandAsync(options: AppCommandOptions): Promise<string> {
  const { file, args, env } = appCommand(options);
  return new Promise((resolve, reject) =>
    execFile(file, args, { cwd: PROJECT_ROOT, env, encoding: "utf8" }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
  );
}

interface AppCommandOptions {
  readonly outdir: string;
  readonly hcl: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

function appCommand(options: AppCommandOptions): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const { file, args } = projectAppCommand(PROJECT_ROOT);
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, CDKTF_OUTDIR: options.outdir };
  delete env.SYNTH_HCL_OUTPUT;
  if (options.hcl) env.SYNTH_HCL_OUTPUT = "true";
  return { file, args, env };
}
