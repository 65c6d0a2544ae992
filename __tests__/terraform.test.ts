/**
 * The synthesized Terraform, proven by Terraform itself: every configuration the suite synthesizes
 * is initialized, validated and planned with the real hashicorp/aws provider against moto's server,
 * and a representative set is applied, planned again (no change at all: the attributes moto does not
 * keep are ignored on the emulator, helpers/emulator-differences.ts), checked through boto3 and
 * destroyed the way the README tells operators to.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseProjectConfig } from "../stacks/config/load";
import { providerRequirements, unmetRequirement } from "../stacks/config/provider-requirements";
import { backupPlacement } from "../stacks/config/table-settings";
import type { EnvironmentConfig, EnvironmentInput } from "../stacks/config/schema";
import { runAppCommandAsync } from "./helpers/app-command";
import { pythonWithBoto3 } from "../local-aws/glue-python-job";
import { emulatorResourceOverrides, plannedChanges } from "./helpers/emulator-differences";
import { startMotoServer, type MotoServer } from "../local-aws/moto-server";
import { chooseProvider, TerraformWorkdir, type TerraformPlan } from "../local-aws/terraform-workdir";
import { DEFAULT_STACK, VARIANTS } from "./helpers/variants";

jest.setTimeout(900_000);

const ENVIRONMENTS: Record<string, EnvironmentInput> = { [DEFAULT_STACK]: {}, ...VARIANTS.environments };
const PINNED = parseProjectConfig({}).environments[DEFAULT_STACK].providerVersion;
const provider = chooseProvider(PINNED);
/** Applied, planned again and destroyed: between them every kind of resource and setting the stack has. */
const APPLIED = new Set([DEFAULT_STACK, "configured-controls", "composite-key-spark", "existing-source-table", "every-setting", "backup-other-account"]);
/** Planned from `cdktf synth --hcl` too, and compared value by value with the JSON's plan. */
const HCL = [DEFAULT_STACK, "configured-controls", "existing-source-table"];
/** Terraform runs at once: most of an apply is waiting on the provider's polls of the emulator. */
const CONCURRENCY = 6;

interface Row {
  configuration: string;
  plan?: string;
  apply?: string;
  secondPlan?: string;
  destroy?: string;
  seconds: number;
  notes: string[];
}

const rows = new Map<string, Row>();
const row = (configuration: string): Row => {
  if (!rows.has(configuration)) rows.set(configuration, { configuration, seconds: 0, notes: [] });
  return rows.get(configuration)!;
};
const timed = (r: Row, step: keyof Pick<Row, "plan" | "apply" | "secondPlan" | "destroy">, seconds: number, what = "ok") => {
  r[step] = `${what} (${seconds.toFixed(1)} s)`;
  r.seconds += seconds;
};

const config = (name: string, input: EnvironmentInput): EnvironmentConfig => parseProjectConfig({ environments: { [name]: input } }).environments[name];

/** Every folder the tier writes: removed after the run unless a test failed (their logs tell why). */
const written: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  written.push(dir);
  return dir;
};

/** Synthesizes environments with the project's own app command (as `cdktf synth` does) and returns each stack's folder. */
async function synth(environments: Record<string, EnvironmentInput>, hcl = false): Promise<Record<string, string>> {
  const outdir = tempDir("terraform-synth-");
  const file = path.join(outdir, "replication.config.json");
  fs.writeFileSync(file, JSON.stringify({ environments }));
  await runAppCommandAsync({ outdir, hcl, env: { REPLICATION_CONFIG: file } });
  return Object.fromEntries(Object.keys(environments).map((name) => [name, path.join(outdir, "stacks", name)]));
}

/**
 * synth() of the default stack apart from the others (they share its names and would clash) and of
 * the others together: one app run each, both at once.
 */
async function synthApart(environments: Record<string, EnvironmentInput>, hcl = false): Promise<Record<string, string>> {
  const { [DEFAULT_STACK]: alone, ...others } = environments;
  const runs = [alone && synth({ [DEFAULT_STACK]: alone }, hcl), Object.keys(others).length > 0 && synth(others, hcl)];
  return Object.assign({}, ...(await Promise.all(runs.filter((run) => run))));
}

/** The configuration run when the chosen provider cannot validate the one the suite synthesizes. */
function closestSupported(input: EnvironmentInput): EnvironmentInput {
  return { ...input, lambda: { ...input.lambda, runtime: "nodejs22.x" } };
}

const unsupportedBy = (name: string, input: EnvironmentInput) => unmetRequirement(`= ${provider.version}`, providerRequirements(config(name, input)));

/** The README's destroy steps for a configuration: protections off (deletionProtection false, bucket.forceDestroy true). */
const destroyable = (input: EnvironmentInput): EnvironmentInput => ({ ...input, deletionProtection: false, bucket: { ...input.bucket, forceDestroy: true } });
const needsDestroySteps = (env: EnvironmentConfig) => !env.bucket.forceDestroy || env.deletionProtection;

/** Every stack folder the tier runs, synthesized before the first Terraform command: one app run per kind. */
interface Folders {
  readonly json: Record<string, string>;
  readonly hcl: Record<string, string>;
  /** For configurations the chosen provider cannot validate: the closest it can (closestSupported). */
  readonly closest: Record<string, string>;
  /** The applied configurations as the README's destroy steps change them. */
  readonly destroyable: Record<string, string>;
  readonly mismatched: Record<string, string>;
  /** A backup role in the source's own account, which only the plan can tell (no allowedAccountIds). */
  readonly backupInSourceAccount: string;
}

async function synthesizeAll(): Promise<Folders> {
  const pick = (names: string[], change: (input: EnvironmentInput) => EnvironmentInput = (input) => input) =>
    Object.fromEntries(names.map((name) => [name, change(ENVIRONMENTS[name])]));
  const names = Object.keys(ENVIRONMENTS);
  const refused = names.filter((name) => unsupportedBy(name, ENVIRONMENTS[name]));
  const run = (name: string) => (refused.includes(name) ? closestSupported(ENVIRONMENTS[name]) : ENVIRONMENTS[name]);
  const destroyed = [...APPLIED].filter((name) => needsDestroySteps(config(name, run(name))));
  const [json, hcl, closest, destroyableFolders, mismatched, sameAccount] = await Promise.all([
    synthApart(ENVIRONMENTS),
    synthApart(pick(HCL), true),
    synthApart(pick(refused, closestSupported)),
    synthApart(Object.fromEntries(destroyed.map((name) => [name, destroyable(run(name))]))),
    synth(Object.fromEntries(MISMATCHED_SOURCES.map((_, i) => [mismatchedName(i), mismatchedInput(i)]))),
    synth({ [BACKUP_IN_SOURCE_ACCOUNT]: { backupTable: { assumeRoleArn: "arn:aws:iam::123456789012:role/backup-deployer", region: "eu-west-1" } } }),
  ]);
  return { json, hcl, closest, destroyable: destroyableFolders, mismatched, backupInSourceAccount: sameAccount[BACKUP_IN_SOURCE_ACCOUNT] };
}

/**
 * boto3 on the emulator (helpers/emulator_aws.py): one request, one answer. Never synchronous: a
 * blocked event loop stops reading the output of the Terraform runs beside it, which then block
 * while holding the emulator's connections.
 */
function emulatorAws(request: Record<string, unknown>): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = execFile(python, [path.join(__dirname, "helpers", "emulator_aws.py")], { encoding: "utf8" }, (error, stdout, stderr) =>
      error ? reject(new Error(`emulator_aws.py ${request.action}: ${stderr || error.message}`)) : resolve(JSON.parse(stdout)),
    );
    child.stdin!.end(JSON.stringify(request));
  });
}

function workdir(dir: string, env: EnvironmentConfig, endpoint: string, applied = false): TerraformWorkdir {
  const overrides = emulatorResourceOverrides((type) => resourceNames(dir, type), applied);
  return new TerraformWorkdir(dir, provider, { endpoint, accountId: env.allowedAccountIds?.[0] }, overrides, written);
}

/** The names of a resource type's resources in a stack folder, JSON or HCL. */
function resourceNames(dir: string, type: string): string[] {
  const json = path.join(dir, "cdk.tf.json");
  if (fs.existsSync(json)) return Object.keys(JSON.parse(fs.readFileSync(json, "utf8")).resource?.[type] ?? {});
  const hcl = fs.readFileSync(path.join(dir, "cdk.tf"), "utf8");
  return [...hcl.matchAll(new RegExp(`^resource "${type}" "([\\w-]+)"`, "gm"))].map((match) => match[1]);
}

/** Runs `jobs` with at most `limit` at once; each result (or error) is kept by name. */
function pool<T>(limit: number, jobs: [string, () => Promise<T>][]): Map<string, Promise<T>> {
  const results = new Map<string, Promise<T>>();
  let running = 0;
  const waiting: (() => void)[] = [];
  for (const [name, job] of jobs) {
    const promise = (async () => {
      if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      running++;
      try {
        return await job();
      } finally {
        running--;
        waiting.shift()?.();
      }
    })();
    promise.catch(() => undefined);
    results.set(name, promise);
  }
  return results;
}

let moto: MotoServer;
let python: string;
let folders: Folders;
let runs: Map<string, Promise<unknown>>;

/** Tables that exist before the stacks that adopt them (sourceTable.existing). */
async function createExistingSources(endpoint: string): Promise<void> {
  for (const [name, input] of Object.entries(ENVIRONMENTS)) {
    const env = config(name, input);
    if (!env.sourceTable.existing) continue;
    const keys = [env.sourceTable.partitionKey, env.sourceTable.sortKey].filter(Boolean);
    await emulatorAws({
      action: "create-table",
      endpoint,
      region: env.region,
      account: env.allowedAccountIds?.[0],
      name: env.sourceTable.name,
      keys,
      streamViewType: "NEW_AND_OLD_IMAGES",
      kmsKeyArn: env.sourceTable.kmsKeyArn,
    });
  }
}

/** init, plan; for APPLIED also apply, a second plan, the wiring checks and the README's destroy. */
async function lifecycle(name: string, input: EnvironmentInput): Promise<{ plan: TerraformPlan }> {
  const r = row(name);
  const unsupported = unsupportedBy(name, input);
  if (unsupported) {
    const tf = workdir(folders.json[name], config(name, input), moto.endpoint);
    r.seconds += (await tf.init()).seconds;
    // The version this run has cannot validate it: say so by name, prove it, and run the closest configuration it can.
    const refused = await tf.run(["validate"]);
    if (refused.code === 0 || !refused.output.includes(`got ${input.lambda?.runtime}`)) {
      throw new Error(`${name}: hashicorp/aws ${provider.version} did not refuse lambda.runtime ${input.lambda?.runtime}, which provider-requirements.ts says needs ${unsupported.need.version}:\n${refused.output.slice(-3000)}`);
    }
    r.seconds += refused.seconds;
    r.notes.push(`hashicorp/aws ${provider.version} cannot validate it (${unsupported.need.because}; validate said: ${firstError(refused.output)}, ${refused.seconds.toFixed(1)} s); the rest ran with lambda.runtime nodejs22.x`);
    return lifecycleOf(name, folders.closest[name], closestSupported(input), r);
  }
  return lifecycleOf(name, folders.json[name], input, r);
}

const firstError = (output: string) => (/Error: (.*)/.exec(output)?.[1] ?? output.trim().split("\n")[0]).replace(/\[[^\]]{80,}\]/, "[…]").trim();

async function lifecycleOf(name: string, dir: string, input: EnvironmentInput, r: Row): Promise<{ plan: TerraformPlan }> {
  const env = config(path.basename(dir), input);
  const tf = workdir(dir, env, moto.endpoint, APPLIED.has(name));
  r.seconds += (await tf.init()).seconds;
  // The plan's JSON costs a `terraform show` (a provider start): read only where it is compared.
  const first = HCL.includes(name.replace(" (--hcl)", "")) ? await tf.plan() : { result: await tf.planOnly(), plan: {} };
  if (first.result.code !== 2) throw new Error(`${name}: the first plan shows no changes:\n${first.result.output.slice(-3000)}`);
  const summary = /Plan: (\d+) to add, (\d+) to change, (\d+) to destroy/.exec(first.result.output);
  if (!summary || summary[2] !== "0" || summary[3] !== "0") throw new Error(`${name}: the first plan is not only creations:\n${first.result.output.slice(-3000)}`);
  timed(r, "plan", first.result.seconds, `${summary[1]} to create`);
  if (!APPLIED.has(name)) return { plan: first.plan };

  timed(r, "apply", (await tf.applyPlan()).seconds);
  // No change at all: the emulator's differences are ignored for their attributes only (emulator-differences.ts).
  const second = await tf.planForChanges();
  if (second.result.code !== 0) throw new Error(`${name}: the second plan shows changes:\n${plannedChanges(second.plan).join("\n")}`);
  timed(r, "secondPlan", second.result.seconds, "no changes");
  const outputs = Object.fromEntries(Object.entries(await tf.output()).map(([key, { value }]) => [key, value]));
  const placement = backupPlacement(env);
  const vault = env.backupTable.vault && { ...env.backupTable.vault, kmsKeyArn: env.encryption.customerManagedKey ? (outputs.backup_kms_key_arn ?? outputs.kms_key_arn) : undefined };
  // The backup's side is read with the backup provider's own credentials: its role, in its region.
  const backup = { region: placement.region, roleArn: env.backupTable.assumeRoleArn, remote: placement.remote, deletionProtection: env.deletionProtection, deletes: env.deletes };
  const wiring = await emulatorAws({ action: "check-wiring", endpoint: moto.endpoint, region: env.region, account: env.allowedAccountIds?.[0], outputs, vault, backup });
  if (wiring.problems.length) throw new Error(`${name}: applied resources not wired as declared:\n${wiring.problems.join("\n")}`);
  r.notes.push(`${wiring.checks} wiring checks through boto3`);
  await destroyAsTheReadmeSays(name, env, tf, outputs.bucket_name, r);
  return { plan: first.plan };
}

/**
 * The pipeline has written to its bucket. With bucket.forceDestroy off, destroy stops at the bucket
 * (the data is kept), and the README's step for that (bucket.forceDestroy true, applied to the bucket
 * alone) then lets destroy end it; otherwise the README's steps (deletionProtection false,
 * bucket.forceDestroy true, apply, destroy) remove everything.
 */
async function destroyAsTheReadmeSays(name: string, env: EnvironmentConfig, tf: TerraformWorkdir, bucket: string, r: Row): Promise<void> {
  await emulatorAws({ action: "fill-bucket", endpoint: moto.endpoint, region: env.region, account: env.allowedAccountIds?.[0], bucket });
  const stoppedAtBucket = !env.bucket.forceDestroy && !env.deletionProtection;
  if (stoppedAtBucket) {
    const kept = await tf.run(["destroy", "-input=false", "-auto-approve"]);
    if (kept.code === 0 || !/BucketNotEmpty/.test(kept.output)) throw new Error(`${name}: destroy of a bucket holding versions did not stop with BucketNotEmpty:\n${kept.output.slice(-3000)}`);
    const left = (await tf.expect(["state", "list"])).output.trim().split("\n");
    if (left.filter((address) => address.startsWith("aws_")).join() !== `aws_s3_bucket.${resourceNames(tf.dir, "aws_s3_bucket")[0]}`) throw new Error(`${name}: a destroy stopped at the bucket left more:\n${left.join("\n")}`);
    r.seconds += kept.seconds;
    r.notes.push("destroy with bucket.forceDestroy off stopped at the bucket (BucketNotEmpty) and kept it with its objects; bucket.forceDestroy applied to the bucket alone (-target, as the README says), destroy then ended it");
  }
  if (needsDestroySteps(env)) {
    for (const entry of ["cdk.tf.json", "assets"]) {
      fs.rmSync(path.join(tf.dir, entry), { recursive: true, force: true });
      fs.cpSync(path.join(folders.destroyable[name], entry), path.join(tf.dir, entry), { recursive: true });
    }
    // After a destroy stopped at the bucket, the rest would be created again: only the bucket is planned and applied.
    const targets = stoppedAtBucket ? [`-target=aws_s3_bucket.${resourceNames(tf.dir, "aws_s3_bucket")[0]}`] : [];
    const turnedOff = await tf.plan(targets);
    // Only the protections change: nothing is replaced. The policy documents that name a table or the
    // bucket are read again at apply, so the policies built from them are unknown until then (the plan
    // after the apply shows they did not change); a backup table's resource policy, put again, gets a new revision.
    const rereadPolicy = /: read during apply \(read_because_dependency_pending\)$|\.policy: unknown until apply$|^aws_dynamodb_resource_policy\.[^.]+\.revision_id: unknown until apply$/;
    const changes = plannedChanges(turnedOff.plan).filter((line) => !rereadPolicy.test(line));
    const protections = changes.filter((line) => /^aws_dynamodb_table\.[^.]+\.deletion_protection_enabled: true -> false$|^aws_s3_bucket\.[^.]+\.force_destroy: false -> true$/.test(line));
    const wanted = (env.deletionProtection ? (env.sourceTable.existing ? 1 : 2) : 0) + (env.bucket.forceDestroy ? 0 : 1);
    if (protections.length !== changes.length || protections.length !== wanted) {
      throw new Error(`${name}: turning the protections off plans other changes than the ${wanted} expected:\n${changes.join("\n")}`);
    }
    r.seconds += turnedOff.result.seconds + (await tf.applyPlan()).seconds;
    if (!stoppedAtBucket) {
      const after = await tf.planForChanges();
      if (after.result.code !== 0) throw new Error(`${name}: after turning the protections off, a plan still shows changes:\n${plannedChanges(after.plan).join("\n")}`);
      r.seconds += after.result.seconds;
    }
  }
  const destroyed = await tf.destroy();
  const left = (await tf.expect(["state", "list"])).output.trim();
  if (left) throw new Error(`${name}: destroy left resources in the state:\n${left}`);
  timed(r, "destroy", destroyed.seconds, env.bucket.forceDestroy && !env.deletionProtection ? "ok" : "ok, after the README's steps");
}

const ADOPTED_KEY = { partitionKey: { name: "pk", type: "S" }, sortKey: { name: "sk", type: "N" } } as const;
/** An existing source table unlike the configuration: each must fail the plan with its own message. */
const MISMATCHED_SOURCES: [string, { keys: { name: string; type: string }[]; streamViewType?: string; kmsKeyArn?: string } | undefined, string][] = [
  ["no such table", undefined, "reading Dynamodb Table (api-pagos): couldn't find resource"],
  ["stream off", { keys: [ADOPTED_KEY.partitionKey, ADOPTED_KEY.sortKey] }, "must have its stream enabled with view type NEW_AND_OLD_IMAGES"],
  ["stream without old images", { keys: [ADOPTED_KEY.partitionKey, ADOPTED_KEY.sortKey], streamViewType: "NEW_IMAGE" }, "must have its stream enabled with view type NEW_AND_OLD_IMAGES"],
  ["another key name", { keys: [ADOPTED_KEY.partitionKey], streamViewType: "NEW_AND_OLD_IMAGES" }, "must have the key of sourceTable.partitionKey and sourceTable.sortKey: pk (S), sk (N)"],
  ["the key's type differs", { keys: [{ name: "pk", type: "N" }, ADOPTED_KEY.sortKey], streamViewType: "NEW_AND_OLD_IMAGES" }, "must have the key of sourceTable.partitionKey and sourceTable.sortKey: pk (S), sk (N)"],
  [
    "encrypted with another key",
    { keys: [ADOPTED_KEY.partitionKey, ADOPTED_KEY.sortKey], streamViewType: "NEW_AND_OLD_IMAGES", kmsKeyArn: "key/11111111-1111-4111-8111-111111111111" },
    "must be encrypted with sourceTable.kmsKeyArn",
  ],
];

const mismatchedName = (index: number) => `mismatched-source-${index}`;
/** Each mismatch in an account of its own, so that all share the emulator. */
const mismatchedAccount = (index: number) => `1000000001${String(index).padStart(2, "0")}`;
const keyArn = (account: string, id: string) => `arn:aws:kms:us-east-1:${account}:${id}`;

function mismatchedInput(index: number): EnvironmentInput {
  const account = mismatchedAccount(index);
  // The configuration names one key; the table of the last case is encrypted with another.
  const kmsKeyArn = MISMATCHED_SOURCES[index][1]?.kmsKeyArn ? keyArn(account, "key/00000000-0000-4000-8000-000000000000") : undefined;
  return { allowedAccountIds: [account], sourceTable: { existing: true, ...ADOPTED_KEY, kmsKeyArn } };
}

const BACKUP_IN_SOURCE_ACCOUNT = "backup-in-source-account";

/** moto's default account is the source's here, and the configuration names a role of that same account. */
async function backupInSourceAccount(): Promise<void> {
  const r = row("backup role in the source's own account");
  const tf = workdir(folders.backupInSourceAccount, config(BACKUP_IN_SOURCE_ACCOUNT, {}), moto.endpoint);
  r.seconds += (await tf.init()).seconds;
  const planned = await tf.run(["plan", "-input=false"]);
  r.seconds += planned.seconds;
  const message = "backupTable.assumeRoleArn must be a role of another account than the source's";
  if (planned.code !== 1 || !planned.output.replace(/\s+/g, " ").includes(message)) {
    throw new Error(`the plan did not fail with "${message}" (exit ${planned.code}):\n${planned.output.slice(-3000)}`);
  }
  r.plan = `fails as it must (${planned.seconds.toFixed(1)} s)`;
}

async function mismatchedSource(index: number): Promise<void> {
  const [label, table, message] = MISMATCHED_SOURCES[index];
  const name = mismatchedName(index);
  const account = mismatchedAccount(index);
  if (table) {
    const kms = table.kmsKeyArn ? { kmsKeyArn: keyArn(account, table.kmsKeyArn) } : {};
    await emulatorAws({ action: "create-table", endpoint: moto.endpoint, region: "us-east-1", account, name: "api-pagos", ...table, ...kms });
  }
  const r = row(`existing source: ${label}`);
  const tf = workdir(folders.mismatched[name], config(name, mismatchedInput(index)), moto.endpoint);
  r.seconds += (await tf.init()).seconds;
  const planned = await tf.run(["plan", "-input=false"]);
  r.seconds += planned.seconds;
  if (planned.code !== 1 || !planned.output.replace(/\s+/g, " ").includes(message)) {
    throw new Error(`${label}: the plan did not fail with "${message}" (exit ${planned.code}):\n${planned.output.slice(-3000)}`);
  }
  r.plan = `fails as it must (${planned.seconds.toFixed(1)} s)`;
}

beforeAll(async () => {
  console.log(`Terraform tier: ${provider.description}`);
  python = pythonWithBoto3();
  [moto, folders] = await Promise.all([startMotoServer(), synthesizeAll()]);
  await createExistingSources(moto.endpoint);
  runs = pool(CONCURRENCY, [
    // The applies first: they are the longest, and mostly wait on the emulator.
    ...Object.keys(ENVIRONMENTS)
      .sort((a, b) => Number(APPLIED.has(b)) - Number(APPLIED.has(a)))
      .map((name) => [name, () => lifecycle(name, ENVIRONMENTS[name])] as [string, () => Promise<unknown>]),
    ...MISMATCHED_SOURCES.map((_, i) => [mismatchedName(i), () => mismatchedSource(i)] as [string, () => Promise<unknown>]),
    [BACKUP_IN_SOURCE_ACCOUNT, backupInSourceAccount] as [string, () => Promise<unknown>],
    ...HCL.map((name) => [`${name} (--hcl)`, () => lifecycleOf(`${name} (--hcl)`, folders.hcl[name], ENVIRONMENTS[name], row(`${name} (--hcl)`))] as [string, () => Promise<unknown>]),
  ]);
});

afterAll(async () => {
  // Every command has its own time limit (local-aws/terraform-workdir.ts), so this wait ends.
  const settled = await Promise.allSettled([...(runs?.values() ?? [])]);
  await moto?.stop();
  if (settled.every((result) => result.status === "fulfilled")) for (const dir of written) fs.rmSync(dir, { recursive: true, force: true });
  const header = "| configuration | plan | apply | second plan | destroy | seconds |\n|---|---|---|---|---|---|";
  const lines = [...rows.values()].map((r) => `| ${r.configuration} | ${r.plan ?? "–"} | ${r.apply ?? "–"} | ${r.secondPlan ?? "–"} | ${r.destroy ?? "–"} | ${r.seconds.toFixed(0)} |`);
  const notes = [...rows.values()].flatMap((r) => r.notes.map((note) => `- ${r.configuration}: ${note}`));
  console.log(`Terraform tier with ${provider.description}\n\n${header}\n${lines.join("\n")}\n\n${notes.join("\n")}`);
});

describe(`Terraform ${provider.version} on moto: init and plan (which validates first)`, () => {
  test.each(Object.keys(ENVIRONMENTS).filter((name) => !APPLIED.has(name)))("%s", async (name) => {
    expect(runs.has(name)).toBe(true);
    await runs.get(name);
  });
});

describe("applied, planned again with no changes, checked through boto3 and destroyed as the README says", () => {
  test.each([...APPLIED])("%s", async (name) => {
    expect(runs.has(name)).toBe(true);
    await runs.get(name);
  });
});

describe("an existing source table unlike the configuration fails the plan, naming what differs", () => {
  test.each(MISMATCHED_SOURCES.map(([label], i) => [label, i] as const))("%s", async (_label, i) => {
    expect(runs.has(mismatchedName(i))).toBe(true);
    await runs.get(mismatchedName(i));
  });
});

test("a backup role in the source's own account fails the plan, naming backupTable.assumeRoleArn", async () => {
  expect(runs.has(BACKUP_IN_SOURCE_ACCOUNT)).toBe(true);
  await runs.get(BACKUP_IN_SOURCE_ACCOUNT);
});

describe("cdktf synth --hcl plans to what cdk.tf.json plans", () => {
  test.each(HCL)("%s", async (name) => {
    const [fromJson, fromHcl] = (await Promise.all([runs.get(name), runs.get(`${name} (--hcl)`)])) as { plan: TerraformPlan }[];
    const values = (plan: TerraformPlan) => (plan.planned_values?.root_module.resources ?? []).map(({ address, values }) => ({ address, values })).sort((a, b) => a.address.localeCompare(b.address));
    expect(values(fromHcl.plan).length).toBeGreaterThan(50);
    expect(values(fromHcl.plan)).toEqual(values(fromJson.plan));
  });
});
