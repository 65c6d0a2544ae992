/** The account side of an environment: where it is, what it names, which provider and accounts. */
import { z } from "zod";
import { regionName } from "./fields";
import { providerRequirements, unmetRequirement } from "./provider-requirements";

// Terraform's operators, at most one space after each (Terraform rejects more), comma-separated.
const PROVIDER_CONSTRAINT = /^\s*((>=|<=|!=|~>|=|>|<) ?)?\d+(\.\d+){0,2}(-[\w.]+)?(\s*,\s*((>=|<=|!=|~>|=|>|<) ?)?\d+(\.\d+){0,2}(-[\w.]+)?)*\s*$/;
// Lowercase because the prefix also names the S3 bucket; short enough for every derived name
// (IAM role names and S3 bucket_prefix are the tightest limits).
const NAME_PREFIX = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

export const accountSettings = {
  /** AWS region of every resource. */
  region: regionName.default("us-east-1")
    .meta({ description: "an AWS region name" }),
  /** Prefix of every name this stack gives (function, jobs, roles, queue, bucket prefix). */
  namePrefix: z
    .string()
    .regex(NAME_PREFIX, { error: "must be 3 to 32 characters of a-z, 0-9 and '-', starting with a letter" })
    .default("api-pagos-replication")
    .meta({ description: "3–32 of `a-z 0-9 -`, starting with a letter; prefixes every name the stack gives" }),
  /** Tags added to every resource (merged over the default tags application/environment/managed-by). */
  tags: z.record(z.string(), z.string()).default({})
    .meta({ description: "string map, merged over `application`, `environment`, `managed-by`" }),
  /**
   * AWS provider version constraint written to required_providers. Its lowest allowed version must
   * be one this configuration can plan with (see provider-requirements.ts), or synth fails.
   */
  providerVersion: z
    .string()
    .regex(PROVIDER_CONSTRAINT, { error: 'must be a Terraform version constraint such as "6.25.0", "~> 6.25" or ">= 6.25, < 7.0"' })
    .default("6.25.0")
    .meta({ description: "a Terraform version constraint for `hashicorp/aws`, e.g. `~> 6.25`; its lowest allowed version must be at least 5.100.0 (the oldest the tests run the Terraform with) and 6.20.0 with `lambda.runtime` `nodejs24.x`" }),
  /** Accounts the provider may act in (allowed_account_ids): a guard against applying to the wrong account. */
  allowedAccountIds: z
    .array(z.string().regex(/^\d{12}$/, { error: "must be a 12-digit AWS account ID" }))
    .min(1, { error: "must name at least one account (leave it out to allow any)" })
    .optional()
    .meta({ description: "12-digit account IDs the provider may act in" }),
};

/** The provider version constraint must allow only versions that can plan this configuration. */
export function checkProviderVersion(env: { providerVersion: string; lambda: { runtime: string } }, ctx: z.RefinementCtx): void {
  const unmet = unmetRequirement(env.providerVersion, providerRequirements(env));
  if (unmet) {
    ctx.addIssue({
      code: "custom",
      path: ["providerVersion"],
      input: env.providerVersion,
      message: `allows hashicorp/aws ${unmet.allows}, older than ${unmet.need.version}, ${unmet.need.because}`,
    });
  }
}
