/**
 * Which hashicorp/aws versions can plan a configuration, so that a `providerVersion` constraint
 * allowing an older one fails at synth instead of at `terraform validate`.
 */

/** A provider version as [major, minor, patch]. */
type Version = readonly [number, number, number];

export interface ProviderRequirement {
  readonly version: string;
  /** Why: what of the configuration needs this version. */
  readonly because: string;
}

/**
 * The oldest provider the Terraform tests have run the synthesized Terraform with (validate, plan,
 * apply, second plan, destroy, on the machine this project is built on, whose provider mirror holds
 * 5.100.0): nothing older is known to accept every argument the stack writes.
 */
export const OLDEST_PROVEN_PROVIDER = "5.100.0";

/**
 * Settings that need a newer provider than OLDEST_PROVEN_PROVIDER. nodejs24.x: the provider's
 * CHANGELOG lists it under 6.20.0 (hashicorp/terraform-provider-aws#45024); 5.100.0 rejects it at validate.
 */
const RUNTIME_PROVIDERS: Readonly<Record<string, string>> = { "nodejs24.x": "6.20.0" };

/** What the configuration needs of the provider: the newest requirement decides. */
export function providerRequirements(env: { lambda: { runtime: string } }): ProviderRequirement[] {
  const needs: ProviderRequirement[] = [{ version: OLDEST_PROVEN_PROVIDER, because: "the oldest version this project's Terraform is validated, planned and applied with" }];
  const runtime = RUNTIME_PROVIDERS[env.lambda.runtime];
  if (runtime) needs.push({ version: runtime, because: `the first that accepts lambda.runtime ${JSON.stringify(env.lambda.runtime)}` });
  return needs;
}

/**
 * The requirement a constraint fails, with the lowest version it allows; undefined when every
 * version it allows meets them all.
 */
export function unmetRequirement(constraint: string, needs: readonly ProviderRequirement[]): { allows: string; need: ProviderRequirement } | undefined {
  const lowest = lowestAllowed(constraint);
  // Not a constraint at all: the schema's own check says so.
  if (!lowest) return undefined;
  // A pre-release comes before its release: 6.20.0-beta1 does not meet 6.20.0.
  const below = (need: ProviderRequirement) => compare(lowest.version, parse(need.version)) < (lowest.prerelease ? 1 : 0);
  const unmet = needs.filter(below);
  if (unmet.length === 0) return undefined;
  const need = unmet.reduce((a, b) => (compare(parse(a.version), parse(b.version)) >= 0 ? a : b));
  const version = `${lowest.version.join(".")}${lowest.prerelease ?? ""}`;
  return { allows: lowest.above ? `versions just above ${version}` : version, need };
}

/**
 * The lowest version a Terraform version constraint allows (the schema admits Terraform's syntax
 * only: `=`, `!=`, `>`, `>=`, `<`, `<=`, `~>`, comma-separated). Only `=`, `>`, `>=` and `~>` bound it
 * from below; a constraint without any allows 0.0.0. Terraform selects a pre-release only through
 * `=`, so `>= 6.20.0-beta1` allows 6.20.0 at the lowest. `> X` is judged as X: it meets a
 * requirement only when X does.
 */
function lowestAllowed(constraint: string): { version: Version; prerelease?: string; above: boolean } | undefined {
  let lowest: { version: Version; prerelease?: string; above: boolean } = { version: [0, 0, 0], above: false };
  for (const part of constraint.split(",")) {
    const match = /^\s*(>=|<=|!=|~>|=|>|<)? ?(\d+(?:\.\d+){0,2})(-[\w.]+)?\s*$/.exec(part);
    if (!match) return undefined;
    const [, operator = "=", text, prerelease] = match;
    if (!["=", ">=", ">", "~>"].includes(operator)) continue;
    const bound = { version: parse(text), prerelease: operator === "=" ? prerelease : undefined, above: operator === ">" };
    const order = compare(bound.version, lowest.version);
    // On equal versions the release is the higher bound.
    if (order > 0 || (order === 0 && lowest.prerelease !== undefined && bound.prerelease === undefined)) lowest = bound;
  }
  return lowest;
}

function parse(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.split(".").map(Number);
  return [major, minor, patch];
}

/** Orders release versions such as "5.100.0" and "6.25.0". */
export function compareVersions(a: string, b: string): number {
  return compare(parse(a), parse(b));
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
