import { App } from "cdktf";
import { ConfigError, loadProjectConfig } from "./config/load";
import { removeOtherConfigurationFormat } from "./one-configuration-format";
import { ReplicationStack } from "./replication-stack";
import { writeReviewSummaries } from "./review/write-summaries";

export interface BuildAppOptions {
  readonly projectRoot: string;
  /** Where to synthesize; cdktf's default (cdktf.out, or what the CLI passes) when omitted. */
  readonly outdir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * One ReplicationStack per configured environment; REPLICATION_ENVIRONMENT (a name, or names
 * separated by commas) selects some of them.
 */
export function buildApp(options: BuildAppOptions): App {
  const env = options.env ?? process.env;
  const config = loadProjectConfig(options.projectRoot, env);
  const known = Object.keys(config.environments);
  const selected = selectEnvironments(known, env.REPLICATION_ENVIRONMENT);
  const app = new App(options.outdir ? { outdir: options.outdir } : undefined);
  for (const name of selected) {
    new ReplicationStack(app, name, config.environments[name]);
  }
  return app;
}

/**
 * Synthesizes every stack, removes the other configuration format left in its folder by an earlier
 * synth (saying so on stdout), then writes each stack's review summary beside it.
 */
export function synthesize(app: App): void {
  app.synth();
  for (const line of removeOtherConfigurationFormat(app)) console.log(line);
  writeReviewSummaries(app);
}

function selectEnvironments(known: string[], selection: string | undefined): string[] {
  if (!selection?.trim()) return known;
  const wanted = selection.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length) {
    throw new ConfigError(`REPLICATION_ENVIRONMENT names unknown environment ${unknown.map((n) => JSON.stringify(n)).join(", ")}; known: ${known.join(", ")}`);
  }
  return known.filter((name) => wanted.includes(name));
}
