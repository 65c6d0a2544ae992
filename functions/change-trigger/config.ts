/** The handler's settings, read from the environment once per container (at cold start). */

export type DeletePolicy = "retain" | "mirror";

export interface ChangeTriggerConfig {
  /** S3 bucket that receives the change manifests. */
  readonly manifestBucket: string;
  /** Key prefix of the manifests, e.g. `changes/` (empty, or ends with `/`). */
  readonly manifestPrefix: string;
  /** Name of the Glue job that applies the manifests. */
  readonly applyJobName: string;
  /**
   * Both: REMOVE keys are dirty keys. `retain`: the manifest also carries the last state (OldImage)
   * of each item deleted in the batch, which the backup keeps; `mirror`: the backup follows deletes.
   */
  readonly deletePolicy: DeletePolicy;
  /** S3 path-style addressing (needed by local S3 servers); from AWS_S3_FORCE_PATH_STYLE. */
  readonly s3ForcePathStyle: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new Error(`change-trigger: environment variable ${name} is required but not set`);
  }
  return value;
}

function invalid(name: string, value: string, expected: string): Error {
  return new Error(`change-trigger: environment variable ${name}=${JSON.stringify(value)} is invalid: ${expected}`);
}

/** Reads and validates the settings; throws an error naming the first missing/invalid variable. */
export function loadConfig(env: Env): ChangeTriggerConfig {
  const manifestBucket = required(env, "MANIFEST_BUCKET");
  // S3 bucket naming rules (general purpose buckets): 3-63 chars, lowercase, digits, dots, hyphens.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(manifestBucket)) {
    throw invalid("MANIFEST_BUCKET", manifestBucket, "expected an S3 bucket name (3-63 characters of a-z, 0-9, '.', '-')");
  }

  const manifestPrefix = env.MANIFEST_PREFIX;
  if (manifestPrefix === undefined) {
    throw new Error("change-trigger: environment variable MANIFEST_PREFIX is required but not set");
  }
  if (manifestPrefix !== "" && (!manifestPrefix.endsWith("/") || manifestPrefix.startsWith("/"))) {
    throw invalid("MANIFEST_PREFIX", manifestPrefix, "expected a key prefix ending with '/' and not starting with '/', e.g. 'changes/'");
  }

  const applyJobName = required(env, "APPLY_JOB_NAME");
  // Glue NameString: 1-255 characters, no control characters other than tab.
  if (applyJobName.length > 255 || !/^[\u0020-\uD7FF\uE000-\uFFFF\t]+$/.test(applyJobName)) {
    throw invalid("APPLY_JOB_NAME", applyJobName, "expected a Glue job name (1-255 printable characters)");
  }

  const deletePolicy = required(env, "DELETE_POLICY");
  if (deletePolicy !== "retain" && deletePolicy !== "mirror") {
    throw invalid("DELETE_POLICY", deletePolicy, "expected 'retain' or 'mirror'");
  }

  const pathStyle = env.AWS_S3_FORCE_PATH_STYLE ?? "";
  if (pathStyle !== "" && pathStyle !== "true" && pathStyle !== "false") {
    throw invalid("AWS_S3_FORCE_PATH_STYLE", pathStyle, "expected 'true' or 'false' (or unset)");
  }

  return { manifestBucket, manifestPrefix, applyJobName, deletePolicy, s3ForcePathStyle: pathStyle === "true" };
}
