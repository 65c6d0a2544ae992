/**
 * Terraform's CPU on the emulator: the default stack planned with Go's collector at its default
 * (GOGC 100) and at the target the Terraform tests set (DEFAULT_GOGC), alternating, in one run.
 * Prints the CPU seconds of each plan (Terraform and the provider it starts) and their ratio as JSON.
 *
 *   npm run bench:terraform [-- --runs 5]
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appCommand } from "../build-tools/app-command";
import { startMotoServer } from "../local-aws/moto-server";
import { chooseProvider, DEFAULT_GOGC, TerraformWorkdir } from "../local-aws/terraform-workdir";
import { parseProjectConfig } from "../stacks/config/load";
import { PROJECT_ROOT } from "../stacks/project-root";

const RUNS = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;

/** The default stack, synthesized by the app command of cdktf.json into a folder of its own. */
function synthesizeDefaultStack(outdir: string): string {
  const { file, args } = appCommand(PROJECT_ROOT);
  execFileSync(file, args, { cwd: PROJECT_ROOT, env: { ...process.env, CDKTF_OUTDIR: outdir }, stdio: "pipe" });
  const [stack] = fs.readdirSync(path.join(outdir, "stacks"));
  return path.join(outdir, "stacks", stack);
}

/** CPU seconds (user + system) of one `terraform plan` and the processes it waited for, from bash's `times`. */
function planCpuSeconds(tf: TerraformWorkdir, gogc: string): number {
  const result = spawnSync("bash", ["-c", 'terraform plan -input=false -out=tfplan >/dev/null || exit 1; times'], { cwd: tf.dir, env: tf.environment({ GOGC: gogc }), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`terraform plan failed:\n${result.stderr}`);
  // The second line of `times` is the children's: "0m3.210s 0m0.640s".
  const children = result.stdout.trim().split("\n")[1].match(/(\d+)m([\d.]+)s/g) ?? [];
  return children.reduce((sum, time) => {
    const [, minutes, seconds] = /(\d+)m([\d.]+)s/.exec(time)!;
    return sum + Number(minutes) * 60 + Number(seconds);
  }, 0);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-terraform-"));
  const moto = await startMotoServer();
  try {
    const provider = chooseProvider(parseProjectConfig({}).environments["api-pagos-replication"].providerVersion);
    const tf = new TerraformWorkdir(synthesizeDefaultStack(outdir), provider, { endpoint: moto.endpoint });
    await tf.init();
    const samples: Record<string, number[]> = { "100": [], [DEFAULT_GOGC]: [] };
    for (let run = 0; run < RUNS; run++) for (const gogc of Object.keys(samples)) samples[gogc].push(Math.round(planCpuSeconds(tf, gogc) * 1000) / 1000);
    const [standard, tuned] = [median(samples["100"]), median(samples[DEFAULT_GOGC])];
    console.log(
      JSON.stringify(
        { provider: provider.description, runs: RUNS, planCpuSeconds: { gogc100: standard, [`gogc${DEFAULT_GOGC}`]: tuned }, ratio: Math.round((tuned / standard) * 100) / 100, samples },
        null,
        2,
      ),
    );
  } finally {
    await moto.stop();
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
