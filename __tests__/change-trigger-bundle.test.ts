/** The change-trigger bundle: what the zip holds, that it is reproducible and self-contained. */
import { builtinModules } from "node:module";
import { strFromU8, unzipSync } from "fflate";
import { buildChangeTrigger } from "./helpers/change-trigger-bundle";

// Two independent esbuild builds, bypassing bundle.ts's cache (the stack builds it again at synth).
const first = buildChangeTrigger({ cache: false });
const second = buildChangeTrigger({ cache: false });
const files = unzipSync(first.zip);
const indexJs = strFromU8(files["index.js"] ?? new Uint8Array());

test("the zip holds index.js only, exporting the handler Lambda is configured with", () => {
  expect(Object.keys(files)).toEqual(["index.js"]);
  expect(first.handler).toBe("index.handler");
  expect(/handler/.test(indexJs)).toBe(true);
});

test("two builds give identical bytes and hash, and so does the cached bundle", () => {
  expect(Buffer.from(second.zip).equals(Buffer.from(first.zip))).toBe(true);
  expect(second.sha256Base64).toBe(first.sha256Base64);
  expect(buildChangeTrigger().sha256Base64).toBe(first.sha256Base64);
});

test("the SDK clients are bundled, not taken from the runtime: only node built-ins are required", () => {
  // `[require("…")]` is the SDK's error message text about the optional CRT signer, not a call.
  // (The handler tests also load this index.js from a temporary folder with no node_modules.)
  const required = new Set([...indexJs.matchAll(/(?<!\[)require\("([^"]+)"\)/g)].map((m) => m[1]));
  const imported = new Set([...indexJs.matchAll(/import\("([^"]+)"\)/g)].map((m) => m[1]));
  const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
  expect([...required, ...imported].filter((name) => name !== undefined && !builtins.has(name))).toEqual([]);
  // (booleans: a failing toContain would print the whole bundle)
  expect(["AWSGlue", "GetJobRuns", "StartJobRun", "PutObject"].filter((name) => !indexJs.includes(name))).toEqual([]);
});

test("the bundle stays small: no whole-SDK or unused clients pulled in", () => {
  // A guard, not a benchmark (scripts/bench-handler.ts measures): two tree-shaken clients.
  expect(first.zip.length).toBeLessThan(300 * 1024);
  expect(["DynamoDBClient", "LambdaClient", "SQSClient"].filter((name) => indexJs.includes(name))).toEqual([]);
});
