// Starts dynalite and s3rver on free loopback ports for running the glue-job tests or the benchmarks by hand
// (npm test starts its own in __tests__/python/python-suite.ts). Prints one JSON line with the endpoints,
// then serves until its standard input closes (so a parent process that dies takes it along).
//   node glue-job/local_servers.js
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

// Same shim as __tests__/python/python-suite.ts: s3rver's continuation tokens use single DES, missing from
// OpenSSL 3's default provider; 3DES with the key repeated three times is the same cipher.
for (const name of ["createCipheriv", "createDecipheriv"]) {
  const original = crypto[name];
  crypto[name] = (algorithm, key, ...rest) =>
    algorithm === "des" && Buffer.isBuffer(key) && key.length === 8
      ? original("des-ede3-cbc", Buffer.concat([key, key, key]), ...rest)
      : original(algorithm, key, ...rest);
}

const root = path.resolve(__dirname, "..");
const dynalite = require(path.join(root, "node_modules", "dynalite"))({
  createTableMs: 0, deleteTableMs: 0, updateTableMs: 0,
});
// Same as local-aws/local-dynamodb.ts's survivingAbortedRequests: dynalite rethrows a request's "aborted"
// error (a worker process killed mid-request), which would end the server; that error alone is dropped.
dynalite.prependListener("request", (request) => {
  const emit = request.emit.bind(request);
  request.emit = (event, ...args) => (event === "error" && args[0] && args[0].code === "ECONNRESET" ? false : emit(event, ...args));
});
const S3rver = require(path.join(root, "node_modules", "s3rver"));

async function main() {
  await new Promise((resolve) => dynalite.listen(0, "127.0.0.1", resolve));
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "glue-job-s3rver-"));
  const s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory });
  const address = await s3.run();
  process.stdout.write(JSON.stringify({
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${dynalite.address().port}`,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${address.port}`,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_DEFAULT_REGION: "us-east-1",
  }) + "\n");
  const stop = async () => {
    dynalite.close();
    await s3.close();
    fs.rmSync(directory, { recursive: true, force: true });
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
