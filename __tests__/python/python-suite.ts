/**
 * The Python suite of glue-job/ (unittest, stdlib only), run by unittest's own runner against real
 * DynamoDB-API servers and a real S3-API server: dynalite for the unit tests (it starts at once and
 * answers fastest), AWS's DynamoDB Local for the fidelity tests (every type, 38-digit numbers, all
 * byte values, 400 KB items, deep nesting), s3rver (with the patches local-s3.ts carries) for S3.
 *
 * `npm test` runs it beside jest (scripts/test.sh), and prints unittest's own report when it ends;
 * the run records the AWS calls each job made (support.record_iam_surface) and a summary in
 * RESULTS_DIR, which __tests__/glue-job-iam-surface.test.ts reads (waiting for a run under way).
 * Run alone, that test runs the suite itself when no run of the current Python code is recorded.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ENDPOINT_VARIABLE, spawnDynamoDbLocal } from "../../local-aws/dynamodb-local-server";
import { dynamoDbLocal, startDynalite } from "../../local-aws/local-dynamodb";
import { S3RVER_CREDENTIALS, startLocalS3 } from "../../local-aws/local-s3";
import { Cleanup, startedTogether } from "../helpers/cleanup";

const ROOT = path.resolve(__dirname, "..", "..");
const GLUE_JOB = path.join(ROOT, "glue-job");
/** What the last run left: summary.json, and the recorded AWS calls (<job>.json). */
export const RESULTS_DIR = path.join(ROOT, ".test-results", "python");

export interface PythonSuiteSummary {
  /** Hash of every .py file of glue-job/ the run tested (pythonSources()). */
  readonly sources: string;
  readonly exitCode: number;
  readonly ran: number;
  readonly failures: number;
  readonly errors: number;
  readonly skipped: number;
  readonly seconds: number;
  /** Lines the tests print for the record: how many interleavings they tried, verify's rate. */
  readonly notes: string[];
  /** Whether the paged S3 listings went through s3rver's proxy (the DES patch keeps them working). */
  readonly pagedListings: boolean;
}

/** Hash of the Python code and its tests: a recorded run of other code does not count. */
export function pythonSources(dir = GLUE_JOB): string {
  const hash = createHash("sha256");
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(folder, entry.name);
      if (entry.isDirectory() && entry.name !== "__pycache__") walk(file);
      else if (entry.name.endsWith(".py")) hash.update(path.relative(dir, file)).update("\0").update(fs.readFileSync(file));
    }
  };
  walk(dir);
  return hash.digest("hex");
}

/** Written while a run is under way (its process id): a reader waits for it instead of running again. */
const RUNNING = path.join(path.dirname(RESULTS_DIR), "python.running");

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * How long a jest file may wait for the suite: a run under way (npm test with arguments starts one
 * beside jest) or its own. Alone it takes about 200 s; beside jest's heavy files, at the lower
 * priority scripts/test.sh gives it, much longer. The limit only ends a hung suite.
 */
export const SUITE_WAIT_MS = 45 * 60_000;

/** recordedRun(), once a run under way in another process (npm test starts one beside jest) has ended. */
export async function awaitRecordedRun(): Promise<PythonSuiteSummary | undefined> {
  while (fs.existsSync(RUNNING) && alive(Number(fs.readFileSync(RUNNING, "utf8")))) await new Promise((resolve) => setTimeout(resolve, 1000));
  return recordedRun();
}

/** The summary of the last run, when it ran the current code. */
export function recordedRun(): PythonSuiteSummary | undefined {
  const file = path.join(RESULTS_DIR, "summary.json");
  if (!fs.existsSync(file)) return undefined;
  const summary = JSON.parse(fs.readFileSync(file, "utf8")) as PythonSuiteSummary;
  return summary.sources === pythonSources() ? summary : undefined;
}

/** unittest's closing lines: "Ran 143 tests in 80.1s", then "OK (skipped=1)" or "FAILED (failures=1, errors=2)". */
function counts(output: string): Pick<PythonSuiteSummary, "ran" | "failures" | "errors" | "skipped"> {
  const ran = Number(/^Ran (\d+) tests? in /m.exec(output)?.[1] ?? 0);
  const verdict = /^(OK|FAILED)(?: \((.*)\))?$/m.exec(output)?.[2] ?? "";
  const count = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(verdict)?.[1] ?? 0);
  return { ran, failures: count("failures"), errors: count("errors"), skipped: count("skipped") };
}

/**
 * Runs the suite; `echo` receives unittest's output as it comes. Starts and stops its own servers
 * (a DynamoDB Local too, unless one is given in DYNAMODB_LOCAL_ENDPOINT).
 */
export async function runPythonSuite(echo: (chunk: string) => void = () => undefined): Promise<PythonSuiteSummary> {
  const started = Date.now();
  const sources = pythonSources();
  const python = execFileSync("bash", [path.join(ROOT, "scripts", "ensure-python-boto3.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const cleanup = new Cleanup();
  fs.mkdirSync(path.dirname(RUNNING), { recursive: true });
  fs.writeFileSync(RUNNING, String(process.pid));
  cleanup.add(undefined, () => fs.rmSync(RUNNING, { force: true }));
  try {
    if (!process.env[ENDPOINT_VARIABLE]) {
      const server = await spawnDynamoDbLocal(ROOT);
      cleanup.add(server, () => server.stop());
      process.env[ENDPOINT_VARIABLE] = server.endpoint;
      cleanup.add(undefined, () => void delete process.env[ENDPOINT_VARIABLE]);
    }
    // The tests create their own buckets and tables. (DynamoDB Local: wait until it answers.)
    const [ddb, s3, local] = await startedTogether([startDynalite(), startLocalS3({ buckets: [] }), dynamoDbLocal()]);
    [ddb, s3, local].forEach((server) => cleanup.closes(server));
    fs.rmSync(RESULTS_DIR, { recursive: true, force: true });
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PYTHONPATH: GLUE_JOB,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      [ENDPOINT_VARIABLE]: local.endpoint,
      // s3rver knows one account, S3RVER/S3RVER; dynalite accepts any credentials.
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_REGION: "us-east-1",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      PYTHONDONTWRITEBYTECODE: "1",
      PYTHONUNBUFFERED: "1",
      GLUE_IAM_SURFACE_DIR: RESULTS_DIR,
    };
    delete env.AWS_PROFILE;
    delete env.AWS_SESSION_TOKEN;
    // Asynchronous on purpose: the servers live in this process and must keep answering.
    const { exitCode, output } = await new Promise<{ exitCode: number; output: string }>((resolve, reject) => {
      const child = spawn(python, ["-m", "unittest", "discover", "-s", "glue-job/tests", "-t", "glue-job/tests", "-v"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      const take = (chunk: Buffer) => {
        const text = chunk.toString("utf8");
        output += text;
        echo(text);
      };
      child.stdout.on("data", take);
      child.stderr.on("data", take);
      child.on("error", reject);
      child.on("close", (code) => resolve({ exitCode: code ?? 1, output }));
    });
    const summary: PythonSuiteSummary = {
      sources,
      exitCode,
      ...counts(output),
      seconds: Math.round((Date.now() - started) / 100) / 10,
      notes: output.match(/^(?:(?:retained|restore) interleavings: |verify rate ).*$/gm) ?? [],
      pagedListings: s3.requests.some((request) => request.url.includes("continuation-token=")),
    };
    fs.writeFileSync(path.join(RESULTS_DIR, "summary.json"), JSON.stringify(summary, null, 2));
    return summary;
  } finally {
    await cleanup.run();
  }
}

if (require.main === module) {
  runPythonSuite((chunk) => process.stdout.write(chunk)).then(
    (summary) => {
      const { ran, failures, errors, skipped, seconds } = summary;
      console.log(`\nPython suite: ${ran} tests, ${failures} failures, ${errors} errors, ${skipped} skipped, ${seconds} s (results in ${path.relative(ROOT, RESULTS_DIR)}/)`);
      process.exit(summary.exitCode === 0 && ran > 0 ? 0 : 1);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
