/**
 * A local S3 endpoint for tests: s3rver (an S3 REST/XML implementation; it requires a signed
 * request with its own access key id, but does not verify SigV4 signatures) behind a small
 * pass-through proxy that counts the requests and can answer the next N with an S3 error
 * instead (e.g. 500 InternalError).
 *
 * Point SDK v3 at it with AWS_ENDPOINT_URL_S3=<endpoint>, AWS_S3_FORCE_PATH_STYLE=true (read by
 * the change-trigger handler) and the credentials s3rver knows: S3RVER / S3RVER. boto3 (the Glue
 * job code) finds it through the same AWS_ENDPOINT_URL_S3 and uses path-style on its own.
 *
 * Importing this module also makes s3rver's paged listings work on Node >= 17 (see below). It is
 * the one place that starts s3rver for the jest tests (glue-job/local_servers.js, the by-hand
 * starter of the Python tests, carries the same patch).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";

// ---------------------------------------------------------------------------------------------
// s3rver 3.7 on OpenSSL 3: single DES for ListObjectsV2 continuation tokens
//
// s3rver encrypts continuation tokens with crypto.createCipheriv("des", <8-byte key>, iv) (and
// decrypts them likewise). OpenSSL 3 (Node >= 17) has single DES only in its legacy provider, so
// every truncated listing (more than MaxKeys objects, e.g. boto3's paginated ListObjectsV2 over
// 1,000+ manifests) fails with InternalError. Triple DES (EDE) with the key repeated three times
// is the same cipher as single DES, and the default provider has it: "des" with an 8-byte key is
// mapped to "des-ede3-cbc" with key+key+key. Nothing else is touched.
// The patch goes on the `crypto` module object, which s3rver shares (an `import * as` namespace
// is read-only), and is applied once per process: the marker stops a second jest module registry
// from wrapping it again.

const DES_PATCH_MARKER = Symbol.for("local-s3.des-as-3des");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeCrypto = require("node:crypto") as Record<string | symbol, unknown>;
if (nodeCrypto[DES_PATCH_MARKER] !== true) {
  for (const name of ["createCipheriv", "createDecipheriv"]) {
    const original = nodeCrypto[name] as (...args: unknown[]) => unknown;
    nodeCrypto[name] = (algorithm: unknown, key: unknown, ...rest: unknown[]) =>
      algorithm === "des" && Buffer.isBuffer(key) && key.length === 8
        ? original("des-ede3-cbc", Buffer.concat([key, key, key]), ...rest)
        : original(algorithm, key, ...rest);
  }
  nodeCrypto[DES_PATCH_MARKER] = true;
}

/** s3rver's built-in account; it rejects requests signed with another access key id. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
// s3rver ships no type declarations.
const S3rver = require("s3rver") as S3rverClass;

// ---------------------------------------------------------------------------------------------
// s3rver 3.7: DeleteObject removes the key's folder when it is left empty. A PutObject under the
// same prefix at that moment (a function writing a manifest while the job deletes the last one)
// opens its file in a folder that is gone, and s3rver has no handler for that stream's error: the
// test process dies of an uncaught ENOENT. S3 has no folders; without the clean-up, s3rver lists
// the same keys. The patch is applied once per process (see the marker above).
const FOLDER_PATCH_MARKER = Symbol.for("local-s3.keep-empty-folders");
interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  deleteObject(bucket: string, key: string): Promise<void>;
  [FOLDER_PATCH_MARKER]?: boolean;
}
const storePrototype = (require("s3rver/lib/stores/filesystem") as { prototype: FilesystemStore }).prototype;
if (storePrototype[FOLDER_PATCH_MARKER] !== true) {
  storePrototype.deleteObject = async function deleteObject(this: FilesystemStore, bucket: string, key: string): Promise<void> {
    await Promise.all(
      ["object", "object.md5", "metadata.json"].map((resource) =>
        fs.promises.unlink(this.getResourcePath(bucket, key, resource)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
        }),
      ),
    );
  };
  storePrototype[FOLDER_PATCH_MARKER] = true;
}

export interface ReceivedS3Request {
  readonly method: string;
  /** Path and query, e.g. /bucket/changes/abc.json */
  readonly url: string;
  readonly status: number;
}

/** A scripted S3 error for the next `times` requests (that `match` accepts, when given). */
export interface ScriptedS3Failure {
  readonly status: number;
  /** S3 error code, e.g. InternalError, SlowDown. */
  readonly code: string;
  /** How many requests to fail, default 1. */
  readonly times?: number;
  /** Which requests to fail, e.g. only ListObjectsV2 (GET with list-type=2); default any. */
  readonly match?: (request: { readonly method: string; readonly url: string }) => boolean;
}

export interface LocalS3 {
  readonly endpoint: string;
  /** Every request received by the proxy, in order. */
  readonly requests: ReceivedS3Request[];
  /** Where s3rver keeps its files. */
  readonly directory: string;
  /** Requests with the given method (e.g. PUT). */
  count(method?: string): number;
  /** Answers the next `times` (matching) requests with an S3 XML error of the given status and code. */
  failNext(failure: ScriptedS3Failure): void;
  /** Reads an object (S3 GetObject straight to s3rver, not counted); undefined if absent. */
  getObject(bucket: string, key: string): Promise<{ body: string; contentType: string | undefined } | undefined>;
  /** Keys of a bucket under a prefix (S3 ListObjectsV2 straight to s3rver, not counted). */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** Forgets the received requests and scripted failures (objects stay). */
  reset(): void;
  close(): Promise<void>;
}

/** Starts s3rver with the given buckets (and the proxy in front of it) on free loopback ports. */
export async function startLocalS3(options: { buckets: readonly string[] }): Promise<LocalS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "local-s3-"));
  const s3rver = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const backend = await s3rver.run();
  const requests: ReceivedS3Request[] = [];
  let failures: { failure: ScriptedS3Failure; left: number }[] = [];

  const proxy = http.createServer((req, res) => {
    const entry = { method: req.method ?? "", url: req.url ?? "", status: 0 };
    requests.push(entry);
    const scripted = failures.find(({ failure }) => failure.match === undefined || failure.match(entry));
    if (scripted !== undefined) {
      const { failure } = scripted;
      scripted.left -= 1;
      failures = failures.filter((f) => f.left > 0);
      req.resume();
      req.on("end", () => {
        const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${failure.code}</Code><Message>scripted failure</Message><RequestId>local</RequestId></Error>`;
        entry.status = failure.status;
        res.writeHead(failure.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) });
        res.end(xml);
      });
      return;
    }
    // Headers (Host included) are passed unchanged: s3rver sees the client's request as sent.
    const upstream = http.request(
      { host: backend.address, port: backend.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        entry.status = upstreamRes.statusCode ?? 0;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on("error", (error) => res.destroy(error));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as AddressInfo;

  // Reads for assertions go straight to s3rver (not through the counting proxy), over the S3 API.
  const reader = new S3Client({
    endpoint: `http://${backend.address}:${backend.port}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    directory,
    count: (method) => requests.filter((r) => method === undefined || r.method === method).length,
    failNext: (failure) => failures.push({ failure, left: failure.times ?? 1 }),
    getObject: async (bucket, key) => {
      try {
        const object = await reader.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: (await object.Body?.transformToString("utf8")) ?? "", contentType: object.ContentType };
      } catch (error) {
        if ((error as { name?: string }).name === "NoSuchKey") return undefined;
        throw error;
      }
    },
    listKeys: async (bucket, prefix = "") => {
      const listed = await reader.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (listed.Contents ?? []).map((object) => object.Key ?? "").sort();
    },
    reset: () => {
      requests.length = 0;
      failures = [];
    },
    close: async () => {
      reader.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3rver.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
