/**
 * Measures the change-trigger Lambda: zipped bundle size, cold-start load time of the bundle,
 * handler time for a 1,000-record batch against local S3 (s3rver) and Glue endpoints, and the
 * AWS calls per batch. Prints one JSON object.
 *
 *   npx tsx scripts/bench-handler.ts
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { unzipSync } from "fflate";
import { bundleFunction } from "../build-tools/bundle";
import { APPLY_JOB_NAME, DEFAULT_CONFIG, HANDLER_SOURCE, MANIFEST_BUCKET, sdkEnv } from "../local-aws/change-trigger-env";
import { startLocalGlue } from "../local-aws/local-glue";
import { startLocalS3 } from "../local-aws/local-s3";
import { ENDPOINT_VARIABLE, spawnDynamoDbLocal } from "../local-aws/dynamodb-local-server";
import { nodeForRuntime, runtimeMajor } from "../local-aws/lambda-node";
import { startRecordedTable } from "../local-aws/stream-records";
import { PROJECT_ROOT } from "../stacks/project-root";

// Measured under the default runtime's Node.js major, as Lambda would run the zip.
const RUNTIME = "nodejs22.x";

const COLD_STARTS = 7;
const WARM_RUNS = 10;
const BATCH_SIZE = 1000;
const DISTINCT_KEYS = 250;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};
const ms = (value: number): number => Math.round(value * 100) / 100;

async function main(): Promise<void> {
  if (Number(process.versions.node.split(".")[0]) !== runtimeMajor(RUNTIME)) {
    // Run this script again under the runtime's Node.js (the tsx loader, as `npm run` started it).
    execFileSync(nodeForRuntime(RUNTIME), ["--import", "tsx", __filename], { stdio: "inherit" });
    return;
  }
  const buildStart = performance.now();
  const bundle = bundleFunction({ projectRoot: PROJECT_ROOT, entry: HANDLER_SOURCE, runtime: RUNTIME, cache: false }); // a real build
  const buildMs = performance.now() - buildStart;
  const files = unzipSync(bundle.zip);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-change-trigger-"));
  const indexPath = path.join(dir, "index.js");
  fs.writeFileSync(indexPath, files["index.js"] ?? new Uint8Array());

  const dynamoDb = await spawnDynamoDbLocal(PROJECT_ROOT); // the records come from its stream
  process.env[ENDPOINT_VARIABLE] = dynamoDb.endpoint;
  const s3 = await startLocalS3({ buckets: [MANIFEST_BUCKET] });
  const glue = await startLocalGlue({ jobNames: [APPLY_JOB_NAME] });
  const { ddb, recorder } = await startRecordedTable("api-pagos", { partitionKey: { name: "id", type: "S" } });
  try {
    const env = { ...process.env, ...sdkEnv(s3, glue), ...DEFAULT_CONFIG };

    // Cold start: require() of the unzipped index.js in a fresh node process (module load and
    // client construction, what Lambda's init phase runs), timed inside that process.
    const probe = `const t=process.hrtime.bigint();require(${JSON.stringify(indexPath)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
    const coldStarts = Array.from({ length: COLD_STARTS }, () =>
      Number(execFileSync(process.execPath, ["--no-warnings", "-e", probe], { env, encoding: "utf8" })),
    );

    // A 1,000-record batch from real writes: 250 keys, each written 4 times.
    for (let i = 0; i < BATCH_SIZE; i += 1) await recorder.put({ id: { S: `key-${i % DISTINCT_KEYS}` }, n: { N: String(i) } }, { read: false });
    await recorder.sync();
    const event = recorder.event();

    Object.assign(process.env, env);
    const log = console.log;
    console.log = () => undefined; // the handler's one summary line per batch
    const { handler } = require(indexPath) as { handler: (e: unknown) => Promise<{ batchItemFailures: unknown[] }> };
    const firstStart = performance.now();
    const first = await handler(event);
    const firstMs = performance.now() - firstStart;
    const firstCalls = { s3: s3.count(), glue: glue.count(), glueOperations: glue.requests.map((r) => r.operation) };
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i += 1) {
      const start = performance.now();
      const result = await handler(event);
      warm.push(performance.now() - start);
      if (result.batchItemFailures.length > 0) throw new Error("a warm invocation failed");
    }
    console.log = log;
    if (first.batchItemFailures.length > 0) throw new Error("the first invocation failed");
    if (glue.problems().length > 0) throw new Error(`invalid Glue requests: ${glue.problems().join("; ")}`);

    const invocations = WARM_RUNS + 1;
    console.log(
      JSON.stringify(
        {
          node: process.version,
          bundle: { zipBytes: bundle.zip.length, indexJsBytes: files["index.js"]?.length, buildMs: ms(buildMs) },
          coldStartRequireMs: { median: ms(median(coldStarts)), min: ms(Math.min(...coldStarts)), runs: COLD_STARTS },
          batch: {
            records: event.Records.length,
            distinctKeys: DISTINCT_KEYS,
            firstInvocationMs: ms(firstMs),
            warmInvocationMs: { median: ms(median(warm)), min: ms(Math.min(...warm)), runs: WARM_RUNS },
          },
          awsCallsPerBatch: {
            firstBatch: firstCalls,
            average: { s3: s3.count() / invocations, glue: glue.count() / invocations },
            note: "later batches find the WAITING run queued by the first StartJobRun, so they need GetJobRuns only",
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await Promise.all([s3.close(), glue.close(), ddb.close()]);
    await dynamoDb.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
