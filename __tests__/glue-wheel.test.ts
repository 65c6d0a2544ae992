/**
 * The wheel the stack uploads is all Glue has of the job code besides the entry scripts: a real
 * Python imports the package from the synthesized wheel alone, the wheel file itself on the path
 * (zipimport), as with Python shell's --extra-py-files, and from a pip install of it (as Spark's
 * --additional-python-modules does, offline: the wheel needs nothing else), and runs the jobs'
 * argument parsing through the synthesized entry scripts; every digest of its RECORD is right.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pythonWithBoto3 } from "../local-aws/glue-python-job";
import { synthesizeEnvironment } from "./helpers/synth";

const stack = synthesizeEnvironment({});
/** The stack's files, copied out of the synth folder: its wheel and entry scripts, by S3 key's file name. */
const shipped = fs.mkdtempSync(path.join(os.tmpdir(), "glue-wheel-"));
for (const object of Object.values(stack.all("aws_s3_object"))) {
  if (String(object.key).startsWith("glue/")) fs.copyFileSync(path.join(stack.dir, object.source), path.join(shipped, path.posix.basename(object.key)));
}
fs.rmSync(path.dirname(path.dirname(stack.dir)), { recursive: true, force: true });
const wheel = path.join(shipped, fs.readdirSync(shipped).find((name) => name.endsWith(".whl")) ?? "no-wheel-was-synthesized.whl");
/** An empty folder to run in: nothing of the checkout on the path. */
const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "glue-wheel-cwd-"));
afterAll(() => {
  for (const dir of [shipped, elsewhere]) fs.rmSync(dir, { recursive: true, force: true });
});

let python: string;
beforeAll(() => {
  python = pythonWithBoto3();
});

function run(args: string[], pythonPath: string): { status: number | null; stdout: string; stderr: string } {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: "1", AWS_EC2_METADATA_DISABLED: "true" };
  const result = spawnSync(python, args, { cwd: elsewhere, env, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const IMPORT_AND_PARSE = `
import json, sys
import backup_replication
from backup_replication import job_args
from backup_replication.jobs import apply_changes, full_copy, restore, restore_drill, verify
config = job_args.apply_changes_config(["apply_changes.py", "--source_table", "a", "--backup_table", "b",
                                        "--manifest_bucket", "m", "--JOB_RUN_ID", "jr_1"])
print(json.dumps({"file": backup_replication.__file__, "mains": [callable(j.main) for j in (apply_changes, full_copy, restore, restore_drill, verify)],
                  "config": job_args.describe(config)}))
`;

test("the stack ships the five entry scripts and one wheel, nothing else", () => {
  expect(fs.readdirSync(shipped).sort()).toEqual(["apply_changes.py", path.basename(wheel), "full_copy.py", "restore.py", "restore_drill.py", "verify.py"]);
  expect(path.basename(wheel)).toMatch(/^backup_replication-\d+(\.\d+)*-py3-none-any\.whl$/);
});

test("Python imports the package from the wheel file alone (zipimport) and parses a job's arguments", () => {
  const { status, stdout, stderr } = run(["-c", IMPORT_AND_PARSE], wheel);
  expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
  const result = JSON.parse(stdout) as { file: string; mains: boolean[]; config: Record<string, unknown> };
  expect(result.file).toBe(path.join(wheel, "backup_replication", "__init__.py"));
  expect(result.mains).toEqual([true, true, true, true, true]);
  expect(result.config).toMatchObject({ source_table: "a", backup_table: "b", manifest_bucket: "m", manifest_prefix: "changes/", job_run_id: "jr_1" });
});

test("the synthesized entry scripts run each job from the wheel: an argument mistake exits 2 with the job's message", () => {
  for (const [script, job, missing] of [
    ["apply_changes.py", "apply-changes", "--manifest_bucket"],
    ["full_copy.py", "full-copy", "--backup_table"],
    ["verify.py", "verify", "--report_bucket"],
    ["restore.py", "restore", "--target_table"],
    ["restore_drill.py", "restore-drill", "--report_bucket"],
  ] as const) {
    const args = [path.join(shipped, script), "--JOB_RUN_ID", "jr_1", "--source_table", "a", ...(job === "restore" ? ["--backup_table", "b", "--report_bucket", "r"] : job === "full-copy" ? [] : ["--backup_table", "b"])];
    const { status, stderr } = run(args, wheel);
    expect({ script, status, error: stderr.trim().split("\n").pop() }).toEqual({ script, status: 2, error: expect.stringMatching(new RegExp(`^${job}: error: .*${missing}`)) });
  }
});

test("every RECORD digest (sha256, urlsafe base64 without padding) and size matches, and RECORD lists every file", () => {
  const check = `
import base64, hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = wheel.namelist()
    record_name = [n for n in names if n.endswith(".dist-info/RECORD")][0]
    rows = [line.split(",") for line in wheel.read(record_name).decode("utf-8").splitlines()]
    bad = []
    for name, digest, size in rows:
        if name == record_name:
            ok = digest == "" and size == ""
        else:
            data = wheel.read(name)
            ok = digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() and size == str(len(data))
        if not ok:
            bad.append(name)
    print(json.dumps({"bad": bad, "listed": sorted(r[0] for r in rows) == sorted(names), "files": len(names),
                      "wheel": wheel.read(record_name.replace("RECORD", "WHEEL")).decode(),
                      "times": sorted(set(str(i.date_time) for i in wheel.infolist())),
                      "modes": sorted(set(oct(i.external_attr >> 16) for i in wheel.infolist()))}))
`;
  const { status, stdout, stderr } = run(["-c", check, wheel], "");
  expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
  const result = JSON.parse(stdout) as { bad: string[]; listed: boolean; files: number; wheel: string; times: string[]; modes: string[] };
  expect(result).toMatchObject({ bad: [], listed: true, times: ["(1980, 1, 1, 0, 0, 0)"], modes: ["0o100644"] });
  expect(result.files).toBeGreaterThan(25);
  expect(result.wheel).toContain("Root-Is-Purelib: true\n");
  expect(result.wheel).toContain("Tag: py3-none-any\n");
});

const pip = spawnSync(pythonWithBoto3(), ["-m", "pip", "--version"], { encoding: "utf8" }).status === 0;
(pip ? test : test.skip)("pip installs the wheel offline (no index, no dependencies), and the jobs run from the install", () => {
  const target = path.join(elsewhere, "site");
  const install = run(["-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check", "--no-compile", "--target", target, wheel], "");
  expect({ status: install.status, stderr: install.stderr.replace(/^WARNING: Running pip as the 'root' user.*\n?/m, "") }).toEqual({ status: 0, stderr: "" });
  const { status, stdout, stderr } = run(["-c", IMPORT_AND_PARSE], target);
  expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
  expect((JSON.parse(stdout) as { file: string }).file).toBe(path.join(target, "backup_replication", "__init__.py"));
  const verify = run([path.join(shipped, "verify.py"), "--source_table", "a", "--backup_table", "b"], target);
  expect({ status: verify.status, error: verify.stderr.trim().split("\n").pop() }).toEqual({ status: 2, error: expect.stringMatching(/^verify: error: .*--report_bucket/) });
});
