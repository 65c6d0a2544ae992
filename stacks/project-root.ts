import * as fs from "node:fs";
import * as path from "node:path";

/** The nearest folder at or above `from` that holds cdktf.json. */
export function findProjectRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "cdktf.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No cdktf.json in ${from} or any folder above it: run cdktf (or the tests) from the project folder`);
  }
}

/**
 * The project whose configuration and sources are synthesized: the folder cdktf runs the app in
 * (the one holding cdktf.json). Not derived from where this code lies: the synth runner executes it
 * bundled from node_modules/.cache, and a node_modules shared by symlink with another checkout
 * would make that the other checkout.
 */
export const PROJECT_ROOT = findProjectRoot(process.cwd());
