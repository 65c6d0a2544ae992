import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The folder holding cdktf.json. Found by walking up rather than from a fixed depth, because the
 * synth runner (scripts/cdktf-app.js) executes this code bundled from node_modules/.cache.
 */
export function findProjectRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "cdktf.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No cdktf.json in ${from} or any folder above it`);
  }
}

export const PROJECT_ROOT = findProjectRoot(__dirname);
