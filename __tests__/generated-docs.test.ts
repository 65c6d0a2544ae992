/**
 * The reference documents are generated from the code they describe: each committed file equals what
 * scripts/generate-docs.ts writes now, and every setting of the schema has its row.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { configurationRows } from "../stacks/config/reference";
import { GENERATED_DOCS } from "../scripts/generate-docs";
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
