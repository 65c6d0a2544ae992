/**
 * Writes the reference documents generated from the code (`npx tsx scripts/generate-docs.ts`); a
 * test fails when a committed one differs from what this writes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { configurationReference } from "../stacks/config/reference";

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
};

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), render());
    console.log(`wrote ${file}`);
  }
}
