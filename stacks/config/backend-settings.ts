/** Where Terraform keeps an environment's state. */
import { z } from "zod";
import { regionName, required } from "./fields";

const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const backendSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("local"),
      /** State file, relative to the stack folder; default: terraform.<environment>.tfstate in the project root. */
      path: z.string().regex(/^[^/]/, { error: "must be a relative path (the output must not name absolute paths)" }).optional(),
    }),
    z.strictObject({
      type: z.literal("s3"),
      bucket: z.string(required("the name of the S3 bucket that holds the state")).regex(S3_BUCKET, { error: "must be an S3 bucket name" }),
      /** Default: <environment>/terraform.tfstate. */
      key: z.string().min(1).optional(),
      /** Region of the state bucket; default: the environment's region. */
      region: regionName.optional(),
      /** KMS key for the state object; default SSE-S3. The state is always encrypted. */
      kmsKeyId: z.string().min(1).optional(),
    }),
    z
      .strictObject({
        type: z.literal("cloud"),
        organization: z.string(required("the Terraform Cloud / HCP Terraform organization")).min(1),
        /** One workspace by name ... */
        workspace: z.string().min(1).optional(),
        /** ... or the workspaces carrying these tags. */
        workspaceTags: z.array(z.string().min(1)).min(1).optional(),
        /** Terraform Enterprise host; default app.terraform.io. */
        hostname: z.string().regex(/^[a-z0-9.-]+$/, { error: "must be a host name such as app.terraform.io" }).optional(),
      })
      .refine((cloud) => (cloud.workspace === undefined) !== (cloud.workspaceTags === undefined), {
        error: "needs exactly one of workspace or workspaceTags",
      }),
  ],
  { error: 'must be "local", "s3" or "cloud"' },
);

export const backendSettings = {
  /** Where Terraform keeps this environment's state. */
  backend: backendSchema.default({ type: "local" })
    .meta({ description: "see [Environments and backends](deployment.md#environments-and-backends)" }),
};
