/**
 * Runs the Python tests of glue-job/ (unittest, stdlib only) against real DynamoDB-API servers and a
 * real S3-API server (s3rver): dynalite, started here, for the unit tests (it starts at once and
 * answers fastest), and AWS's DynamoDB Local (the run's shared server, DYNAMODB_LOCAL_ENDPOINT) for
 * the fidelity tests (test_fidelity.py: every type, 38-digit numbers, all byte values, 400 KB items,
 * deep nesting). local-s3.ts also carries the patches s3rver needs.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { permissionsOf } from "./helpers/iam";
import { Cleanup, startedTogether } from "./helpers/cleanup";
import { ENDPOINT_VARIABLE } from "./helpers/dynamodb-local-server";
import { dynamoDbLocal, startDynalite, type LocalDynamo } from "./helpers/local-dynamodb";
import { S3RVER_CREDENTIALS, startLocalS3, type LocalS3 } from "./helpers/local-s3";
import { synthesizeEnvironment } from "./helpers/synth";

/** Number of Python tests in glue-job/tests; the run must report at least this many. */
const EXPECTED_PYTHON_TESTS = 119;
/** Where the Python tests record the AWS operations each job called (support.record_iam_surface). */
const surfaceDir = fs.mkdtempSync(path.join(os.tmpdir(), "glue-iam-surface-"));

const root = path.resolve(__dirname, "..");

interface Running {
  ddb: LocalDynamo;
  s3: LocalS3;
  env: NodeJS.ProcessEnv;
  python: string;
}

let running: Running | undefined;
const cleanup = new Cleanup();

function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // Asynchronous on purpose: the servers live in this process and must keep answering.
    const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output: Buffer.concat(chunks).toString("utf8") }));
  });
}

beforeAll(async () => {
  const python = execFileSync("bash", [path.join(root, "scripts", "ensure-python-boto3.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  // The Python tests create their own buckets and tables. (DynamoDB Local is the run's: wait until it answers.)
  const [ddb, s3, local] = await startedTogether([startDynalite(), startLocalS3({ buckets: [] }), dynamoDbLocal()]);
  cleanup.closes(ddb);
  cleanup.closes(s3);
  cleanup.closes(local);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
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
  };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  env.GLUE_IAM_SURFACE_DIR = surfaceDir;
  running = { ddb, s3, env, python };
});

afterAll(() => cleanup.run());

test("glue-job Python tests pass against dynalite, DynamoDB Local and s3rver", async () => {
  if (!running) throw new Error("servers did not start");
  const { code, output } = await runProcess(
    running.python,
    ["-m", "unittest", "discover", "-s", "glue-job/tests", "-t", "glue-job/tests", "-v"],
    running.env,
  );
  const ran = /^Ran (\d+) tests? in /m.exec(output);
  // The randomized interleavings say how many they tried (glue-job/tests/test_retained_interleavings.py).
  const tried = /^retained interleavings: .*$/m.exec(output);
  if (tried) console.log(tried[0]);
  // verify's rate next to a raw Scan of the same tables (glue-job/tests/test_verify.py).
  const rate = /^verify rate .*$/m.exec(output);
  if (rate) console.log(rate[0]);
  const count = ran ? Number(ran[1]) : 0;
  if (code !== 0 || count < EXPECTED_PYTHON_TESTS) {
    // Show what failed: jest otherwise only reports the assertion.
    console.log(`python -m unittest exited ${code}, ran ${count} tests:\n${output}`);
  }
  expect(code).toBe(0);
  expect(count).toBeGreaterThanOrEqual(EXPECTED_PYTHON_TESTS);
  // The paged listings went through the proxy: the DES patch is what keeps them working.
  expect(running.s3.requests.some((r) => r.url.includes("continuation-token="))).toBe(true);
}, 420_000);

/** How each boto3 operation the jobs call is authorized (CopyObject reads its source and writes its target). */
const IAM_ACTIONS: Record<string, { action: string; on: "resource" | "manifests" }[]> = {
  describe_table: [{ action: "dynamodb:DescribeTable", on: "resource" }],
  batch_get_item: [{ action: "dynamodb:BatchGetItem", on: "resource" }],
  batch_write_item: [{ action: "dynamodb:BatchWriteItem", on: "resource" }],
  put_item: [{ action: "dynamodb:PutItem", on: "resource" }],
  get_item: [{ action: "dynamodb:GetItem", on: "resource" }],
  scan: [{ action: "dynamodb:Scan", on: "resource" }],
  create_table: [{ action: "dynamodb:CreateTable", on: "resource" }],
  put_object: [{ action: "s3:PutObject", on: "resource" }],
  list_objects_v2: [{ action: "s3:ListBucket", on: "resource" }],
  get_object: [{ action: "s3:GetObject", on: "resource" }],
  // With a VersionId (a versioned bucket: AWS gives one, s3rver does not) DeleteObject needs DeleteObjectVersion.
  delete_object: [{ action: "s3:DeleteObject", on: "resource" }, { action: "s3:DeleteObjectVersion", on: "resource" }],
  copy_object: [{ action: "s3:GetObject", on: "manifests" }, { action: "s3:PutObject", on: "resource" }],
};

describe.each([
  ["apply-changes", "apply-changes-retain", "retain"],
  ["apply-changes", "apply-changes-mirror", "mirror"],
  ["full-copy", "full-copy-retain", "retain"],
  ["full-copy", "full-copy-mirror", "mirror"],
  ["verify", "verify-retain", "retain"],
  ["verify", "verify-mirror", "mirror"],
  ["restore", "restore", "retain"],
] as const)("the %s role grants exactly what its code called (%s)", (job, surface, deletes) => {
  test("every call is granted on its resource, and every data grant is called", () => {
    const calls = JSON.parse(fs.readFileSync(path.join(surfaceDir, `${surface}.json`), "utf8")) as [string, string][];
    const stack = synthesizeEnvironment({ deletes });
    const bucket = `\${aws_s3_bucket.${stack.one("aws_s3_bucket").name}.arn}`;
    const arnOf: Record<string, string> = {
      source: `\${aws_dynamodb_table.${stack.find("aws_dynamodb_table", "tables/source").name}.arn}`,
      backup: `\${aws_dynamodb_table.${stack.find("aws_dynamodb_table", "tables/backup").name}.arn}`,
      manifests: `${bucket}/changes/*`,
      rejected: `${bucket}/rejected/*`,
      quarantine: `${bucket}/quarantine/*`,
      "verify-reports": `${bucket}/verify/*`,
      "restore-reports": `${bucket}/restore/*`,
      "restore-target": "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:${data.aws_caller_identity.account.account_id}:table/api-pos-backup-restore-*",
    };
    const needed = new Set<string>();
    for (const [operation, role] of calls) {
      expect(IAM_ACTIONS[operation]).toBeDefined();
      for (const { action, on } of IAM_ACTIONS[operation]) {
        // ListBucket is granted on the bucket (no prefix condition: a consumed manifest must read as 404).
        const resource = action === "s3:ListBucket" ? bucket : arnOf[on === "manifests" ? "manifests" : role];
        needed.add(`${action} ${resource}`);
      }
    }
    const granted = new Set<string>();
    for (const statement of permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name)) {
      for (const action of statement.actions ?? []) {
        for (const resource of statement.resources ?? []) {
          const data = /^(dynamodb|s3|glue):/.test(action) && !resource.endsWith("/glue/*"); // scripts are read by Glue itself
          if (data) granted.add(`${action} ${resource}`);
        }
      }
    }
    expect([...granted].sort()).toEqual([...needed].sort());
  });
});
