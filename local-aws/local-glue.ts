/**
 * A local AWS Glue endpoint for the tests and the benchmarks: a node http server speaking the AWS JSON 1.1 protocol
 * (POST /, `X-Amz-Target: AWSGlue.<Operation>`, `application/x-amz-json-1.1`) for StartJobRun and
 * GetJobRuns. Every request body is validated against the operation's input shape of the botocore
 * service model in local-aws/reference/glue-api.json, and every response body against the output
 * shape, so the server accepts only what real Glue would. Behaviour is scriptable: the runs that
 * exist (and their states) and failures for the next N calls.
 *
 * Runs can also be real: a job given an `execute` function has its runs go through Glue's states
 * with its max concurrent runs and job run queuing (StartJobRun while the job is at its limit gives
 * a WAITING run if queuing is on, ConcurrentRunsExceededException if not; a WAITING run becomes
 * RUNNING, oldest first, when a slot frees up; a RUNNING run ends SUCCEEDED or FAILED with the
 * outcome of `execute`). The end-to-end test runs the apply-changes script that way (glue-python-job.ts).
 * Without `execute`, runs keep the state they are given (addRun) or started in.
 *
 * Both answers AWS leaves open are available: with queuing on, a start at the per-job limit WAITs;
 * with it off, ConcurrentRunsExceededException (jobRunQueuing). Glue documents that a WAITING run
 * may end FAILED (after 15 minutes or 10 attempts): failWaitingRuns(n) makes the next n WAITING
 * runs end FAILED when their turn comes, without running. `onRunEnded` is told of every run that
 * ends, as EventBridge's "Glue Job State Change" rule would (its delivery is best effort: a test
 * can drop some).
 *
 * Point SDK v3 at it with AWS_ENDPOINT_URL_GLUE=<endpoint>.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

/** botocore's Glue service model, reduced to StartJobRun, GetJobRuns, GetJobRun (origin in reference/SOURCES.md). */
const GLUE_MODEL_PATH = path.join(__dirname, "reference", "glue-api.json");

interface ShapeRef {
  shape: string;
}
interface Shape {
  type: string;
  required?: string[];
  members?: Record<string, ShapeRef>;
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  enum?: string[];
  min?: number;
  max?: number;
  pattern?: string;
}
interface ServiceModel {
  metadata: { targetPrefix: string; jsonVersion: string };
  operations: Record<string, { input?: ShapeRef; output?: ShapeRef; errors?: ShapeRef[] }>;
  shapes: Record<string, Shape>;
}

let cachedModel: ServiceModel | undefined;
export function glueModel(): ServiceModel {
  cachedModel ??= JSON.parse(fs.readFileSync(GLUE_MODEL_PATH, "utf8")) as ServiceModel;
  return cachedModel;
}

function compilePattern(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`, "u");
  } catch {
    return undefined; // a Java-only construct: the pattern is not checked
  }
}

/**
 * Validates a JSON-protocol value against a shape of the model. Returns the list of problems
 * (empty when valid): required members present, no unknown members, member types
 * (string/integer/double/boolean/timestamp/map/list/structure), enums, lengths, ranges, patterns.
 */
export function validateShape(shapeName: string, value: unknown, where = "$"): string[] {
  const shape = glueModel().shapes[shapeName];
  if (shape === undefined) return [`${where}: unknown shape ${shapeName} in the model`];
  const problems: string[] = [];
  const isPlainObject = typeof value === "object" && value !== null && !Array.isArray(value);
  switch (shape.type) {
    case "structure": {
      if (!isPlainObject) return [`${where}: expected an object (${shapeName})`];
      const object = value as Record<string, unknown>;
      for (const name of shape.required ?? []) {
        if (object[name] === undefined || object[name] === null) problems.push(`${where}.${name}: required member of ${shapeName} is missing`);
      }
      for (const [name, member] of Object.entries(object)) {
        const ref = shape.members?.[name];
        if (ref === undefined) problems.push(`${where}.${name}: unknown member of ${shapeName}`);
        else if (member !== null) problems.push(...validateShape(ref.shape, member, `${where}.${name}`));
      }
      break;
    }
    case "map": {
      if (!isPlainObject) return [`${where}: expected a map (${shapeName})`];
      for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
        if (shape.key) problems.push(...validateShape(shape.key.shape, key, `${where}[key ${JSON.stringify(key)}]`));
        if (shape.value) problems.push(...validateShape(shape.value.shape, member, `${where}[${JSON.stringify(key)}]`));
      }
      break;
    }
    case "list": {
      if (!Array.isArray(value)) return [`${where}: expected a list (${shapeName})`];
      value.forEach((member, i) => {
        if (shape.member) problems.push(...validateShape(shape.member.shape, member, `${where}[${i}]`));
      });
      break;
    }
    case "string": {
      if (typeof value !== "string") return [`${where}: expected a string (${shapeName}), got ${typeof value}`];
      if (shape.enum && !shape.enum.includes(value)) problems.push(`${where}: ${JSON.stringify(value)} is not one of ${shape.enum.join(", ")}`);
      if (shape.min !== undefined && value.length < shape.min) problems.push(`${where}: shorter than ${shape.min}`);
      if (shape.max !== undefined && value.length > shape.max) problems.push(`${where}: longer than ${shape.max}`);
      const pattern = shape.pattern === undefined ? undefined : compilePattern(shape.pattern);
      if (pattern && !pattern.test(value)) problems.push(`${where}: does not match ${shape.pattern}`);
      break;
    }
    case "integer":
    case "long":
    case "double":
    case "float": {
      const integral = shape.type === "integer" || shape.type === "long";
      if (typeof value !== "number" || (integral && !Number.isInteger(value))) {
        return [`${where}: expected ${integral ? "an integer" : "a number"} (${shapeName}), got ${JSON.stringify(value)}`];
      }
      if (shape.min !== undefined && value < shape.min) problems.push(`${where}: below the minimum ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) problems.push(`${where}: above the maximum ${shape.max}`);
      break;
    }
    case "boolean":
      if (typeof value !== "boolean") problems.push(`${where}: expected a boolean (${shapeName})`);
      break;
    case "timestamp": // JSON protocol: epoch seconds
      if (typeof value !== "number") problems.push(`${where}: expected epoch seconds (${shapeName})`);
      break;
    default:
      problems.push(`${where}: shape type ${shape.type} is not supported by this validator`);
  }
  return problems;
}

/** A job run as the server keeps it (a subset of the model's JobRun; timestamps in epoch seconds). */
export interface LocalJobRun {
  Id: string;
  JobName: string;
  JobRunState: string;
  StartedOn: number;
  LastModifiedOn: number;
  CompletedOn?: number;
  /** Seconds from RUNNING to the end, as Glue counts it. */
  ExecutionTime?: number;
  ErrorMessage?: string;
  /** The Arguments of StartJobRun (Glue lists the run's own arguments, not the job's defaults). */
  Arguments?: Record<string, string>;
  Attempt: number;
}

export interface ReceivedGlueRequest {
  readonly operation: string;
  readonly body: unknown;
  /** The problems found in the request; a request with problems is answered with a 400. */
  readonly problems: string[];
}

export interface ScriptedFailure {
  /** Operation to fail, or undefined for any operation. */
  readonly operation?: "StartJobRun" | "GetJobRuns";
  /** Error code sent as `__type`, e.g. ThrottlingException, ConcurrentRunsExceededException. */
  readonly errorType: string;
  /** HTTP status, default 400 (AWS JSON protocol client errors; throttling is 400 too). */
  readonly status?: number;
  /** How many calls to fail, default 1. */
  readonly times?: number;
}

/** How a run that `execute` ran ended. */
export interface JobRunOutcome {
  readonly succeeded: boolean;
  /** ErrorMessage of a FAILED run. */
  readonly errorMessage?: string;
}

/** A job's settings, as in aws_glue_job (execution_property, job_run_queuing_enabled, default_arguments). */
export interface LocalGlueJob {
  /** execution_property.max_concurrent_runs; default 1. */
  readonly maxConcurrentRuns?: number;
  /** job_run_queuing_enabled; default true. */
  readonly jobRunQueuing?: boolean;
  /** default_arguments; a StartJobRun's Arguments override them for that run. */
  readonly defaultArguments?: Readonly<Record<string, string>>;
  /**
   * Runs a run that became RUNNING, with its effective arguments; the run ends with the outcome
   * (a rejection is a FAILED run). Without it, runs stay in the state they were started in.
   */
  readonly execute?: (run: LocalJobRun, args: Record<string, string>) => Promise<JobRunOutcome>;
}

export interface LocalGlue {
  readonly endpoint: string;
  /** Every request received, in order (including the failed ones). */
  readonly requests: ReceivedGlueRequest[];
  /** Runs of every job, newest first (as GetJobRuns returns them). */
  readonly runs: LocalJobRun[];
  /** Adds a run of a job in a given state (newest first); returns its id. It is never executed. */
  addRun(jobName: string, state: string): string;
  /**
   * What StartJobRun does, without the HTTP call (for a test standing in for a schedule or a
   * console start); returns the run id. Throws ConcurrentRunsExceededException like StartJobRun.
   */
  startJobRun(jobName: string, args?: Record<string, string>): string;
  /** Resolves when no run of any job is STARTING, RUNNING, STOPPING or WAITING. */
  whenIdle(): Promise<void>;
  /** Fails the next matching call(s) with an AWS error. */
  failNext(failure: ScriptedFailure): void;
  /** The next `count` WAITING runs end FAILED when their turn comes, without running. */
  failWaitingRuns(count: number): void;
  /** Requests per operation name. */
  count(operation?: string): number;
  /** All problems found in received requests (expect it to be empty). */
  problems(): string[];
  reset(): void;
  close(): Promise<void>;
}

export interface LocalGlueOptions {
  /** Jobs that exist, with the default settings (max 1 concurrent run, queuing on, no execution). */
  readonly jobNames?: readonly string[];
  /** Jobs that exist, with their settings. A call naming any other job gets EntityNotFoundException. */
  readonly jobs?: Readonly<Record<string, LocalGlueJob>>;
  /** Told of every run that ends (SUCCEEDED, FAILED, ...), after its state is set. */
  readonly onRunEnded?: (run: LocalJobRun) => void;
}

const ACTIVE_STATES = ["STARTING", "RUNNING", "STOPPING"];
const newRunId = (): string => `jr_${randomBytes(32).toString("hex")}`;
const epochSeconds = (): number => Date.now() / 1000;

class GlueError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startLocalGlue(options: LocalGlueOptions): Promise<LocalGlue> {
  const jobs: Record<string, LocalGlueJob> = { ...Object.fromEntries((options.jobNames ?? []).map((name) => [name, {}])), ...options.jobs };
  const runs = new JobRuns(jobs, options.onRunEnded);
  const requests: ReceivedGlueRequest[] = [];
  const failures = new ScriptedFailures();
  const server = http.createServer(glueRequestListener(runs, requests, failures));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    runs: runs.all,
    addRun: (jobName, state) => runs.add(jobName, state).Id,
    startJobRun: (jobName, args) => runs.start(jobName, args),
    whenIdle: () => runs.whenIdle(),
    failNext: (failure) => failures.add(failure),
    failWaitingRuns: (count) => runs.failWaiting(count),
    count: (operation) => requests.filter((r) => operation === undefined || r.operation === operation).length,
    problems: () => requests.flatMap((r) => r.problems.map((p) => `${r.operation}: ${p}`)),
    reset: () => {
      requests.length = 0;
      failures.clear();
      runs.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * The jobs' runs as Glue keeps them, without HTTP: a start at a job's max concurrent runs WAITs
 * (queuing on) or is refused (off); a WAITING run becomes RUNNING, oldest first, when a slot frees
 * up; a job with `execute` runs its RUNNING runs to SUCCEEDED or FAILED.
 */
class JobRuns {
  /** Runs of every job, newest first (as GetJobRuns returns them). */
  readonly all: LocalJobRun[] = [];
  private idleWaiters: (() => void)[] = [];
  private waitingRunsToFail = 0;

  constructor(
    private readonly jobs: Readonly<Record<string, LocalGlueJob>>,
    private readonly onRunEnded?: (run: LocalJobRun) => void,
  ) {}

  /** A new run, newest first, in the given state; nothing starts or executes it. */
  add(jobName: string, state: string, args?: Record<string, string>): LocalJobRun {
    const now = epochSeconds();
    const run: LocalJobRun = { Id: newRunId(), JobName: jobName, JobRunState: state, StartedOn: now, LastModifiedOn: now, Attempt: 0, ...(args ? { Arguments: args } : {}) };
    this.all.unshift(run);
    return run;
  }

  /** StartJobRun: RUNNING below the job's limit, else WAITING or ConcurrentRunsExceededException (queuing off). */
  start(jobName: string, args?: Record<string, string>): string {
    const job = this.job(jobName);
    const mine = this.all.filter((run) => run.JobName === jobName);
    const atLimit = mine.filter((run) => ACTIVE_STATES.includes(run.JobRunState)).length >= (job.maxConcurrentRuns ?? 1) || mine.some((run) => run.JobRunState === "WAITING");
    if (atLimit && job.jobRunQueuing === false) {
      throw new GlueError("ConcurrentRunsExceededException", `Concurrent runs exceeded for ${jobName}`);
    }
    const run = this.add(jobName, "WAITING", args);
    if (!atLimit) this.launch(run);
    return run.Id;
  }

  /** GetJobRuns: the newest `max` runs of a job. */
  list(jobName: string, max: number): LocalJobRun[] {
    this.job(jobName);
    return this.all.filter((run) => run.JobName === jobName).slice(0, max);
  }

  /** Resolves when no run of any job is STARTING, RUNNING, STOPPING or WAITING. */
  whenIdle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIfIdle();
    });
  }

  /** The next `count` WAITING runs end FAILED when their turn comes, without running. */
  failWaiting(count: number): void {
    this.waitingRunsToFail += count;
  }

  /** Forgets every run. */
  clear(): void {
    this.all.length = 0;
    this.notifyIfIdle();
  }

  private job(jobName: string): LocalGlueJob {
    const job = this.jobs[jobName];
    if (job === undefined) throw new GlueError("EntityNotFoundException", `Job ${jobName} not found`);
    return job;
  }

  /** RUNNING, and executed when the job has an `execute`. */
  private launch(run: LocalJobRun): void {
    const runningSince = epochSeconds();
    run.JobRunState = "RUNNING";
    run.LastModifiedOn = runningSince;
    const job = this.jobs[run.JobName];
    if (job?.execute === undefined) return;
    const args = { ...job.defaultArguments, ...run.Arguments };
    job.execute(run, args).then(
      (outcome) => this.finish(run, outcome, runningSince),
      (error: unknown) => this.finish(run, { succeeded: false, errorMessage: String(error) }, runningSince),
    );
  }

  /** SUCCEEDED or FAILED with the outcome of `execute`; the slot goes to the oldest WAITING run. */
  private finish(run: LocalJobRun, outcome: JobRunOutcome, runningSince: number): void {
    const now = epochSeconds();
    run.JobRunState = outcome.succeeded ? "SUCCEEDED" : "FAILED";
    run.CompletedOn = now;
    run.LastModifiedOn = now;
    run.ExecutionTime = Math.round(now - runningSince);
    if (!outcome.succeeded) run.ErrorMessage = (outcome.errorMessage ?? "the run failed").slice(0, 2000);
    this.onRunEnded?.(run);
    this.startQueuedRuns(run.JobName);
    this.notifyIfIdle();
  }

  /** Queued runs start oldest first while the job is below its max concurrent runs. */
  private startQueuedRuns(jobName: string): void {
    const limit = this.jobs[jobName]?.maxConcurrentRuns ?? 1;
    for (;;) {
      const active = this.all.filter((run) => run.JobName === jobName && ACTIVE_STATES.includes(run.JobRunState)).length;
      const oldestWaiting = [...this.all].reverse().find((run) => run.JobName === jobName && run.JobRunState === "WAITING");
      if (active >= limit || oldestWaiting === undefined) return;
      if (this.waitingRunsToFail > 0) {
        this.waitingRunsToFail -= 1;
        const now = epochSeconds();
        Object.assign(oldestWaiting, { JobRunState: "FAILED", CompletedOn: now, LastModifiedOn: now, ErrorMessage: "the run waited too long to start (Glue: 15 minutes or 10 attempts)" });
        this.onRunEnded?.(oldestWaiting);
        continue;
      }
      this.launch(oldestWaiting);
    }
  }

  private notifyIfIdle(): void {
    if (this.all.some((run) => run.JobRunState === "WAITING" || ACTIVE_STATES.includes(run.JobRunState))) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Errors scripted with failNext, each for its number of calls. */
class ScriptedFailures {
  private pending: { failure: ScriptedFailure; left: number }[] = [];

  add(failure: ScriptedFailure): void {
    this.pending.push({ failure, left: failure.times ?? 1 });
  }

  /** The failure the next call of `operation` gets, if any; it counts as used. */
  take(operation: string): ScriptedFailure | undefined {
    const scripted = this.pending.find(({ failure }) => failure.operation === undefined || failure.operation === operation);
    if (scripted === undefined) return undefined;
    scripted.left -= 1;
    this.pending = this.pending.filter((f) => f.left > 0);
    return scripted.failure;
  }

  clear(): void {
    this.pending = [];
  }
}

/**
 * Each request is recorded with its problems, then answered: InvalidInputException when it has
 * problems, a scripted failure when one is due, else the operation's answer from the runs; a
 * failure of the server itself is an InternalServiceException.
 */
function glueRequestListener(runs: JobRuns, requests: ReceivedGlueRequest[], failures: ScriptedFailures): http.RequestListener {
  const model = glueModel();
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = readRequest(model, req, Buffer.concat(chunks));
      requests.push(request);
      const { operation, body, problems } = request;
      try {
        if (problems.length > 0) {
          awsError(res, 400, "InvalidInputException", problems.join("; "));
          return;
        }
        const scripted = failures.take(operation);
        if (scripted !== undefined) {
          awsError(res, scripted.status ?? 400, scripted.errorType, `scripted failure of ${operation}`);
          return;
        }
        answer(model, runs, operation, body as Record<string, unknown>, res);
      } catch (error) {
        awsError(res, 500, "InternalServiceException", String(error));
      }
    });
  };
}

/** The operation a request names, its JSON body, and what real Glue would reject in it. */
function readRequest(model: ServiceModel, req: http.IncomingMessage, raw: Buffer): ReceivedGlueRequest {
  const target = String(req.headers["x-amz-target"] ?? "");
  const operation = target.startsWith(`${model.metadata.targetPrefix}.`) ? target.slice(model.metadata.targetPrefix.length + 1) : target;
  const problems: string[] = [];
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    problems.push("body is not JSON");
  }
  problems.push(...protocolProblems(model, req));
  const op = model.operations[operation];
  if (op === undefined || !["StartJobRun", "GetJobRuns"].includes(operation)) {
    problems.push(`unsupported X-Amz-Target ${JSON.stringify(target)}`);
  } else if (body !== undefined && op.input) {
    problems.push(...validateShape(op.input.shape, body));
  }
  return { operation, body, problems };
}

/** AWS JSON 1.1 over POST /, signed with SigV4 for the glue service. */
function protocolProblems(model: ServiceModel, req: http.IncomingMessage): string[] {
  const problems: string[] = [];
  if (req.method !== "POST" || (req.url ?? "") !== "/") problems.push(`expected POST /, got ${req.method} ${req.url}`);
  if (req.headers["content-type"] !== `application/x-amz-json-${model.metadata.jsonVersion}`) {
    problems.push(`content-type is ${req.headers["content-type"]}, expected application/x-amz-json-${model.metadata.jsonVersion}`);
  }
  if (!/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/glue\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(String(req.headers.authorization ?? ""))) {
    problems.push("missing or malformed SigV4 Authorization header for service glue");
  }
  return problems;
}

/** GetJobRuns or StartJobRun, answered from the runs; a Glue error as Glue sends it. */
function answer(model: ServiceModel, runs: JobRuns, operation: string, input: Record<string, unknown>, res: http.ServerResponse): void {
  const jobName = input.JobName as string;
  try {
    if (operation === "GetJobRuns") {
      const max = (input.MaxResults as number | undefined) ?? 100;
      respond(res, 200, { JobRuns: runs.list(jobName, max) }, model.operations.GetJobRuns?.output?.shape);
      return;
    }
    const JobRunId = runs.start(jobName, input.Arguments as Record<string, string> | undefined);
    respond(res, 200, { JobRunId }, model.operations.StartJobRun?.output?.shape);
  } catch (error) {
    if (!(error instanceof GlueError)) throw error;
    awsError(res, 400, error.type, error.message);
  }
}

/** A JSON 1.1 answer; the server's own answer must match the operation's output shape. */
function respond(res: http.ServerResponse, status: number, body: unknown, outputShape?: string): void {
  if (outputShape !== undefined) {
    const problems = validateShape(outputShape, body);
    if (problems.length > 0) throw new Error(`local-glue: its own ${outputShape} is invalid: ${problems.join("; ")}`);
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomBytes(16).toString("hex"),
  });
  res.end(text);
}

function awsError(res: http.ServerResponse, status: number, type: string, message: string): void {
  // Modeled Glue exceptions carry `Message`; generic errors (ThrottlingException, ...) `message`.
  const modeled = glueModel().shapes[type]?.members?.Message !== undefined;
  respond(res, status, { __type: type, [modeled ? "Message" : "message"]: message });
}
