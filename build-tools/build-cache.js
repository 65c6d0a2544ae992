"use strict";
// A cache of build outputs (the synth app bundle, the Lambda zip), keyed by what went into them:
// the project's own input files by content, and everything under node_modules by package-lock.json
// (npm ci installs exactly what the lockfile names). SYNTH_CACHE=off makes every lookup miss.
// Plain JavaScript because the synth runner uses it before any TypeScript can load.
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const enabled = () => process.env.SYNTH_CACHE !== "off";

/** Hash of the build settings, the lockfile and the content of every input outside node_modules. */
function fingerprint(root, settings, inputs) {
  const hash = createHash("sha256").update(settings).update("\0");
  hash.update(fs.readFileSync(path.join(root, "package-lock.json"))).update("\0");
  for (const input of inputs) {
    if (input.split(/[\\/]/).includes("node_modules")) continue;
    hash.update(input).update("\0").update(fs.readFileSync(path.resolve(root, input))).update("\0");
  }
  return hash.digest("hex");
}

/** `name` is the output's file name, e.g. app.js: the cached file keeps it. */
function entryPaths(root, name, settings) {
  const key = createHash("sha256").update(name).update("\0").update(settings).digest("hex").slice(0, 24);
  const dir = path.join(root, "node_modules", ".cache", "replication-builds", key);
  return { dir, manifest: path.join(dir, "inputs.json"), output: path.join(dir, name) };
}

/** The cached output's path, or undefined when absent, stale or the cache is off. */
function lookup(root, name, settings) {
  if (!enabled()) return undefined;
  const paths = entryPaths(root, name, settings);
  try {
    const entry = JSON.parse(fs.readFileSync(paths.manifest, "utf8"));
    if (entry.fingerprint === fingerprint(root, settings, entry.inputs) && fs.existsSync(paths.output)) return paths.output;
  } catch {
    // missing, unreadable, or an input is gone: rebuild
  }
  return undefined;
}

/** Stores an output built from `inputs` (paths relative to root), even with the cache off; returns where it is. */
function store(root, name, settings, inputs, bytes) {
  const paths = entryPaths(root, name, settings);
  fs.mkdirSync(paths.dir, { recursive: true });
  const write = (file, data) => {
    const partial = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(partial, data);
    fs.renameSync(partial, file);
  };
  write(paths.output, bytes);
  write(paths.manifest, JSON.stringify({ fingerprint: fingerprint(root, settings, inputs), inputs }));
  return paths.output;
}

module.exports = { lookup, store };
