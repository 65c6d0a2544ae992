import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Zippable } from "fflate";
import { lookup, store } from "./build-cache";

/** How to bundle one Lambda handler (compare AWS CDK's aws-lambda-nodejs BundlingOptions). */
export interface BundleOptions {
  /** The project folder: esbuild's working directory, and home of the bundle cache. */
  readonly projectRoot: string;
  /** Handler source file, absolute. */
  readonly entry: string;
  /** Lambda runtime, e.g. `nodejs22.x`; the esbuild target is derived from it. */
  readonly runtime: string;
  /** Minify the bundle (default true: smaller zip, faster cold start). */
  readonly minify?: boolean;
  /** Reuse a bundle whose inputs are unchanged (default true; SYNTH_CACHE=off turns every cache off). */
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

// esbuild and fflate load only when a bundle is built: a cached bundle costs no module load.
const esbuildVersion = (require("esbuild/package.json") as { version: string }).version;
const HANDLER = "index.handler";
const ZIP_NAME = "function.zip";
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
 * cached (build-cache.js), so an unchanged handler costs a few file reads, not a build.
 */
export function bundleFunction(options: BundleOptions): FunctionBundle {
  const settings = JSON.stringify([esbuildVersion, path.relative(options.projectRoot, options.entry), options.runtime, options.minify ?? true]);
  const cached = options.cache === false ? undefined : lookup(options.projectRoot, ZIP_NAME, settings);
  if (cached) return finish(fs.readFileSync(cached));
  const { zip, inputs } = build(options);
  if (options.cache !== false) store(options.projectRoot, ZIP_NAME, settings, inputs, zip);
  return finish(zip);
}

function build(options: BundleOptions): { zip: Uint8Array; inputs: string[] } {
  const { buildSync } = require("esbuild") as typeof import("esbuild");
  const { zipSync } = require("fflate") as typeof import("fflate");
  const result = buildSync({
    entryPoints: [options.entry],
    absWorkingDir: options.projectRoot,
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
