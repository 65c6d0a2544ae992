/**
 * DynamoDB endpoints for tests, with a tiny raw-JSON client. Items stay typed DynamoDB JSON exactly
 * as the server sends them (no SDK, no marshalling): attribute values are strings, booleans and
 * lists of strings, which JSON.parse keeps exactly, so items can be compared byte for byte.
 *
 * - dynamoDbLocal(): AWS's DynamoDB Local, shared by the whole jest run (dynamodb-local-server.ts),
 *   with the DynamoDB Streams API. The end-to-end, stream and fidelity tests run on it.
 * - startDynalite(): dynalite (an in-memory DynamoDB API in node, started in this process): kept
 *   for the Python unit tests of glue-job/, where it starts at once and answers faster.
 *
 * Point boto3 at either with AWS_ENDPOINT_URL_DYNAMODB=<endpoint> (both accept any credentials).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ENDPOINT_VARIABLE } from "./dynamodb-local-server";

export interface LocalDynamo {
  readonly endpoint: string;
  /** One DynamoDB API call (JSON 1.0); throws on an error response with its __type. */
  call<T = Record<string, unknown>>(operation: string, input: Record<string, unknown>): Promise<T>;
  /** One DynamoDB Streams API call (DynamoDB Local only). */
  streams<T = Record<string, unknown>>(operation: string, input: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

/** An error response of the DynamoDB API, with its type (e.g. ConditionalCheckFailedException). */
export class DynamoError extends Error {
  constructor(
    readonly type: string,
    message: string,
    /** The HTTP status of the answer. */
    readonly status = 400,
  ) {
    super(message);
  }
}

/** Attempts of one call answered with a 5xx: about 7 s of waiting in all. */
const SERVER_ERROR_ATTEMPTS = 8;

function client(endpoint: string, label: string, closeServer: () => Promise<void>): LocalDynamo {
  const { hostname, port } = new URL(endpoint);
  const agent = new http.Agent({ keepAlive: true });
  const once = <T>(target: string, operation: string, input: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const body = JSON.stringify(input);
      const req = http.request(
        {
          host: hostname,
          port: Number(port),
          method: "POST",
          path: "/",
          agent,
          headers: {
            "content-type": "application/x-amz-json-1.0",
            "content-length": Buffer.byteLength(body),
            "x-amz-target": `${target}.${operation}`,
            // Both servers require a SigV4-shaped header but do not check the signature.
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
              let parsed: { __type?: string; message?: string; Message?: string } = {};
              try {
                parsed = JSON.parse(text) as typeof parsed;
              } catch {
                // not JSON: the text is the message
              }
              const type = (parsed.__type ?? "").split("#").pop() ?? "";
              reject(new DynamoError(type, `${label} ${operation}: ${res.statusCode} ${type} ${parsed.message ?? parsed.Message ?? text}`, res.statusCode ?? 500));
            } else resolve((text ? JSON.parse(text) : {}) as T);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  // A 5xx answer may be retried as it stands (DynamoDB's error handling guide: "OK to retry? Yes"),
  // as the AWS SDKs do. DynamoDB Local gives one when a write waits too long for a lock, as it does on
  // a loaded machine; a writer that gave up there would be a test failing for the machine's load.
  const send = async <T>(target: string, operation: string, input: Record<string, unknown>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once<T>(target, operation, input);
      } catch (error) {
        if (!(error instanceof DynamoError && error.status >= 500) || attempt === SERVER_ERROR_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
      }
    }
  };
  return {
    endpoint,
    call: (operation, input) => send("DynamoDB_20120810", operation, input),
    streams: (operation, input) => send("DynamoDBStreams_20120810", operation, input),
    close: async () => {
      agent.destroy();
      await closeServer();
    },
  };
}

/**
 * A client of the run's DynamoDB Local, once it answers (the JVM may still be starting). Its
 * close() closes the client only: the server belongs to the run.
 */
export async function dynamoDbLocal(timeoutMs = 90_000): Promise<LocalDynamo> {
  const endpoint = process.env[ENDPOINT_VARIABLE];
  if (!endpoint) throw new Error(`${ENDPOINT_VARIABLE} is not set: run the tests with jest, whose global setup starts DynamoDB Local`);
  const ddb = client(endpoint, "DynamoDB Local", async () => undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await ddb.call("ListTables", { Limit: 1 });
      return ddb;
    } catch (error) {
      if (error instanceof DynamoError || Date.now() > deadline) {
        await ddb.close();
        throw new Error(`DynamoDB Local at ${endpoint} did not answer within ${timeoutMs / 1000} s: ${String(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

type DynaliteServer = http.Server;
// dynalite ships no type declarations.
const dynalite = require("dynalite") as (options: Record<string, unknown>) => DynaliteServer;

/**
 * dynalite rethrows a request's "aborted" error (a client that went away mid-request, as a worker process
 * killed mid-partition does), which would end the whole server: that one error is dropped, for that request.
 */
export function survivingAbortedRequests(server: http.Server): http.Server {
  server.prependListener("request", (request: http.IncomingMessage) => {
    const emit = request.emit.bind(request);
    request.emit = ((event: string, ...args: unknown[]) =>
      event === "error" && (args[0] as NodeJS.ErrnoException | undefined)?.code === "ECONNRESET" ? false : emit(event, ...args)) as typeof request.emit;
  });
  return server;
}

/** Starts dynalite (tables turn ACTIVE at once) on 127.0.0.1 and a free port. */
export async function startDynalite(): Promise<LocalDynamo> {
  const server = survivingAbortedRequests(dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return client(`http://127.0.0.1:${port}`, "dynalite", () => new Promise<void>((resolve) => server.close(() => resolve())));
}
