/**
 * How the change-trigger handler runs on this machine: the bucket and job it is configured with, and
 * the environment that points SDK v3 at the local S3 (s3rver) and the local Glue endpoint.
 */
import * as path from "node:path";
import type { LocalGlue } from "./local-glue";
import { S3RVER_CREDENTIALS, type LocalS3 } from "./local-s3";

export const MANIFEST_BUCKET = "manifests";
export const APPLY_JOB_NAME = "apply-changes";
export const HANDLER_SOURCE = path.resolve(__dirname, "..", "functions", "change-trigger", "handler.ts");

export interface HandlerConfig {
  MANIFEST_BUCKET?: string;
  MANIFEST_PREFIX?: string;
  APPLY_JOB_NAME?: string;
  DELETE_POLICY?: string;
}
export const DEFAULT_CONFIG: Required<HandlerConfig> = {
  MANIFEST_BUCKET,
  MANIFEST_PREFIX: "changes/",
  APPLY_JOB_NAME,
  DELETE_POLICY: "retain",
};

/** The environment that points SDK v3 at the local servers. */
export function sdkEnv(s3: LocalS3, glue: LocalGlue): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_GLUE: glue.endpoint,
    AWS_S3_FORCE_PATH_STYLE: "true",
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: "us-east-1",
    AWS_MAX_ATTEMPTS: "2",
    AWS_EC2_METADATA_DISABLED: "true",
  };
}
