#!/usr/bin/env node
"use strict";
// The app command of cdktf.json: runs a TypeScript cdktf app without type-checking it (`npm test`
// type-checks). esbuild bundles the app with its dependencies into one file, cached until a source
// file or package-lock.json changes: one file loads several times faster than the hundreds of
// modules that cdktf and the provider classes are made of.
//   node build-tools/cdktf-app.js main.ts
const path = require("node:path");
const cache = require("./build-cache");

const root = path.resolve(__dirname, "..");
const entry = path.relative(root, path.resolve(process.argv[2] || "main.ts"));
const settings = JSON.stringify({ entry, esbuild: require("esbuild/package.json").version, node: process.versions.node });

function build() {
  const result = require("esbuild").buildSync({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: `node${process.versions.node.split(".")[0]}`,
    // The app bundles the Lambda with esbuild at synth: esbuild stays a package with its binary.
    external: ["esbuild"],
    metafile: true,
    write: false,
    outfile: "app.js",
    logLevel: "error",
  });
  // Written inside the project even with the cache off, so the bundle resolves esbuild from there.
  return cache.store(root, "app.js", settings, Object.keys(result.metafile.inputs).sort(), result.outputFiles[0].contents);
}

require(cache.lookup(root, "app.js", settings) || build());
