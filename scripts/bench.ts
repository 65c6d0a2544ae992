/**
 * Synth performance: the app command of cdktf.json against a script that only loads cdktf and the
 * root of @cdktf/provider-aws, measured in the same run. Targets: at least 6 times
 * faster, and under 150 MB peak memory. Prints JSON; exits 1 when a target is missed.
 *
 *   npm run bench [-- --runs 5]
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appCommand } from "../build-tools/app-command";

const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const PEAK = path.join(__dirname, "report-peak-memory.js");

interface Sample {
  readonly seconds: number;
  readonly peakMb: number;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Sample {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["--require", PEAK, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${args.join(" ")} failed:\n${result.stderr}`);
  const peakKb = Number(/BENCH_PEAK_RSS_KB=(\d+)/.exec(result.stderr)?.[1]);
  return { seconds, peakMb: peakKb / 1024 };
}

function median(samples: Sample[]): Sample {
  const by = (key: keyof Sample) => [...samples].sort((a, b) => a[key] - b[key])[Math.floor(samples.length / 2)][key];
  return { seconds: round(by("seconds")), peakMb: round(by("peakMb")) };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

const app = appCommand(ROOT);
if (!app.runsNode) throw new Error(`cdktf.json app must start with node to be measured: ${app.text}`);
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-synth-"));
const synthEnv = { CDKTF_OUTDIR: outdir };

const rootImport = ["-e", 'require("cdktf"); require("@cdktf/provider-aws");'];
const cold = run(app.args, { ...synthEnv, SYNTH_CACHE: "off" });
const synth: Sample[] = [];
const baseline: Sample[] = [];
for (let i = 0; i < RUNS; i++) {
  synth.push(run(app.args, synthEnv));
  baseline.push(run(rootImport));
}
const synthMedian = median(synth);
const baselineMedian = median(baseline);
const speedup = round(baselineMedian.seconds / synthMedian.seconds);
const report = {
  runs: RUNS,
  appCommand: app.text,
  synth: synthMedian,
  synthWithoutBundleCache: { seconds: round(cold.seconds), peakMb: round(cold.peakMb) },
  rootImportOfProviderAws: baselineMedian,
  speedup,
  targets: { speedupAtLeast: 6, peakMbBelow: 150 },
  met: speedup >= 6 && synthMedian.peakMb < 150,
};
console.log(JSON.stringify(report, null, 2));
fs.rmSync(outdir, { recursive: true, force: true });
process.exitCode = report.met ? 0 : 1;
