/**
 * A local DynamoDB endpoint for tests: dynalite (the DynamoDB JSON 1.0 API over HTTP, in memory)
 * on a free loopback port, with a tiny raw-JSON client. Items stay typed DynamoDB JSON exactly as
 * the server sends them (no SDK, no marshalling): attribute values are strings, booleans and lists
 * of strings, which JSON.parse keeps exactly, so items can be compared byte for byte.
 *
 * Point boto3 at it with AWS_ENDPOINT_URL_DYNAMODB=<endpoint> (dynalite accepts any credentials).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface LocalDynamo {
  readonly endpoint: string;
  /** One DynamoDB API call (JSON 1.0); throws on an error response with its __type. */
  call<T = Record<string, unknown>>(operation: string, input: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

type DynaliteServer = http.Server;
// dynalite ships no type declarations.
const dynalite = require("dynalite") as (options: Record<string, unknown>) => DynaliteServer;

/** Starts dynalite (tables turn ACTIVE at once) on 127.0.0.1 and a free port. */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  const call = <T>(operation: string, input: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const body = JSON.stringify(input);
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/",
          agent,
          headers: {
            "content-type": "application/x-amz-json-1.0",
            "content-length": Buffer.byteLength(body),
            "x-amz-target": `DynamoDB_20120810.${operation}`,
            // dynalite requires a SigV4-shaped header but does not check the signature.
            authorization: "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            "x-amz-date": "20240101T000000Z",
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if ((res.statusCode ?? 500) >= 300) {
              let parsed: { __type?: string; message?: string } = {};
              try {
                parsed = JSON.parse(text) as typeof parsed;
              } catch {
                // not JSON: the text is the message
              }
              reject(new Error(`dynalite ${operation}: ${res.statusCode} ${parsed.__type ?? ""} ${parsed.message ?? text}`));
            } else resolve((text ? JSON.parse(text) : {}) as T);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    call,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
