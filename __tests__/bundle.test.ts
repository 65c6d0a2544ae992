import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { bundleFunction, esbuildTarget } from "../build-tools/bundle";
import { PROJECT_ROOT } from "../stacks/project-root";

const HANDLER = path.resolve(__dirname, "..", "functions", "change-trigger", "handler.ts");

describe("function bundle", () => {
  test("two fresh builds give the same bytes; the zip holds index.js with a fixed timestamp", () => {
    const first = bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER, runtime: "nodejs22.x", cache: false });
    const second = bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER, runtime: "nodejs22.x", cache: false });
    expect(Buffer.from(second.zip).equals(Buffer.from(first.zip))).toBe(true);
    expect(second.sha256Base64).toBe(first.sha256Base64);
    const entries = unzipSync(first.zip);
    expect(Object.keys(entries)).toEqual(["index.js"]);
    const code = Buffer.from(entries["index.js"]).toString("utf8");
    expect(code).toMatch(/handler/);
    // Local header: DOS time and date at offsets 10 and 12; 0x0021 is 1980-01-01.
    const zip = Buffer.from(first.zip);
    expect([zip.readUInt16LE(10), zip.readUInt16LE(12)]).toEqual([0, 0x21]);
  });

  test("the bundled handler loads and exports handler", () => {
    const { zip } = bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER, runtime: "nodejs22.x" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-load-"));
    fs.writeFileSync(path.join(dir, "index.js"), unzipSync(zip)["index.js"]);
    const env = { MANIFEST_BUCKET: "replication-bucket", MANIFEST_PREFIX: "changes/", APPLY_JOB_NAME: "apply-changes", DELETE_POLICY: "retain", AWS_REGION: "us-east-1" };
    Object.assign(process.env, env);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(typeof require(path.join(dir, "index.js")).handler).toBe("function");
  });

  test("the cache returns the same zip, and a changed source rebuilds", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-cache-"));
    const entry = path.join(dir, "handler.ts");
    fs.writeFileSync(entry, 'export const handler = async () => "one";\n');
    const built = bundleFunction({ projectRoot: PROJECT_ROOT, entry, runtime: "nodejs22.x" });
    expect(bundleFunction({ projectRoot: PROJECT_ROOT, entry, runtime: "nodejs22.x" }).sha256Base64).toBe(built.sha256Base64);
    fs.writeFileSync(entry, 'export const handler = async () => "two";\n');
    const rebuilt = bundleFunction({ projectRoot: PROJECT_ROOT, entry, runtime: "nodejs22.x" });
    expect(rebuilt.sha256Base64).not.toBe(built.sha256Base64);
    expect(Buffer.from(unzipSync(rebuilt.zip)["index.js"]).toString()).toContain('"two"');
  });

  test("the esbuild target follows the Lambda runtime", () => {
    expect(esbuildTarget("nodejs22.x")).toBe("node22");
    expect(esbuildTarget("nodejs20.x")).toBe("node20");
    expect(() => esbuildTarget("python3.12")).toThrow('Cannot derive an esbuild target from Lambda runtime "python3.12"');
  });
});
