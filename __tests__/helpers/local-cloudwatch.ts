/**
 * Where the end-to-end apply runs send their metrics: a loopback HTTP endpoint that answers
 * PutMetricData as CloudWatch does in each protocol a botocore may choose from its service model
 * (smithy-rpc-v2-cbor: POST /service/GraniteServiceVersion20100801/operation/PutMetricData;
 * awsJson1_0 with X-Amz-Target; query, form-encoded), and counts the requests by operation. What the datums hold is
 * checked in glue-job/tests (support.LocalCloudWatch validates them against botocore's model); here
 * the point is that runs publish and are not slowed by an unreachable endpoint.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/**
 * The operation a request names and PutMetricData's empty output in its protocol. The query
 * protocol (form-encoded Action, an XML answer) is what an older boto3 speaks, such as Debian's or
 * Glue Python shell's.
 */
function answer(req: http.IncomingMessage, raw: Buffer): { operation?: string; contentType: string; body: Buffer } {
  const type = String(req.headers["content-type"] ?? "");
  if (type.startsWith("application/cbor")) {
    return { operation: /\/operation\/([A-Za-z]+)$/.exec(req.url ?? "")?.[1], contentType: "application/cbor", body: Buffer.from([0xa0]) };
  }
  if (type.startsWith("application/x-www-form-urlencoded")) {
    const text = (req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw).toString("utf8");
    const operation = new URLSearchParams(text).get("Action") ?? undefined;
    const xml = `<${operation}Response xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></${operation}Response>`;
    return { operation, contentType: "text/xml", body: Buffer.from(xml) };
  }
  return { operation: String(req.headers["x-amz-target"] ?? "").split(".").pop(), contentType: "application/x-amz-json-1.0", body: Buffer.from("{}") };
}

export interface LocalCloudWatch {
  readonly endpoint: string;
  /** Requests per operation, e.g. { PutMetricData: 12 }. */
  readonly operations: Record<string, number>;
  close(): Promise<void>;
}

export async function startLocalCloudWatch(): Promise<LocalCloudWatch> {
  const operations: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const { operation, contentType, body } = answer(req, Buffer.concat(chunks));
      operations[operation ?? "(unknown)"] = (operations[operation ?? "(unknown)"] ?? 0) + 1;
      res.writeHead(200, {
        "content-type": contentType,
        ...(contentType === "application/cbor" ? { "smithy-protocol": "rpc-v2-cbor" } : {}),
        "content-length": body.length,
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    operations,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
