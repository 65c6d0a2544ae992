/**
 * The reference documents are generated from the code they describe: each committed file equals what
 * scripts/generate-docs.ts writes now, every setting of the schema has its row, and every Glue job
 * argument its row per job (the declarations of glue-job/backup_replication/job_args.py).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { configurationRows } from "../stacks/config/reference";
import { GENERATED_DOCS, glueJobArgumentRows, glueJobReference } from "../scripts/generate-docs";
import { PROJECT_ROOT } from "./helpers/synth";

test.each(Object.keys(GENERATED_DOCS))("%s is what scripts/generate-docs.ts writes (run it after changing the code it describes)", (file) => {
  expect(fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8")).toBe(GENERATED_DOCS[file]());
});

test("every setting has a row, with the default parsing gives it", () => {
  const rows = Object.fromEntries(configurationRows().map((row) => [row.setting, row]));
  expect(Object.keys(rows).length).toBeGreaterThan(60);
  expect(rows["applyChangesJob.timeBudgetSeconds"].default).toBe("`600`");
  expect(rows["sourceTable.partitionKey"].default).toBe('`{ "name": "id", "type": "S" }`');
  expect(rows["sourceTable.sortKey"].default).toBe("none");
  expect(rows["bucket.forceDestroy"].default).toBe("`false`");
});

test("every Glue job argument has a row per job, with its one declared default and what the stack passes", () => {
  const rows = glueJobArgumentRows();
  const row = (job: string, name: string) => rows.find((candidate) => candidate.job === job && candidate.name === name);
  const declared = glueJobReference().jobs.flatMap(({ job, arguments: args }) => args.map((argument) => `${job} ${argument.name}`));
  expect(rows.map((candidate) => `${candidate.job} ${candidate.name}`)).toEqual(declared);
  expect(new Set(declared).size).toBe(declared.length);
  expect(rows.filter((candidate) => candidate.job === "restore").length).toBeGreaterThan(25);
  expect(row("apply-changes", "time_budget_seconds")).toMatchObject({ default: "`600`", allowed: "number > 0", stack: "`600`" });
  expect(row("full-copy", "verify_writes")).toMatchObject({ default: "`true`", allowed: "`true`, `false`", stack: "`true`" });
  expect(row("verify", "region")).toMatchObject({ default: '`""`', stack: "`us-east-1`" });
  expect(row("restore", "target_table")).toMatchObject({ default: "required", stack: "—" });
  expect(row("restore", "backup_table")?.stack).toBe("`api-pos-backup` (fixed)");
  expect(row("restore", "manifest_bucket")?.stack).toBe("into the source: `<bucket>` (fixed)");
  expect(row("restore", "JOB_RUN_ID")).toMatchObject({ glue: true, default: '`""`', stack: "Glue, every run" });
  expect(row("full-copy", "JOB_RUN_ID")).toBeUndefined();
});
