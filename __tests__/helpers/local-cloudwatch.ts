/**
 * Where the end-to-end apply runs send their metrics: a loopback HTTP endpoint that answers
 * PutMetricData as CloudWatch does in either protocol botocore may choose from the service model
 * (smithy-rpc-v2-cbor: POST /service/GraniteServiceVersion20100801/operation/PutMetricData; or
 * awsJson1_0 with X-Amz-Target), and counts the requests by operation. What the datums hold is
 * checked in glue-job/tests (support.LocalCloudWatch validates them against botocore's model); here
 * the point is that runs publish and are not slowed by an unreachable endpoint.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface LocalCloudWatch {
  readonly endpoint: string;
  /** Requests per operation, e.g. { PutMetricData: 12 }. */
  readonly operations: Record<string, number>;
  close(): Promise<void>;
}

export async function startLocalCloudWatch(): Promise<LocalCloudWatch> {
  const operations: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const cbor = String(req.headers["content-type"] ?? "").startsWith("application/cbor");
      const route = /\/operation\/([A-Za-z]+)$/.exec(req.url ?? "");
      const operation = cbor ? route?.[1] : String(req.headers["x-amz-target"] ?? "").split(".").pop();
      operations[operation ?? "(unknown)"] = (operations[operation ?? "(unknown)"] ?? 0) + 1;
      const body = cbor ? Buffer.from([0xa0]) : Buffer.from("{}"); // an empty map / object: PutMetricData's output
      res.writeHead(200, {
        "content-type": cbor ? "application/cbor" : "application/x-amz-json-1.0",
        ...(cbor ? { "smithy-protocol": "rpc-v2-cbor" } : {}),
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
