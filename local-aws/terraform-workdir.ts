/**
 * Runs Terraform itself, with the real hashicorp/aws provider, on a synthesized stack folder against
 * an AWS emulator: the CLI configuration that installs the provider, the override file that points
 * it at the emulator, and each command timed.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compareVersions } from "../stacks/config/provider-requirements";

const PROVIDER = "registry.terraform.io/hashicorp/aws";
/** Services the stack calls: each gets the emulator's endpoint. */
const SERVICES = ["backup", "cloudwatch", "dynamodb", "events", "glue", "iam", "kms", "lambda", "logs", "s3", "sns", "sqs", "sts"];
/** Longer than any command takes on the emulator (an apply: about 80 s beside three others). */
const COMMAND_TIMEOUT_MS = 480_000;
/**
 * Go's collector target for Terraform and the provider it starts: the provider builds its whole
 * schema at every start, and collecting less often (about 0.5 GB a process) costs less CPU
 * (`npm run bench:terraform` measures the ratio).
 */
export const DEFAULT_GOGC = "400";
/** moto's default account, the one its credentials act in unless a role of another is assumed. */
const EMULATOR_ACCOUNT = "123456789012";

/** Where an unpacked provider mirror is looked for: TERRAFORM_PROVIDER_MIRROR, then the usual places. */
function mirrorCandidates(): string[] {
  const home = os.homedir();
  return [
    process.env.TERRAFORM_PROVIDER_MIRROR,
    "/opt/tf-plugins",
    path.join(home, ".terraform.d", "plugins"),
    path.join(home, ".local", "share", "terraform", "plugins"),
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
  ].filter((dir): dir is string => !!dir);
}

const platform = () => `${os.platform()}_${{ x64: "amd64", arm64: "arm64" }[os.arch() as "x64" | "arm64"] ?? os.arch()}`;

export interface ProviderChoice {
  readonly version: string;
  /** The unpacked mirror it is installed from; undefined: the registry. */
  readonly mirror?: string;
  /** One line for the test log: which provider, from where, and why. */
  readonly description: string;
}

/**
 * The pinned version when a mirror holds it, else the newest a mirror holds, else the pinned version
 * from the registry (which needs the network).
 */
export function chooseProvider(pinned: string): ProviderChoice {
  for (const mirror of mirrorCandidates()) {
    const dir = path.join(mirror, PROVIDER);
    if (!fs.existsSync(dir)) continue;
    const versions = fs.readdirSync(dir).filter((version) => fs.existsSync(path.join(dir, version, platform()))).sort(compareVersions);
    if (versions.length === 0) continue;
    if (versions.includes(pinned)) return { version: pinned, mirror, description: `hashicorp/aws ${pinned} (pinned) from the mirror ${mirror}` };
    const newest = versions[versions.length - 1];
    return { version: newest, mirror, description: `hashicorp/aws ${newest} from the mirror ${mirror}: the pinned ${pinned} is not there, so the newest it holds` };
  }
  return { version: pinned, description: `hashicorp/aws ${pinned} (pinned) from the registry: no provider mirror was found (${mirrorCandidates().join(", ")})` };
}

export interface CommandResult {
  readonly code: number;
  readonly output: string;
  readonly seconds: number;
}

export interface EmulatorTarget {
  readonly endpoint: string;
  /** The account the stack must act in (allowed_account_ids): reached by assuming a role in it. */
  readonly accountId?: string;
}

/** A stack folder prepared for Terraform on the emulator. */
export class TerraformWorkdir {
  private readonly env: NodeJS.ProcessEnv;
  private commands = 0;

  constructor(
    readonly dir: string,
    readonly provider: ProviderChoice,
    target: EmulatorTarget,
    /** Arguments of resources replaced only on the emulator, each for a reason listed in emulator-differences.ts. */
    resourceOverrides: Record<string, Record<string, Record<string, unknown>>> = {},
    /** Where the folders this writes are listed, for the caller to remove. */
    written: string[] = [],
  ) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "terraform-cli-"));
    written.push(home);
    const cliConfig = path.join(home, "terraform.rc");
    fs.writeFileSync(cliConfig, cliConfiguration(provider));
    this.env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1", GOGC: process.env.GOGC ?? DEFAULT_GOGC };
    const override = {
      terraform: {
        // The stack's own backend (local state beside the project, S3 or Terraform Cloud) is replaced by
        // a state file in the folder: tests never share or reach a state.
        backend: { local: { path: "terraform.tfstate" } },
        required_providers: { aws: { source: "hashicorp/aws", version: provider.version } },
      },
      provider: { aws: [emulatorProvider(target), ...providerAliases(dir).map(({ alias, assumesRole }) => ({ alias, ...emulatorProvider(target, assumesRole) }))] },
      ...(Object.keys(resourceOverrides).length ? { resource: resourceOverrides } : {}),
    };
    fs.writeFileSync(path.join(dir, "override.tf.json"), JSON.stringify(override, null, 2));
  }

  /** The environment Terraform runs with here (CLI configuration, automation settings), with `extra` on top. */
  environment = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...this.env, ...extra });

  /** Runs one command; its output is also kept in the folder (terraform-<n>-<command>.log) to read after a failure. */
  run(args: string[]): Promise<CommandResult> {
    const started = process.hrtime.bigint();
    const log = path.join(this.dir, `terraform-${++this.commands}-${args[0]}.log`);
    return new Promise((resolve, reject) => {
      // Its own process group: a stop reaches the provider plugin it started too.
      const child = spawn(process.env.TERRAFORM || "terraform", [...args, "-no-color"], { cwd: this.dir, env: this.env, detached: true });
      let output = "";
      const keep = (chunk: Buffer) => {
        output += chunk;
        fs.appendFileSync(log, chunk);
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      // Never a hung run: a command past its time is stopped (SIGKILL if it does not stop) and reported with what it printed.
      const stop = (signal: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // Already gone.
        }
      };
      const timer = setTimeout(() => {
        stop("SIGTERM");
        setTimeout(() => stop("SIGKILL"), 15_000).unref();
      }, COMMAND_TIMEOUT_MS);
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (signal) return reject(new Error(`terraform ${args.join(" ")} in ${this.dir} was stopped (${signal}) after ${COMMAND_TIMEOUT_MS / 1000} s:\n${output.slice(-6000)}`));
        resolve({ code: code ?? -1, output, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      });
    });
  }

  /** Runs a command and fails with its output unless it exits with one of `codes`. */
  async expect(args: string[], codes: number[] = [0]): Promise<CommandResult> {
    const result = await this.run(args);
    if (!codes.includes(result.code)) {
      throw new Error(`terraform ${args.join(" ")} in ${this.dir} exited ${result.code}:\n${result.output.slice(-6000)}`);
    }
    return result;
  }

  /** From the registry, inits take turns: concurrent inits race on the shared plugin cache (hashicorp/terraform#31964). */
  init = () => (this.provider.mirror ? this.expect(["init", "-input=false"]) : oneAtATime(() => this.expect(["init", "-input=false"])));

  /** `plan -detailed-exitcode` to a plan file, and the plan as `terraform show -json` gives it. */
  plan = async (args: string[] = []) => this.shown(await this.planOnly(args));

  /** plan(), reading the plan file (a provider start) only when it holds changes. */
  planForChanges = async () => {
    const result = await this.planOnly();
    return result.code === 2 ? this.shown(result) : { result, plan: {} as TerraformPlan };
  };

  /**
   * `plan -detailed-exitcode` alone: exit 2 when there are changes, and the summary line it printed.
   * A plan validates the configuration first, as `terraform validate` does.
   */
  planOnly = (args: string[] = []) => this.expect(["plan", "-input=false", "-detailed-exitcode", "-out=tfplan", ...args], [0, 2]);

  /** Applies the saved plan (tfplan) as it was planned, without planning again. */
  applyPlan = () => this.expect(["apply", "-input=false", "tfplan"]);

  private async shown(result: CommandResult): Promise<{ result: CommandResult; plan: TerraformPlan }> {
    const show = await this.expect(["show", "-json", "tfplan"]);
    return { result: { ...result, seconds: result.seconds + show.seconds }, plan: JSON.parse(show.output) };
  }

  destroy = () => this.expect(["destroy", "-input=false", "-auto-approve"]);
  output = async () => JSON.parse((await this.expect(["output", "-json"])).output) as Record<string, { value: any }>;
}

/** One download of the provider for the whole run when it comes from the registry. */
const registryCache = path.join(os.tmpdir(), "terraform-tests-plugin-cache");

let turn: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(job: () => Promise<T>): Promise<T> {
  const result = turn.then(job, job);
  turn = result.catch(() => undefined);
  return result;
}

function cliConfiguration(provider: ProviderChoice): string {
  if (!provider.mirror) {
    fs.mkdirSync(registryCache, { recursive: true });
    return `plugin_cache_dir = ${JSON.stringify(registryCache)}\nplugin_cache_may_break_dependency_lock_file = true\n`;
  }
  return `provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(provider.mirror)}
    include = ["${PROVIDER}"]
  }
  direct {
    exclude = ["${PROVIDER}"]
  }
}
`;
}

/**
 * The aliased aws providers of a stack folder (JSON or HCL), and whether each assumes a role of its own
 * (a backup in another account): that one is kept, and moto's STS acts in the role's account.
 */
function providerAliases(dir: string): { alias: string; assumesRole: boolean }[] {
  const json = path.join(dir, "cdk.tf.json");
  if (fs.existsSync(json)) {
    const blocks = (JSON.parse(fs.readFileSync(json, "utf8")).provider?.aws ?? []) as { alias?: string; assume_role?: unknown[] }[];
    return blocks.filter((block) => block.alias).map((block) => ({ alias: block.alias!, assumesRole: !!block.assume_role?.length }));
  }
  const hcl = fs.existsSync(path.join(dir, "cdk.tf")) ? fs.readFileSync(path.join(dir, "cdk.tf"), "utf8") : "";
  return [...hcl.matchAll(/^provider "aws" \{\n([\s\S]*?)^\}/gm)]
    .map((block) => ({ alias: /^\s*alias\s*=\s*"([^"]+)"/m.exec(block[1])?.[1], assumesRole: /^\s*assume_role\s*\{/m.test(block[1]) }))
    .filter((block): block is { alias: string; assumesRole: boolean } => !!block.alias);
}

/** Merged into the stack's provider block (same alias): region, default tags and allowed accounts stay. */
function emulatorProvider(target: EmulatorTarget, assumesRole = false): Record<string, unknown> {
  return {
    access_key: "test",
    secret_key: "test",
    skip_credentials_validation: true,
    skip_metadata_api_check: true,
    s3_use_path_style: true,
    endpoints: [Object.fromEntries(SERVICES.map((service) => [service, target.endpoint]))],
    // moto's STS hands out credentials that later calls act with in the role's account.
    ...(target.accountId && target.accountId !== EMULATOR_ACCOUNT && !assumesRole
      ? { assume_role: [{ role_arn: `arn:aws:iam::${target.accountId}:role/terraform-tests`, session_name: "terraform-tests" }] }
      : {}),
  };
}

/** What `terraform show -json` says of a saved plan (the parts the tests read). */
export interface TerraformPlan {
  readonly resource_changes?: ResourceChange[];
  readonly planned_values?: { root_module: PlannedModule };
  readonly configuration?: unknown;
}

export interface ResourceChange {
  readonly address: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  readonly action_reason?: string;
  readonly change: { actions: string[]; before: any; after: any; after_unknown?: any };
}

export interface PlannedModule {
  readonly resources?: { address: string; type: string; values: Record<string, unknown> }[];
}
