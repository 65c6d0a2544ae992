import * as fs from "node:fs";
import * as path from "node:path";
import type { z } from "zod";
import { projectConfigSchema, type ProjectConfig } from "./schema";

/** Where the optional configuration file is looked for, relative to the project root. */
export const DEFAULT_CONFIG_FILE = "replication.config.json";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Validates raw configuration; the error names every bad setting, its value and what is allowed. */
export function parseProjectConfig(raw: unknown, source = "configuration"): ProjectConfig {
  const result = projectConfigSchema.safeParse(raw ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${describeIssue(issue, raw)}`);
  throw new ConfigError(`Invalid ${source}:\n${lines.join("\n")}`);
}

/**
 * Reads the configuration file (REPLICATION_CONFIG, else replication.config.json in the project
 * root); no file means the built-in defaults.
 */
export function loadProjectConfig(projectRoot: string, env: NodeJS.ProcessEnv = process.env): ProjectConfig {
  const file = path.resolve(projectRoot, env.REPLICATION_CONFIG || DEFAULT_CONFIG_FILE);
  if (!fs.existsSync(file)) {
    if (env.REPLICATION_CONFIG) throw new ConfigError(`REPLICATION_CONFIG names ${env.REPLICATION_CONFIG}, which does not exist`);
    return parseProjectConfig({});
  }
  const label = path.relative(projectRoot, file) || file;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`${label} is not valid JSON: ${(error as Error).message}`);
  }
  return parseProjectConfig(raw, label);
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const setting = issue.path.map(String).join(".") || "(root)";
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length ? `${setting}: ` : "";
    return `${where}unknown setting${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  const value = valueAt(raw, issue.path) ?? (issue as { input?: unknown }).input;
  // Objects are named by their path only: their settings get lines of their own.
  const shown = value === undefined || (typeof value === "object" && value !== null && !Array.isArray(value)) ? "" : ` = ${JSON.stringify(value)}`;
  return `${setting}${shown}: ${issue.message}`;
}

function valueAt(root: unknown, at: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of at) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
