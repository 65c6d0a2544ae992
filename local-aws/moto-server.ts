/**
 * moto's server mode (the Python package moto, `moto_server`) as an AWS endpoint for Terraform's
 * AWS provider: started on a free port of 127.0.0.1, stopped by the caller.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";

export interface MotoServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** The command scripts/ensure-moto.sh finds (it names what to install when there is none). */
function motoCommand(): string[] {
  const found = spawnSync("bash", [path.join(__dirname, "..", "scripts", "ensure-moto.sh")], { encoding: "utf8" });
  if (found.status !== 0) throw new Error(found.stderr.trim());
  return found.stdout.trim().split(" ");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(endpoint: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}:\n${log()}`);
    try {
      if ((await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(5000) })).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within 60 s:\n${log()}`);
}

export async function startMotoServer(): Promise<MotoServer> {
  const [command, ...args] = motoCommand();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(command, [...args, "-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  // moto logs every request on stderr: keep the tail for an error message, never the whole run.
  let tail = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  try {
    await waitUntilUp(endpoint, child, () => tail);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
