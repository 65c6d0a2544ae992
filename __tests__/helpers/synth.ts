import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { App } from "cdktf";
import { parseProjectConfig } from "../../stacks/config/load";
import type { EnvironmentInput } from "../../stacks/config/schema";
import { synthesize } from "../../stacks/app";
import { ReplicationStack } from "../../stacks/replication-stack";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export type TfJson = {
  resource: Record<string, Record<string, Record<string, any>>>;
  data: Record<string, Record<string, Record<string, any>>>;
  output: Record<string, { value: unknown }>;
  terraform: Record<string, any>;
  provider: Record<string, any[]>;
};

export interface SynthesizedStack {
  readonly json: TfJson;
  /** The stack folder: cdk.tf.json and assets/. */
  readonly dir: string;
  /** The single resource of a type (fails when there are none or several). */
  one(type: string): { name: string; body: Record<string, any> };
  /** All resources of a type, by logical name. */
  all(type: string): Record<string, Record<string, any>>;
  /** The logical name of the resource whose construct path ends with `pathSuffix`. */
  find(type: string, pathSuffix: string): { name: string; body: Record<string, any> };
}

/** Synthesizes one environment into a temporary folder, assets included. */
export function synthesizeEnvironment(input: EnvironmentInput = {}, name = "test"): SynthesizedStack {
  const config = parseProjectConfig({ environments: { [name]: input } });
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "replication-synth-"));
  const app = new App({ outdir });
  new ReplicationStack(app, name, config.environments[name]);
  synthesize(app);
  const dir = path.join(outdir, "stacks", name);
  const json = JSON.parse(fs.readFileSync(path.join(dir, "cdk.tf.json"), "utf8")) as TfJson;
  const all = (type: string) => json.resource[type] ?? {};
  return {
    json,
    dir,
    all,
    one(type) {
      const entries = Object.entries(all(type));
      if (entries.length !== 1) throw new Error(`expected one ${type}, found ${entries.length}`);
      return { name: entries[0][0], body: entries[0][1] };
    },
    find(type, pathSuffix) {
      const match = Object.entries(all(type)).filter(([, body]) => String(body["//"]?.metadata?.path).endsWith(pathSuffix));
      if (match.length !== 1) throw new Error(`expected one ${type} at */${pathSuffix}, found ${match.length}`);
      return { name: match[0][0], body: match[0][1] };
    },
  };
}

/** `${type.name.attribute}`: how a reference to another resource appears in the JSON. */
export function ref(type: string, name: string, attribute: string): string {
  return `\${${type}.${name}.${attribute}}`;
}

/** Every string in the JSON that names a file of the stack folder. */
export function referencedFiles(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === "string" && /^assets\//.test(value)) found.add(value);
  else if (Array.isArray(value)) value.forEach((v) => referencedFiles(v, found));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => referencedFiles(v, found));
  return found;
}
