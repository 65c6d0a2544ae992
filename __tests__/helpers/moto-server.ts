/**
 * moto's server mode (the Python package moto, `moto_server`) as an AWS endpoint for Terraform's
 * AWS provider: started on a free port of 127.0.0.1, stopped by the caller.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as net from "node:net";

export interface MotoServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** `moto_server` when it is on PATH, else the module of the python3 first on PATH. */
function motoCommand(): string[] {
  if (spawnSync("moto_server", ["--help"], { stdio: "ignore" }).status === 0) return ["moto_server"];
  if (spawnSync("python3", ["-c", "import moto.server"], { stdio: "ignore" }).status === 0) return ["python3", "-m", "moto.server"];
  throw new Error("moto's server is not installed: pip install 'moto[server]>=5.2' (README.md, Prerequisites)");
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
      if ((await fetch(`${endpoint}/moto-api/data.json`)).ok) return;
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
  await waitUntilUp(endpoint, child, () => tail);
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
