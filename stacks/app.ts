import { App } from "cdktf";
import { loadProjectConfig } from "./config/load";
import { ReplicationStack } from "./replication-stack";

export interface BuildAppOptions {
  readonly projectRoot: string;
  /** Where to synthesize; cdktf's default (cdktf.out, or what the CLI passes) when omitted. */
  readonly outdir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** One ReplicationStack per configured environment. */
export function buildApp(options: BuildAppOptions): App {
  const config = loadProjectConfig(options.projectRoot, options.env);
  const app = new App(options.outdir ? { outdir: options.outdir } : undefined);
  for (const [name, environment] of Object.entries(config.environments)) {
    new ReplicationStack(app, name, environment);
  }
  return app;
}
