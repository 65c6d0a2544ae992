/**
 * A pure-Python wheel of one import package, built without Python or pip: a zip holding the package's
 * files and `<name>-<version>.dist-info/` (METADATA, WHEEL, RECORD), as the binary distribution format
 * (packaging.python.org, "Binary distribution format") describes it. The bytes depend only on the
 * package's file names and contents: entries sorted, one fixed timestamp, one fixed mode, no folder
 * entries, nothing of the folder it was built in.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Zippable, ZipOptions } from "fflate";

export interface PythonWheelOptions {
  /** The import package's folder, e.g. glue-job/backup_replication: the wheel holds it under its own name. */
  readonly packageDir: string;
  /** A plain release number, e.g. `1.0.0` (see packageVersion). */
  readonly version: string;
  /** METADATA's one-line Summary. */
  readonly summary?: string;
  /** METADATA's Requires-Python (default `>=3.9`). */
  readonly requiresPython?: string;
}

export interface PythonWheel {
  /** `<name>-<version>-py3-none-any.whl`: pip reads the name, version and tags from it. */
  readonly fileName: string;
  readonly bytes: Uint8Array;
  readonly sha256Hex: string;
}

/** What a wheel says of itself (WHEEL): pure Python, installed into purelib, any Python 3, any platform. */
const TAG = "py3-none-any";
// fflate writes DOS timestamps from local-time fields; a date built from local fields is the same DOS
// timestamp in every time zone (as functions/bundle.ts).
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
// Made on Unix (4.4.2.2 of PKWARE's APPNOTE), a regular file readable by all: what pip installs it as.
const ENTRY: ZipOptions = { mtime: FIXED_MTIME, level: 9, os: 3, attrs: (0o100644 << 16) >>> 0 };
const RELEASE = /^\d+(\.\d+)*$/;

/** The package's `__version__ = "x.y.z"` (its __init__.py), the one place the version is written. */
export function packageVersion(packageDir: string): string {
  const init = fs.readFileSync(path.join(packageDir, "__init__.py"), "utf8");
  const match = /^__version__\s*=\s*["']([^"']*)["']\s*$/m.exec(init);
  if (!match || !RELEASE.test(match[1]!)) {
    throw new Error(`${path.join(packageDir, "__init__.py")} must set __version__ = "<release number>", e.g. "1.0.0"`);
  }
  return match[1]!;
}

/** Builds the wheel in memory; the package's name is its folder's name. */
export function buildPythonWheel(options: PythonWheelOptions): PythonWheel {
  const name = path.basename(path.resolve(options.packageDir));
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`${name} is not an importable package name`);
  if (!RELEASE.test(options.version)) throw new Error(`wheel version ${JSON.stringify(options.version)} is not a plain release number`);
  const distInfo = `${name}-${options.version}.dist-info`;
  const entries: [string, Uint8Array][] = packageFiles(options.packageDir).map((file) => [
    `${name}/${file}`,
    new Uint8Array(fs.readFileSync(path.join(options.packageDir, ...file.split("/")))),
  ]);
  const text = (lines: string[]) => new TextEncoder().encode(lines.map((line) => `${line}\n`).join(""));
  entries.push(
    [`${distInfo}/METADATA`, text([
      "Metadata-Version: 2.1",
      `Name: ${name}`,
      `Version: ${options.version}`,
      ...(options.summary ? [`Summary: ${options.summary}`] : []),
      `Requires-Python: ${options.requiresPython ?? ">=3.9"}`,
    ])],
    [`${distInfo}/WHEEL`, text(["Wheel-Version: 1.0", "Generator: build-tools/python-wheel.ts", "Root-Is-Purelib: true", `Tag: ${TAG}`])],
  );
  const record = [...entries.map(([file, bytes]) => `${file},sha256=${createHash("sha256").update(bytes).digest("base64url")},${bytes.length}`), `${distInfo}/RECORD,,`];
  entries.push([`${distInfo}/RECORD`, text(record)]);

  const { zipSync } = require("fflate") as typeof import("fflate");
  const zippable: Zippable = {};
  for (const [file, bytes] of entries) zippable[file] = [bytes, ENTRY];
  const bytes = zipSync(zippable);
  return { fileName: `${name}-${options.version}-${TAG}.whl`, bytes, sha256Hex: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * The package's files as sorted POSIX paths relative to it: everything but compiled files
 * (`__pycache__/`, `*.pyc`) and hidden ones (editors' swap files, `.DS_Store`).
 */
function packageFiles(dir: string, prefix = ""): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "__pycache__" || /\.py[co]$/.test(entry.name)) continue;
    const relative = `${prefix}${entry.name}`;
    if (entry.isDirectory()) found.push(...packageFiles(path.join(dir, entry.name), `${relative}/`));
    else if (entry.isFile()) found.push(relative);
    else throw new Error(`${path.join(dir, entry.name)}: only plain files and folders go in a wheel`);
  }
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
