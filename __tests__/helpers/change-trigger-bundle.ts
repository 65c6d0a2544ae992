/** The change-trigger handler as Lambda runs it: bundled, zipped, unzipped into a folder. */
import { fork } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { bundleFunction, type FunctionBundle } from "../../build-tools/bundle";
import { HANDLER_SOURCE } from "../../local-aws/change-trigger-env";
import { PROJECT_ROOT } from "../../stacks/project-root";

import { nodeForRuntime } from "../../local-aws/lambda-node";

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

// ---------------------------------------------------------------------------------------------
// Running the bundle in its own node process, as Lambda does (not in jest's module sandbox,
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
