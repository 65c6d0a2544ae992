import { execSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { packageVersion } from "../build-tools/python-wheel";
import { PROJECT_ROOT, type TfJson } from "./helpers/synth";

const SOURCES = ["main.ts", "cdktf.json", "package.json", "package-lock.json", "tsconfig.json", "build-tools", "contracts", "stacks", "functions", "glue-job"];

const TWO_ENVIRONMENTS = {
  environments: {
    staging: { namePrefix: "pay-staging", sourceTable: { name: "pagos-staging" }, backupTable: { name: "backup-staging" }, backend: { type: "s3", bucket: "acme-state" } },
    prod: { region: "eu-west-1", deletes: "mirror", backend: { type: "cloud", organization: "acme", workspaceTags: ["replication"] } },
  },
};

/**
 * A checkout of the project's sources in a new folder, with its own empty bundle cache, or with
 * `sharedNodeModules`: its node_modules a symlink to that folder (monorepos, CI caches), cache included.
 */
function checkout(config?: object, sharedNodeModules?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "replication-checkout-"));
  if (config) fs.writeFileSync(path.join(dir, "replication.config.json"), JSON.stringify(config));
  for (const source of SOURCES) fs.cpSync(path.join(PROJECT_ROOT, source), path.join(dir, source), { recursive: true });
  if (sharedNodeModules) {
    fs.symlinkSync(sharedNodeModules, path.join(dir, "node_modules"));
    return dir;
  }
  fs.mkdirSync(path.join(dir, "node_modules"));
  for (const entry of fs.readdirSync(path.join(PROJECT_ROOT, "node_modules"))) {
    if (entry !== ".cache") fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules", entry), path.join(dir, "node_modules", entry));
  }
  return dir;
}

/** Runs the app command of cdktf.json, as `cdktf synth` does, and returns every output file. */
function synth(dir: string): Map<string, Buffer> {
  const { app } = JSON.parse(fs.readFileSync(path.join(dir, "cdktf.json"), "utf8")) as { app: string };
  execSync(app, { cwd: dir, stdio: "pipe", env: { ...process.env, CDKTF_OUTDIR: "cdktf.out" } });
  const files = new Map<string, Buffer>();
  const root = path.join(dir, "cdktf.out");
  for (const file of fs.readdirSync(root, { recursive: true, encoding: "utf8" }).sort()) {
    const full = path.join(root, file);
    if (fs.statSync(full).isFile()) files.set(file, fs.readFileSync(full));
  }
  return files;
}

describe("synthesized output", () => {
  const first = checkout();
  const second = checkout();
  let a: Map<string, Buffer>;
  let b: Map<string, Buffer>;
  beforeAll(() => {
    a = synth(first);
    b = synth(second);
  }, 120_000);

  test("is byte-identical in two checkout folders", () => {
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()].some((f) => f.endsWith("cdk.tf.json"))).toBe(true);
    for (const [file, bytes] of a) expect({ file, same: bytes.equals(b.get(file)!) }).toEqual({ file, same: true });
  });

  test("ships the Glue package as one wheel, byte-identical in both folders and built again", () => {
    const version = packageVersion(path.join(PROJECT_ROOT, "glue-job", "backup_replication"));
    const wheels = [...a.keys()].filter((file) => file.endsWith(".whl"));
    expect(wheels.map((file) => path.basename(file))).toEqual([`backup_replication-${version}-py3-none-any.whl`]);
    const [wheel] = wheels;
    expect(b.get(wheel!)!.equals(a.get(wheel!)!)).toBe(true);
    expect(synth(second).get(wheel!)!.equals(a.get(wheel!)!)).toBe(true);
    expect(Object.keys(unzipSync(a.get(wheel!)!))).toContain("backup_replication/jobs/apply_changes.py");
  });

  test("is byte-identical when synthesized again in the same folder", () => {
    const again = synth(first);
    expect([...again.keys()]).toEqual([...a.keys()]);
    for (const [file, bytes] of a) expect({ file, same: bytes.equals(again.get(file)!) }).toEqual({ file, same: true });
  });

  test("holds for several environments too", () => {
    const [x, y] = [checkout(TWO_ENVIRONMENTS), checkout(TWO_ENVIRONMENTS)].map(synth);
    expect([...x.keys()].filter((f) => f.endsWith("cdk.tf.json"))).toEqual(["stacks/prod/cdk.tf.json", "stacks/staging/cdk.tf.json"]);
    expect([...y.keys()]).toEqual([...x.keys()]);
    for (const [file, bytes] of x) expect({ file, same: bytes.equals(y.get(file)!) }).toEqual({ file, same: true });
  }, 120_000);

  test("reads the configuration of the checkout it runs in, even when node_modules is another checkout's", () => {
    const tableOf = (files: Map<string, Buffer>, stack: string): unknown =>
      (JSON.parse(files.get(`stacks/${stack}/cdk.tf.json`)!.toString("utf8")) as TfJson).resource.aws_dynamodb_table;
    const names = (files: Map<string, Buffer>, stack: string): string[] =>
      Object.values(tableOf(files, stack) as Record<string, { name: string }>).map((table) => table.name).sort();
    const own = checkout({ environments: { one: { backupTable: { name: "backup-of-one" } } } });
    const borrowing = checkout({ environments: { two: { backupTable: { name: "backup-of-two" } } } }, path.join(own, "node_modules"));
    // The first synth fills the shared bundle cache; the second reuses it from the other checkout.
    expect(names(synth(own), "one")).toEqual(["api-pagos", "backup-of-one"]);
    expect(names(synth(borrowing), "two")).toEqual(["api-pagos", "backup-of-two"]);
    expect(names(synth(own), "one")).toEqual(["api-pagos", "backup-of-one"]);
  }, 120_000);

  test("names no absolute path, in any file or inside the Lambda zip or the Glue wheel", () => {
    const absolute = [first, second, PROJECT_ROOT, os.tmpdir(), os.homedir()].map((p) => p.replace(/\/+$/, ""));
    const texts: [string, string][] = [];
    for (const [file, bytes] of a) {
      if (file.endsWith(".zip") || file.endsWith(".whl")) {
        for (const [entry, content] of Object.entries(unzipSync(bytes))) texts.push([`${file}!${entry}`, Buffer.from(content).toString("utf8")]);
      } else {
        texts.push([file, bytes.toString("utf8")]);
      }
    }
    expect(texts.length).toBeGreaterThan(3);
    for (const [file, text] of texts) {
      for (const p of absolute) expect({ file, contains: p, found: text.includes(p) }).toEqual({ file, contains: p, found: false });
      expect({ file, match: /"\/(tmp|home|root|work|Users|var)\//.exec(text)?.[0] ?? null }).toEqual({ file, match: null });
    }
  });
});
