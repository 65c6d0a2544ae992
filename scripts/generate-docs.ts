/**
 * Writes the reference documents generated from the code (`npx tsx scripts/generate-docs.ts`); a
 * test fails when a committed one differs from what this writes.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { configurationReference } from "../stacks/config/reference";
import { type EnvironmentConfig, environmentSchema } from "../stacks/config/schema";
import { applyChanges } from "../stacks/constructs/jobs/apply-changes";
import { fullCopy } from "../stacks/constructs/jobs/full-copy";
import type { GlueJobKind, JobContext } from "../stacks/constructs/jobs/job-kind";
import { restore } from "../stacks/constructs/jobs/restore";
import { restoreDrill } from "../stacks/constructs/jobs/restore-drill";
import { verify } from "../stacks/constructs/jobs/verify";

const ROOT = path.resolve(__dirname, "..");

/** One argument as glue-job/backup_replication/job_args.py declares it (job_args.reference()). */
export interface GlueJobArgument {
  readonly name: string;
  readonly attribute: string;
  readonly required: boolean;
  /** The text a run without the argument gets; null when it is required. */
  readonly default: string | null;
  readonly kind: string;
  readonly allowed: string;
  readonly description: string;
  /** Glue's own argument, which Glue passes to every run. */
  readonly glue: boolean;
}

export interface GlueJobReference {
  readonly jobs: { readonly job: string; readonly config: string; readonly arguments: GlueJobArgument[] }[];
}

let reference: GlueJobReference | undefined;

/** The jobs' argument declarations, from the job code itself (the interpreter the Python tests use). */
export function glueJobReference(): GlueJobReference {
  if (!reference) {
    const python = execFileSync("bash", [path.join(ROOT, "scripts", "ensure-python-boto3.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
    const output = execFileSync(python, ["-c", "import json\nfrom backup_replication import job_args\nprint(json.dumps(job_args.reference()))"], {
      cwd: ROOT,
      env: { ...process.env, PYTHONPATH: path.join(ROOT, "glue-job"), PYTHONDONTWRITEBYTECODE: "1" },
      encoding: "utf8",
    });
    reference = JSON.parse(output) as GlueJobReference;
  }
  return reference;
}

const JOB_KINDS: GlueJobKind[] = [applyChanges, fullCopy, verify, restore, restoreDrill];

/**
 * What a job kind's definition passes with `config` (stacks/constructs/jobs/), by argument: its value
 * and whether a run may not override it. The context stands in for the resources with placeholders;
 * a definition only puts their names and ARNs into strings.
 */
function stackArguments(kind: GlueJobKind, config: EnvironmentConfig): Map<string, { value: string; fixed: boolean }> {
  const table = (name: string) => ({ name, arn: `arn:aws:dynamodb:${config.region}:<account>:table/${name}` });
  const context: JobContext = {
    config,
    source: table(config.sourceTable.name),
    backup: table(config.backupTable.name),
    backupAddress: config.backupTable.name,
    bucket: { bucket: "<bucket>", arn: "arn:aws:s3:::<bucket>" } as unknown as S3Bucket,
    partition: "aws",
    accountId: "<account>",
    deadLetterQueueName: "<dead-letter queue>",
  };
  const { arguments: given, fixedArguments = {} } = kind.define(context);
  const passed = new Map<string, { value: string; fixed: boolean }>();
  for (const [name, value] of Object.entries(given)) passed.set(name, { value, fixed: false });
  for (const [name, value] of Object.entries(fixedArguments)) passed.set(name, { value, fixed: true });
  return passed;
}

/** One row of docs/glue-job-arguments.md: an argument of a job, each cell but `name` as Markdown. */
export interface GlueJobArgumentRow {
  readonly job: string;
  readonly name: string;
  readonly glue: boolean;
  readonly argument: string;
  readonly default: string;
  readonly allowed: string;
  readonly stack: string;
  readonly description: string;
}

const code = (text: string) => (text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``);

function jobKind(job: string): GlueJobKind {
  const kind = JOB_KINDS.find((candidate) => candidate.id === job);
  if (!kind) throw new Error(`no job kind in stacks/constructs/jobs/ for the Glue job ${job}`);
  return kind;
}

/**
 * Every argument of every job, in declaration order: the default, what is allowed, what the stack
 * passes with the default configuration (and, for restore, what it adds when restore.allowedTargets
 * names the source), the description. Fails on an argument the stack passes that the job does not declare.
 */
export function glueJobArgumentRows(): GlueJobArgumentRow[] {
  const defaults = environmentSchema.parse({});
  const intoSource = environmentSchema.parse({ restore: { allowedTargets: [defaults.sourceTable.name] } });
  return glueJobReference().jobs.flatMap(({ job, arguments: declared }) => {
    const passed = stackArguments(jobKind(job), defaults);
    const passedIntoSource = stackArguments(jobKind(job), intoSource);
    const undeclared = [...passedIntoSource.keys()].filter((name) => !declared.some((argument) => argument.name === name));
    if (undeclared.length) throw new Error(`the stack passes ${job} arguments it does not declare: ${undeclared.join(", ")}`);
    return declared.map((argument) => {
      const given = passed.get(argument.name) ?? passedIntoSource.get(argument.name);
      const where = passed.has(argument.name) ? "" : "into the source: ";
      return {
        job,
        name: argument.name,
        glue: argument.glue,
        argument: code(`--${argument.name}`),
        default: argument.default === null ? "required" : code(argument.default === "" ? '""' : argument.default),
        allowed: argument.allowed,
        stack: argument.glue ? "Glue, every run" : given ? `${where}${code(given.value)}${given.fixed ? " (fixed)" : ""}` : "—",
        description: argument.description,
      };
    });
  });
}

const GLUE_ARGUMENTS_TEXT = `Glue passes arguments of its own to every run (\`--JOB_ID\`, \`--JOB_RUN_ID\`, \`--JOB_NAME\`,
\`--TempDir\`, \`--job-bookmark-option\`, \`--enable-metrics\`, the library's \`--extra-py-files\` or
\`--additional-python-modules\`, ...); the jobs ignore them all but these. \`--JOB_RUN_ID\` is read by the
jobs' own small parser, never asked of \`awsglue.utils.getResolvedOptions\`: that function declares
\`--JOB_ID\` and \`--JOB_RUN_ID\` on its argparse parser itself, so asking for them again is an argparse
conflict. Absent (a run not started by Glue), it is none.`;

/** A table per job (Glue's own arguments apart), then the table of Glue's own arguments the jobs read. */
function glueJobArgumentsReference(): string {
  const rows = glueJobArgumentRows();
  const table = (header: string[], lines: string[][]) =>
    [`| ${header.join(" | ")} |`, `|${"---|".repeat(header.length)}`, ...lines.map((cells) => `| ${cells.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`)].join("\n");
  const sections = glueJobReference().jobs.map(({ job, config }) => {
    const module = jobKind(job).script.replace(/\.py$/, "");
    const own = rows.filter((row) => row.job === job && !row.glue);
    return [
      `## ${job}`,
      `\`glue-job/${module}.py\` runs \`backup_replication.jobs.${module}\`, which parses its arguments into \`job_args.${config}\`.`,
      table(["Argument", "Default", "Allowed", "The stack passes", "Description"], own.map((row) => [row.argument, row.default, row.allowed, row.stack, row.description])),
    ].join("\n\n");
  });
  const glue = rows.filter((row) => row.glue).map((row) => [row.argument, row.job, row.description]);
  return [...sections, `## Glue's own arguments\n\n${GLUE_ARGUMENTS_TEXT}\n\n${table(["Argument", "Job", "Description"], glue)}`].join("\n\n");
}

export const GENERATED_DOCS: Record<string, () => string> = {
  "docs/configuration.md": () => `# Configuration reference

<!-- Generated from stacks/config/schema.ts by scripts/generate-docs.ts: edit the schema, then run it. -->

Everything has a default: with no configuration the project synthesizes the seed pipeline. To change
settings, create \`replication.config.json\` in the project root (or point \`REPLICATION_CONFIG\` at
another file) with an \`environments\` object; each key is a stack name (see the README's
"Environments and backends").

Synth validates the whole file first and fails with one line per bad setting, naming the setting,
the value and what is allowed, for example
\`environments.prod.stream.batchSize = 0: must be a whole number from 1 to 10000\`. Unknown settings are
errors too, so a typo never silently falls back to a default.

${configurationReference()}

Environment variables: \`REPLICATION_CONFIG\` (configuration file), \`REPLICATION_ENVIRONMENT\`
(environments to synthesize), \`SYNTH_CACHE=off\` (rebuild the synth app and the Lambda zip instead of
reusing them from \`node_modules/.cache\`).
`,
  "docs/glue-job-arguments.md": () => `# Glue job arguments

<!-- Generated from glue-job/backup_replication/job_args.py and stacks/constructs/jobs/ by scripts/generate-docs.ts: edit the declarations there, then run it. -->

Each Glue job reads \`--name value\` arguments (or \`--name=value\`; the last one wins). A run gets the
arguments the stack passes (the column "The stack passes", with the default configuration of
[configuration.md](configuration.md); \`<bucket>\` is the pipeline's bucket, "fixed" marks Glue's
NonOverridableArguments, which a run cannot override), then those the run itself passes, and the
default below for any other. A bad argument ends the run with exit status 2 and \`<job>: error: ...\`
on stderr, naming the argument and what it allows; what each run does, and its other exit statuses,
are in [glue-job/README.md](../glue-job/README.md).

${glueJobArgumentsReference()}
`,
};

if (require.main === module) {
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    fs.mkdirSync(path.dirname(path.join(ROOT, file)), { recursive: true });
    fs.writeFileSync(path.join(ROOT, file), render());
    console.log(`wrote ${file}`);
  }
}
