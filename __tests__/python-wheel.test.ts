/**
 * build-tools/python-wheel.ts: a pure-Python wheel (binary distribution format, packaging.python.org
 * "Binary distribution format") built without Python, byte for byte the same wherever and whenever
 * it is built. The wheel the stack ships is checked with a real Python in glue-wheel.test.ts.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strFromU8, unzipSync } from "fflate";
import { buildPythonWheel, packageVersion } from "../build-tools/python-wheel";

/** A package folder with a subpackage, a compiled file and an editor's swap file (neither shipped). */
function fixture(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "wheel-fixture-"));
  const pkg = path.join(root, "demo_pkg");
  const files: Record<string, string> = {
    "__init__.py": '"""Demo."""\n\n__version__ = "1.2.0"\n',
    "core.py": "from . import helpers\n\nVALUE = helpers.twice(21)\n",
    "helpers.py": "def twice(x):\n    return 2 * x\n",
    "jobs/__init__.py": "",
    "jobs/run.py": "from .. import core\n",
    "__pycache__/core.cpython-311.pyc": "compiled",
    ".core.py.swp": "swap",
  };
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(pkg, name)), { recursive: true });
    fs.writeFileSync(path.join(pkg, name), text);
  }
  return pkg;
}

/** Each central directory record of a zip: name, DOS time and date, made-by OS, Unix mode. */
function centralDirectory(zip: Uint8Array): { name: string; time: number; date: number; os: number; mode: number }[] {
  const buffer = Buffer.from(zip);
  const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const records = [];
  for (let i = 0; i < count; i++) {
    expect(buffer.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = buffer.readUInt16LE(at + 28);
    records.push({
      name: buffer.toString("utf8", at + 46, at + 46 + nameLength),
      os: buffer[at + 5]!,
      time: buffer.readUInt16LE(at + 12),
      date: buffer.readUInt16LE(at + 14),
      mode: buffer.readUInt32LE(at + 38) >>> 16,
    });
    at += 46 + nameLength + buffer.readUInt16LE(at + 30) + buffer.readUInt16LE(at + 32);
  }
  return records;
}

const urlsafeDigest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("base64url");

describe("buildPythonWheel", () => {
  const pkg = fixture();
  const wheel = buildPythonWheel({ packageDir: pkg, version: packageVersion(pkg), summary: "A demo package" });
  const files = unzipSync(wheel.bytes);

  test("is named <name>-<version>-py3-none-any.whl and holds the package's files, then its .dist-info", () => {
    expect(wheel.fileName).toBe("demo_pkg-1.2.0-py3-none-any.whl");
    expect(centralDirectory(wheel.bytes).map((entry) => entry.name)).toEqual([
      "demo_pkg/__init__.py",
      "demo_pkg/core.py",
      "demo_pkg/helpers.py",
      "demo_pkg/jobs/__init__.py",
      "demo_pkg/jobs/run.py",
      "demo_pkg-1.2.0.dist-info/METADATA",
      "demo_pkg-1.2.0.dist-info/WHEEL",
      "demo_pkg-1.2.0.dist-info/RECORD",
    ]);
    expect(strFromU8(files["demo_pkg/jobs/run.py"]!)).toBe("from .. import core\n");
    expect(wheel.sha256Hex).toBe(createHash("sha256").update(wheel.bytes).digest("hex"));
  });

  test("WHEEL and METADATA carry the fields the spec requires", () => {
    expect(strFromU8(files["demo_pkg-1.2.0.dist-info/WHEEL"]!)).toBe(
      "Wheel-Version: 1.0\nGenerator: build-tools/python-wheel.ts\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    );
    expect(strFromU8(files["demo_pkg-1.2.0.dist-info/METADATA"]!)).toBe(
      "Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.2.0\nSummary: A demo package\nRequires-Python: >=3.9\n",
    );
  });

  test("RECORD lists every other file with its sha256 (urlsafe base64, unpadded) and size, and itself without", () => {
    const lines = strFromU8(files["demo_pkg-1.2.0.dist-info/RECORD"]!).split("\n");
    expect(lines.pop()).toBe("");
    const expected = Object.entries(files)
      .filter(([name]) => !name.endsWith("/RECORD"))
      .map(([name, bytes]) => `${name},sha256=${urlsafeDigest(bytes)},${bytes.length}`);
    expect(lines).toEqual([...expected, "demo_pkg-1.2.0.dist-info/RECORD,,"]);
    expect(lines.some((line) => /sha256=[^,]*[+/=]/.test(line))).toBe(false);
  });

  test("every entry has the same fixed time (1980-01-01) and Unix mode 0644 of a regular file", () => {
    for (const entry of centralDirectory(wheel.bytes)) {
      expect(entry).toEqual({ name: entry.name, time: 0, date: 0x21, os: 3, mode: 0o100644 });
    }
  });

  test("is byte-identical when built again, from another folder, after the files' times and modes changed", () => {
    expect(Buffer.from(buildPythonWheel({ packageDir: pkg, version: "1.2.0", summary: "A demo package" }).bytes).equals(Buffer.from(wheel.bytes))).toBe(true);
    const elsewhere = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "wheel-elsewhere-")), "demo_pkg");
    fs.cpSync(pkg, elsewhere, { recursive: true });
    fs.utimesSync(path.join(elsewhere, "core.py"), new Date(2001, 1, 2), new Date(2001, 1, 2));
    fs.chmodSync(path.join(elsewhere, "helpers.py"), 0o755);
    const again = buildPythonWheel({ packageDir: elsewhere, version: "1.2.0", summary: "A demo package" });
    expect(Buffer.from(again.bytes).equals(Buffer.from(wheel.bytes))).toBe(true);
  });

  test("the version is the package's __version__, and must be a plain release number", () => {
    expect(packageVersion(pkg)).toBe("1.2.0");
    const bad = fixture();
    fs.writeFileSync(path.join(bad, "__init__.py"), '__version__ = "1.2-dev"\n');
    expect(() => packageVersion(bad)).toThrow(/__version__/);
    fs.writeFileSync(path.join(bad, "__init__.py"), '"""No version."""\n');
    expect(() => packageVersion(bad)).toThrow(/__version__/);
    expect(() => buildPythonWheel({ packageDir: bad, version: "x" })).toThrow(/version/);
  });
});
