import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Zippable } from "fflate";

/** How to bundle one Lambda handler (compare AWS CDK's aws-lambda-nodejs BundlingOptions). */
export interface BundleOptions {
  /** Handler source file, absolute. */
  readonly entry: string;
  /** Lambda runtime, e.g. `nodejs22.x`; the esbuild target is derived from it. */
  readonly runtime: string;
  /** Minify the bundle (default true: smaller zip, faster cold start). */
  readonly minify?: boolean;
  /** Reuse a bundle whose inputs are unchanged (default true, unless FUNCTION_BUNDLE_CACHE=off). */
  readonly cache?: boolean;
}

/** A bundled handler: `index.js` exporting `handler`, zipped reproducibly. */
export interface FunctionBundle {
  readonly zip: Uint8Array;
  /** base64 SHA-256 of the zip bytes: the value of `source_code_hash`. */
  readonly sha256Base64: string;
  /** Lambda `handler` setting for this bundle. */
  readonly handler: string;
}

const PROJECT_ROOT = path.resolve(__dirname, "..");
// esbuild and fflate load only when a bundle is built: a cached bundle costs no module load.
const esbuildVersion = (require("esbuild/package.json") as { version: string }).version;
const CACHE_DIR = path.join(PROJECT_ROOT, "node_modules", ".cache", "function-bundles");
const HANDLER = "index.handler";
// fflate writes DOS timestamps from local-time fields; a date built from local fields is the
// same DOS timestamp in every time zone.
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

export function esbuildTarget(runtime: string): string {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!match) throw new Error(`Cannot derive an esbuild target from Lambda runtime "${runtime}"`);
  return `node${match[1]}`;
}

/**
 * Bundles the handler with esbuild into a zip whose bytes depend only on the sources. The zip is
 * cached under node_modules/.cache keyed by the content of every file esbuild read, so an
 * unchanged handler costs a few file reads instead of a build.
 */
export function bundleFunction(options: BundleOptions): FunctionBundle {
  const settings = JSON.stringify([esbuildVersion, path.relative(PROJECT_ROOT, options.entry), options.runtime, options.minify ?? true]);
  const cacheFile = path.join(CACHE_DIR, `${createHash("sha256").update(settings).digest("hex").slice(0, 32)}.json`);
  const useCache = options.cache ?? process.env.FUNCTION_BUNDLE_CACHE !== "off";
  const cached = useCache ? readCache(cacheFile, settings) : undefined;
  if (cached) return finish(cached);
  const { zip, inputs } = build(options);
  if (useCache) writeCache(cacheFile, { settings, inputs, inputsHash: hashFiles(inputs), zip: Buffer.from(zip).toString("base64") });
  return finish(zip);
}

function build(options: BundleOptions): { zip: Uint8Array; inputs: string[] } {
  const { buildSync } = require("esbuild") as typeof import("esbuild");
  const { zipSync } = require("fflate") as typeof import("fflate");
  const result = buildSync({
    entryPoints: [options.entry],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: esbuildTarget(options.runtime),
    // Prefer the SDK's ES modules so unused commands are tree-shaken.
    mainFields: ["module", "main"],
    minify: options.minify ?? true,
    legalComments: "none",
    sourcemap: false,
    metafile: true,
    write: false,
    outfile: "index.js",
    logLevel: "silent",
  });
  const files: Zippable = {};
  const sorted = [...result.outputFiles].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of sorted) {
    files[path.basename(file.path)] = [file.contents, { mtime: FIXED_MTIME, level: 9 }];
  }
  const inputs = Object.keys(result.metafile.inputs).sort();
  return { zip: zipSync(files, { mtime: FIXED_MTIME }), inputs };
}

function finish(zip: Uint8Array): FunctionBundle {
  return { zip, sha256Base64: createHash("sha256").update(zip).digest("base64"), handler: HANDLER };
}

interface CacheEntry {
  readonly settings: string;
  /** Paths esbuild read, relative to the project root. */
  readonly inputs: string[];
  readonly inputsHash: string;
  readonly zip: string;
}

function hashFiles(files: string[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(file).update("\0").update(fs.readFileSync(path.join(PROJECT_ROOT, file))).update("\0");
  }
  return hash.digest("hex");
}

function readCache(file: string, settings: string): Uint8Array | undefined {
  try {
    const entry = JSON.parse(fs.readFileSync(file, "utf8")) as CacheEntry;
    if (entry.settings !== settings || entry.inputsHash !== hashFiles(entry.inputs)) return undefined;
    return Buffer.from(entry.zip, "base64");
  } catch {
    return undefined; // missing, unreadable or an input is gone: rebuild
  }
}

function writeCache(file: string, entry: CacheEntry): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(partial, JSON.stringify(entry));
  fs.renameSync(partial, file);
}
