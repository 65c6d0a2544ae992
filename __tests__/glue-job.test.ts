/**
 * Runs the Python tests of glue-job/ (unittest, stdlib only) against a real DynamoDB-API server
 * (dynalite) and a real S3-API server (s3rver), both started here on free loopback ports.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";

// s3rver 3.7 encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node >= 17)
// only has in its legacy provider, so every truncated listing fails with InternalError. Triple DES
// with the key repeated three times is the same cipher as single DES, and the default provider has it.
// (The module object itself is patched, as s3rver sees it; an `import * as` namespace is read-only.)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto: Record<string, (...args: unknown[]) => unknown> = require("crypto");
for (const name of ["createCipheriv", "createDecipheriv"]) {
  const original = nodeCrypto[name];
  nodeCrypto[name] = (algorithm: unknown, key: unknown, ...rest: unknown[]) =>
    algorithm === "des" && Buffer.isBuffer(key) && key.length === 8
      ? original("des-ede3-cbc", Buffer.concat([key, key, key]), ...rest)
      : original(algorithm, key, ...rest);
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

/** Number of Python tests in glue-job/tests; the run must report at least this many. */
const EXPECTED_PYTHON_TESTS = 49;

const root = path.resolve(__dirname, "..");

interface Running {
  ddbServer: { close: (cb: (err?: Error) => void) => void; address: () => AddressInfo; listen: Function };
  s3Server: { close: () => Promise<void> };
  s3Dir: string;
  env: NodeJS.ProcessEnv;
  python: string;
}

let running: Running | undefined;

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

  const ddbServer = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    ddbServer.once("error", reject);
    ddbServer.listen(0, "127.0.0.1", () => resolve());
  });
  const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), "glue-job-s3rver-"));
  const s3Server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: s3Dir });
  const s3Address: AddressInfo = await s3Server.run();

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${(ddbServer.address() as AddressInfo).port}`,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Address.port}`,
    // s3rver knows one account, S3RVER/S3RVER; dynalite accepts any credentials.
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_REGION: "us-east-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONUNBUFFERED: "1",
  };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  running = { ddbServer, s3Server, s3Dir, env, python };
});

afterAll(async () => {
  if (!running) return;
  const { ddbServer, s3Server, s3Dir } = running;
  await new Promise<void>((resolve) => ddbServer.close(() => resolve()));
  await s3Server.close();
  fs.rmSync(s3Dir, { recursive: true, force: true });
});

test("glue-job Python tests pass against dynalite and s3rver", async () => {
  if (!running) throw new Error("servers did not start");
  const { code, output } = await runProcess(
    running.python,
    ["-m", "unittest", "discover", "-s", "glue-job/tests", "-t", "glue-job/tests", "-v"],
    running.env,
  );
  const ran = /^Ran (\d+) tests? in /m.exec(output);
  const count = ran ? Number(ran[1]) : 0;
  if (code !== 0 || count < EXPECTED_PYTHON_TESTS) {
    // Show what failed: jest otherwise only reports the assertion.
    console.log(`python -m unittest exited ${code}, ran ${count} tests:\n${output}`);
  }
  expect(code).toBe(0);
  expect(count).toBeGreaterThanOrEqual(EXPECTED_PYTHON_TESTS);
}, 240_000);
