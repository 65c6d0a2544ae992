/**
 * The Glue package type-checks: pyright (the npm devDependency, glue-job/pyrightconfig.json) for each
 * Python version Glue runs it on, 3.9 (Python shell) and 3.11 (Glue 5 Spark). boto3 resolves from the
 * interpreter scripts/ensure-python-boto3.sh names, as the Python tests use; pyspark and awsglue exist
 * only on Glue (their imports say so to pyright).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const glueJob = path.join(root, "glue-job");
const pyright = path.join(root, "node_modules", ".bin", "pyright");

interface Diagnostic {
  file: string;
  severity: "error" | "warning" | "information";
  message: string;
  rule?: string;
  range: { start: { line: number; character: number } };
}

interface PyrightReport {
  generalDiagnostics: Diagnostic[];
  summary: { filesAnalyzed: number; errorCount: number };
}

let python = "";

beforeAll(() => {
  python = execFileSync("bash", [path.join(root, "scripts", "ensure-python-boto3.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
});

function check(version: string): PyrightReport {
  const run = spawnSync(
    pyright,
    ["--outputjson", "--project", path.join(glueJob, "pyrightconfig.json"), "--pythonversion", version, "--pythonpath", python],
    { cwd: glueJob, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.error) throw run.error;
  // Exit status 1 means "errors found", which the report lists; anything else is pyright failing.
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(`pyright exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  }
  return JSON.parse(run.stdout) as PyrightReport;
}

function describeError(d: Diagnostic): string {
  const where = `${path.relative(root, d.file)}:${d.range.start.line + 1}:${d.range.start.character + 1}`;
  return `${where} ${d.message.split("\n")[0]}${d.rule ? ` (${d.rule})` : ""}`;
}

test("glue-job/pyrightconfig.json checks the package", () => {
  const config = JSON.parse(fs.readFileSync(path.join(glueJob, "pyrightconfig.json"), "utf8")) as {
    include: string[];
    typeCheckingMode: string;
  };
  expect(config.include).toContain("backup_replication");
  expect(["standard", "strict"]).toContain(config.typeCheckingMode);
});

test.each(["3.9", "3.11"])("pyright finds no error with Python %s", (version) => {
  const report = check(version);
  expect(report.summary.filesAnalyzed).toBeGreaterThan(20);
  const errors = report.generalDiagnostics.filter((d) => d.severity === "error").map(describeError);
  expect(errors).toEqual([]);
}, 120_000);
