/**
 * Test rig of the change-trigger handler: a local S3 (s3rver) and a local Glue endpoint with the
 * environment that points SDK v3 at them (local-aws/change-trigger-env.ts), and loaders that import
 * the handler (TypeScript source or the bundled index.js) as a fresh cold start with a given configuration.
 */
import { APPLY_JOB_NAME, DEFAULT_CONFIG, type HandlerConfig, MANIFEST_BUCKET, sdkEnv } from "../../local-aws/change-trigger-env";
import { startLocalGlue, type LocalGlue } from "../../local-aws/local-glue";
import { startLocalS3, type LocalS3 } from "../../local-aws/local-s3";

export interface StreamBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}
export type Handler = (event: unknown) => Promise<StreamBatchResponse>;

export interface Rig {
  readonly s3: LocalS3;
  readonly glue: LocalGlue;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts both servers and sets the SDK environment for this jest worker: endpoints, s3rver's
 * credentials, a region, path-style S3 and AWS_MAX_ATTEMPTS=2 (one SDK retry keeps failure
 * tests fast).
 */
export async function startRig(): Promise<Rig> {
  const [s3, glue] = await Promise.all([startLocalS3({ buckets: [MANIFEST_BUCKET] }), startLocalGlue({ jobNames: [APPLY_JOB_NAME] })]);
  const saved = { ...process.env };
  for (const name of ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"]) delete process.env[name];
  Object.assign(process.env, sdkEnv(s3, glue));
  return {
    s3,
    glue,
    reset: () => {
      s3.reset();
      glue.reset();
    },
    close: async () => {
      process.env = saved;
      await Promise.all([s3.close(), glue.close()]);
    },
  };
}

/**
 * Imports the handler module (source .ts or bundled .js) as a fresh cold start: the handler's
 * configuration variables are set only while the module loads (it must read them then).
 */
export function loadHandler(modulePath: string, config: HandlerConfig = DEFAULT_CONFIG): Handler {
  const names = ["MANIFEST_BUCKET", "MANIFEST_PREFIX", "APPLY_JOB_NAME", "DELETE_POLICY"] as const;
  const saved = names.map((name) => [name, process.env[name]] as const);
  for (const name of names) {
    const value = config[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    let loaded: { handler?: Handler } = {};
    jest.isolateModules(() => {
      loaded = require(modulePath) as { handler?: Handler };
    });
    if (typeof loaded.handler !== "function") throw new Error(`${modulePath} exports no handler function`);
    return loaded.handler;
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Captures console.log / console.error lines (one object each) while a callback runs. */
export async function captureLogs<T>(run: () => Promise<T>): Promise<{ result: T; logs: Record<string, unknown>[]; errors: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const errors: Record<string, unknown>[] = [];
  const asObject = (args: unknown[]): Record<string, unknown> => {
    if (args.length !== 1 || typeof args[0] !== "object" || args[0] === null) throw new Error(`log call is not one object: ${JSON.stringify(args)}`);
    // What Lambda's JSON log format would write: the object must serialize.
    return JSON.parse(JSON.stringify(args[0])) as Record<string, unknown>;
  };
  const logSpy = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void logs.push(asObject(args)));
  const errorSpy = jest.spyOn(console, "error").mockImplementation((...args: unknown[]) => void errors.push(asObject(args)));
  try {
    const result = await run();
    return { result, logs, errors };
  } finally {
    logSpy.mockRestore();
    errorSpy.mockRestore();
  }
}
