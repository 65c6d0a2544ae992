/** The change-trigger handler as Lambda runs it: bundled, zipped, unzipped into a folder. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { bundleFunction, type FunctionBundle } from "../../build-tools/bundle";
import { HANDLER_SOURCE } from "../../local-aws/change-trigger-env";
import { PROJECT_ROOT } from "../../stacks/project-root";

/** The runtime the stack configures by default. */
export const RUNTIME = "nodejs22.x";

export interface UnzippedBundle {
  readonly bundle: FunctionBundle;
  /** Names of the files in the zip. */
  readonly files: string[];
  readonly dir: string;
  /** Absolute path of the unzipped index.js. */
  readonly indexPath: string;
  remove(): void;
}

/** Bundles the handler; `cache: false` forces a real esbuild build (bundle.ts caches by inputs). */
export function buildChangeTrigger(options: { cache?: boolean; runtime?: string } = {}): FunctionBundle {
  return bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER_SOURCE, runtime: RUNTIME, ...options });
}

/** Bundles the handler, unzips the zip into a temporary folder and returns where index.js is. */
export function unzipChangeTrigger(bundle: FunctionBundle = buildChangeTrigger()): UnzippedBundle {
  const entries = unzipSync(bundle.zip);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "change-trigger-bundle-"));
  for (const [name, contents] of Object.entries(entries)) {
    const target = path.join(dir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, contents);
  }
  return {
    bundle,
    files: Object.keys(entries).sort(),
    dir,
    indexPath: path.join(dir, "index.js"),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
