/**
 * The configuration reference (docs/configuration.md), generated from the schema: each setting's
 * description is its `.meta({ description })`, its default what parsing an empty configuration gives.
 */
import { z } from "zod";
import { environmentSchema } from "./schema";

interface Row {
  readonly setting: string;
  readonly default: string;
  readonly description: string;
}

/**
 * The documented settings in schema order: a setting with a description is one row (its parts are not
 * walked), unless it is an optional section (`section: true`), whose row says what turns it on and
 * whose parts have rows of their own.
 */
export function configurationRows(): Row[] {
  const defaults = environmentSchema.parse({}) as Record<string, unknown>;
  const rows: Row[] = [];
  const walk = (schema: z.ZodType, at: string) => {
    const meta = z.globalRegistry.get(schema) as { description?: string; defaultText?: string; section?: boolean } | undefined;
    if (meta?.description !== undefined && at) {
      rows.push({ setting: at, default: meta.defaultText ?? shown(valueAt(defaults, at)), description: meta.description });
      if (!meta.section) return;
    }
    const def = (schema as unknown as { _zod: { def: Record<string, any> } })._zod.def;
    if (["optional", "default", "prefault", "nullable"].includes(def.type)) return walk(def.innerType, at);
    if (def.type === "object") for (const [key, inner] of Object.entries(def.shape as Record<string, z.ZodType>)) walk(inner, at ? `${at}.${key}` : key);
    else if (at) throw new Error(`configuration setting ${at} has no description (.meta({ description }))`);
  };
  walk(environmentSchema, "");
  return rows;
}

/** The Markdown table of every setting. */
export function configurationReference(): string {
  const lines = configurationRows().map((row) => `| \`${row.setting}\` | ${row.default} | ${row.description.replace(/\|/g, "\\|")} |`);
  return ["| Setting | Default | Allowed |", "|---|---|---|", ...lines].join("\n");
}

function valueAt(root: Record<string, unknown>, at: string): unknown {
  return at.split(".").reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], root);
}

/** A default as the reference writes it: `value`, JSON with spaces inside braces, or none. */
function shown(value: unknown): string {
  if (value === undefined) return "none";
  if (typeof value === "string") return `\`${value}\``;
  const json = JSON.stringify(value, null, 1).replace(/\n\s*/g, " ").replace(/\[ /g, "[").replace(/ \]/g, "]");
  return `\`${json}\``;
}
