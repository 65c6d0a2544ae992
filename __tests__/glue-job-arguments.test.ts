/**
 * The contract between the Terraform and the Python: the default_arguments the stack gives each Glue
 * job are parsed by the job's own argument code (backup_replication/job_args.py), imported from the
 * wheel the same stack ships, into the intended settings.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { BUCKET_LAYOUT, RESTORE_DRILL_INFIX, RESTORE_TARGET_SUFFIX } from "../contracts";
import { parseProjectConfig } from "../stacks/config/load";
import type { EnvironmentInput } from "../stacks/config/schema";
import { PROJECT_ROOT, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

const PARSE = `
import json, sys
from backup_replication import job_args
parse = {"apply-changes": job_args.apply_changes_config, "full-copy": job_args.full_copy_config,
         "verify": job_args.verify_config, "restore": job_args.restore_config,
         "restore-drill": job_args.restore_drill_config}[sys.argv[1]]
print(json.dumps(job_args.describe(parse(["script.py"] + sys.argv[2:]))))
`;

let python: string;
beforeAll(() => {
  python = execFileSync("bash", [path.join(PROJECT_ROOT, "scripts", "ensure-python-boto3.sh")], { encoding: "utf8" }).trim();
});

/** Glue's argv for a job: Terraform references replaced by the values they will have. */
function argvOf(stack: SynthesizedStack, job: string): string[] {
  const body = stack.find("aws_glue_job", `${job}/job`).body;
  const values: Record<string, string> = {};
  for (const [name, table] of Object.entries(stack.all("aws_dynamodb_table"))) values[`aws_dynamodb_table.${name}.name`] = table.name;
  for (const name of Object.keys(stack.all("aws_s3_bucket"))) values[`aws_s3_bucket.${name}.bucket`] = "replication-artifacts-1234";
  const all = { ...(body.default_arguments as Record<string, string>), ...((body.non_overridable_arguments ?? {}) as Record<string, string>) };
  return Object.entries(all).flatMap(([flag, value]) => [
    flag,
    value.replace(/\$\{([^}]+)\}/g, (_, expression: string) => {
      if (!(expression in values)) throw new Error(`no stand-in for \${${expression}}`);
      return values[expression];
    }),
  ]);
}

/** The wheel the stack uploads (glue-scripts.ts), in the synthesized stack's assets. */
function wheelOf(stack: SynthesizedStack): string {
  const [wheel] = Object.values(stack.all("aws_s3_object")).filter((object) => String(object.key).endsWith(".whl"));
  return path.join(stack.dir, wheel!.source as string);
}

function parsed(stack: SynthesizedStack, job: "apply-changes" | "full-copy" | "verify" | "restore" | "restore-drill", ...runArguments: string[]): Record<string, unknown> {
  const output = execFileSync(python, ["-c", PARSE, job, ...argvOf(stack, job), ...runArguments], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, PYTHONPATH: wheelOf(stack), PYTHONDONTWRITEBYTECODE: "1" },
    encoding: "utf8",
  });
  return JSON.parse(output) as Record<string, unknown>;
}

describe.each<[string, EnvironmentInput]>([
  ["default configuration", {}],
  [
    "mirrored deletes, a transform, no write verification",
    {
      deletes: "mirror",
      transform: { rename: { amount: "importe" }, drop: ["debug"] },
      fullCopyJob: { verifyWrites: false, scanSegments: 64 },
      applyChangesJob: { timeBudgetSeconds: 900, type: "glueetl", maxWorkers: 5 },
      retainedAttribute: "borrado",
      restoreDrill: { sampleFraction: 0.25, maxRestoreMinutes: 90 },
    },
  ],
])("the Glue jobs read the arguments the stack gives them (%s)", (_label, input) => {
  const stack = synthesizeEnvironment(input);
  const mirror = input.deletes === "mirror";
  // The jobs describe the identity transform as {}.
  const transform = input.transform ? { rename: input.transform.rename ?? {}, drop: input.transform.drop ?? [] } : {};

  test("apply-changes", () => {
    expect(parsed(stack, "apply-changes")).toMatchObject({
      source_table: "api-pagos",
      backup_table: "api-pos-backup",
      delete_policy: mirror ? "mirror" : "retain",
      manifest_bucket: "replication-artifacts-1234",
      manifest_prefix: "changes/",
      rejected_prefix: "rejected/",
      time_budget_seconds: input.applyChangesJob?.timeBudgetSeconds ?? 600,
      region: "us-east-1",
      retained_attribute: input.retainedAttribute ?? "_deleted_from_source",
      transform,
      metrics_namespace: "DynamoDBReplication/api-pagos-replication",
      metrics_pipeline: "api-pagos-replication",
      // On Spark: each pass over at most (5 - 1) workers x 4 cores; in one process otherwise.
      spark: input.applyChangesJob?.type === "glueetl",
      max_tasks: input.applyChangesJob?.type === "glueetl" ? 16 : 0,
      keys_per_task: 1000,
    });
  });

  test("full-copy", () => {
    expect(parsed(stack, "full-copy")).toMatchObject({
      source_table: "api-pagos",
      backup_table: "api-pos-backup",
      delete_policy: mirror ? "mirror" : "retain",
      mirror_deletes: mirror,
      verify_writes: input.fullCopyJob?.verifyWrites ?? true,
      scan_segments: input.fullCopyJob?.scanSegments ?? 0,
      max_items_per_second: 0,
      retained_attribute: input.retainedAttribute ?? "_deleted_from_source",
      transform,
    });
  });

  test("verify", () => {
    expect(parsed(stack, "verify")).toMatchObject({
      source_table: "api-pagos",
      backup_table: "api-pos-backup",
      delete_policy: mirror ? "mirror" : "retain",
      sample_fraction: 1,
      settle_seconds: 300,
      repair: false,
      report_bucket: "replication-artifacts-1234",
      report_prefix: "verify/",
      metrics_namespace: "DynamoDBReplication/api-pagos-replication",
      metrics_pipeline: "api-pagos-replication",
      retained_attribute: input.retainedAttribute ?? "_deleted_from_source",
      transform,
    });
  });

  test("restore (each run names its target)", () => {
    expect(parsed(stack, "restore", "--target_table", "api-pos-backup-restore-1")).toMatchObject({
      backup_table: "api-pos-backup",
      source_table: "api-pagos",
      target_table: "api-pos-backup-restore-1",
      allowed_targets: [],
      mode: "missing-only",
      include_retained: false,
      dry_run: false,
      create_target: false,
      report_bucket: "replication-artifacts-1234",
      report_prefix: "restore/",
      retained_attribute: input.retainedAttribute ?? "_deleted_from_source",
      transform,
    });
  });

  test("restore-drill (its table is named by Glue's run id)", () => {
    const config = parsed(stack, "restore-drill", "--JOB_RUN_ID", "jr_1");
    expect(config).toMatchObject({
      backup_table: "api-pos-backup",
      sample_fraction: input.restoreDrill?.sampleFraction ?? 0.05,
      include_retained: false,
      max_restore_minutes: input.restoreDrill?.maxRestoreMinutes ?? 240,
      report_bucket: "replication-artifacts-1234",
      report_prefix: "restore-drill/",
      metrics_namespace: "DynamoDBReplication/api-pagos-replication",
      metrics_pipeline: "api-pagos-replication",
      retained_attribute: input.retainedAttribute ?? "_deleted_from_source",
      region: "us-east-1",
      scan_segments: 0,
      job_run_id: "jr_1",
      transform,
    });
    expect(Object.keys(config)).not.toContain("source_table");
  });
});

test("a setting's default, each bucket prefix and the restore-table suffix are the same in the configuration (or the contracts) and in the job that reads them", () => {
  const read = JSON.parse(
    execFileSync(python, ["-c", 'import json\nfrom backup_replication import apply, job_args\nprint(json.dumps({"reference": job_args.reference(), "settings": apply.ApplySettings().time_budget_seconds, "restore_target_suffix": job_args.RESTORE_TARGET_SUFFIX, "restore_drill_infix": job_args.RESTORE_DRILL_INFIX}))'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, "glue-job"), PYTHONDONTWRITEBYTECODE: "1" },
      encoding: "utf8",
    }),
  ) as { reference: { jobs: { job: string; arguments: { name: string; default: string | null }[] }[] }; settings: number; restore_target_suffix: string; restore_drill_infix: string };
  // Each job's declared defaults (job_args.py), by job and argument.
  const defaults = Object.fromEntries(read.reference.jobs.map(({ job, arguments: args }) => [job, Object.fromEntries(args.map((a) => [a.name, a.default]))]));
  /** The default of an argument in every job that declares it: one value, or the list when they differ. */
  const everywhere = (name: string) => {
    const values = [...new Set(Object.values(defaults).filter((args) => name in args).map((args) => args[name]))];
    return values.length === 1 ? values[0] : values;
  };
  const env = parseProjectConfig({}).environments["api-pagos-replication"];
  expect({
    time_budget_seconds: Number(defaults["apply-changes"].time_budget_seconds),
    apply_settings: read.settings,
    max_pass_bytes: Number(defaults["apply-changes"].max_pass_bytes),
    settle_seconds: Number(defaults.verify.settle_seconds),
    sample_fraction: Number(defaults.verify.sample_fraction),
    verify_writes: defaults["full-copy"].verify_writes === "true",
    delete_policy: everywhere("delete_policy"),
    retained_attribute: everywhere("retained_attribute"),
    manifest_prefix: everywhere("manifest_prefix"),
    rejected_prefix: everywhere("rejected_prefix"),
    quarantine_prefix: everywhere("quarantine_prefix"),
    verify_report_prefix: defaults.verify.report_prefix,
    restore_report_prefix: defaults.restore.report_prefix,
    restore_target_suffix: read.restore_target_suffix,
    restore_drill_report_prefix: defaults["restore-drill"].report_prefix,
    restore_drill_infix: read.restore_drill_infix,
    restore_drill_sample_fraction: Number(defaults["restore-drill"].sample_fraction),
    restore_drill_max_restore_minutes: Number(defaults["restore-drill"].max_restore_minutes),
  }).toEqual({
    time_budget_seconds: env.applyChangesJob.timeBudgetSeconds,
    apply_settings: env.applyChangesJob.timeBudgetSeconds,
    max_pass_bytes: env.applyChangesJob.maxPassMegabytes * 1024 * 1024,
    settle_seconds: env.verifyJob.settleSeconds,
    sample_fraction: env.verifyJob.sampleFraction,
    verify_writes: env.fullCopyJob.verifyWrites,
    delete_policy: env.deletes,
    retained_attribute: env.retainedAttribute,
    manifest_prefix: BUCKET_LAYOUT.manifests,
    rejected_prefix: BUCKET_LAYOUT.rejected,
    quarantine_prefix: BUCKET_LAYOUT.quarantine,
    verify_report_prefix: BUCKET_LAYOUT.verifyReports,
    restore_report_prefix: BUCKET_LAYOUT.restoreReports,
    restore_target_suffix: RESTORE_TARGET_SUFFIX,
    restore_drill_report_prefix: BUCKET_LAYOUT.restoreDrillReports,
    restore_drill_infix: RESTORE_DRILL_INFIX,
    restore_drill_sample_fraction: env.restoreDrill.sampleFraction,
    restore_drill_max_restore_minutes: env.restoreDrill.maxRestoreMinutes,
  });
});
