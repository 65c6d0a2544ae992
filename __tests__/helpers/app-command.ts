import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "./synth";

/**
 * Runs the app command of cdktf.json as `cdktf synth` does (`--hcl` sets SYNTH_HCL_OUTPUT), into
 * `outdir`, and returns what it printed.
 */
export function runAppCommand(options: { outdir: string; hcl: boolean; env?: NodeJS.ProcessEnv }): string {
  const { app } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "cdktf.json"), "utf8")) as { app: string };
  const [command, ...args] = app.split(/\s+/);
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, CDKTF_OUTDIR: options.outdir };
  delete env.SYNTH_HCL_OUTPUT;
  if (options.hcl) env.SYNTH_HCL_OUTPUT = "true";
  return execFileSync(command === "node" ? process.execPath : command, args, { cwd: PROJECT_ROOT, env, encoding: "utf8", stdio: "pipe" });
}
