import * as fs from "node:fs";
import type { TfJson } from "./synth";
import { IAM_ACTIONS_FILE } from "./reference";

export interface PolicyStatement {
  sid?: string;
  effect?: string;
  actions?: string[];
  not_actions?: string[];
  notActions?: string[];
  resources?: string[];
  principals?: { type: string; identifiers: string[] }[];
  condition?: { test: string; variable: string; values: string[] }[];
}

/** Every aws_iam_policy_document of the synthesized stack, by logical name. */
export function policyDocuments(json: TfJson): Record<string, PolicyStatement[]> {
  const docs = json.data.aws_iam_policy_document ?? {};
  return Object.fromEntries(Object.entries(docs).map(([name, doc]) => [name, doc.statement as PolicyStatement[]]));
}

let known: Set<string> | undefined;

/** Whether `service:Action` is an IAM action AWS defines (reference list from the Service Authorization Reference). */
export function isKnownIamAction(action: string): boolean {
  if (!known) {
    const byService = JSON.parse(fs.readFileSync(IAM_ACTIONS_FILE, "utf8")) as Record<string, string[]>;
    known = new Set(Object.entries(byService).flatMap(([service, actions]) => actions.map((a) => `${service}:${a}`)));
  }
  return known.has(action);
}

/** `aws_iam_policy_document` data source name of a role's inline permissions, via its policy resource. */
export function permissionsOf(json: TfJson, rolePolicyName: string): PolicyStatement[] {
  const policy = json.resource.aws_iam_role_policy[rolePolicyName].policy as string;
  const match = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(policy);
  if (!match) throw new Error(`policy of ${rolePolicyName} is not a policy document reference: ${policy}`);
  return policyDocuments(json)[match[1]];
}

/** Who asks, for what, on what: the request context a resource policy is evaluated in. */
export interface PolicyRequest {
  readonly principalArn: string;
  readonly principalAccount: string;
  readonly action: string;
  readonly resource: string;
}

const glob = (pattern: string, value: string) => new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(value);

/** Whether one condition of a statement holds; a condition this evaluator does not know fails the test. */
function conditionHolds(condition: { test: string; variable: string; values: string[] }, request: PolicyRequest): boolean {
  const value = { "aws:PrincipalAccount": request.principalAccount, "aws:PrincipalArn": request.principalArn }[condition.variable];
  if (value === undefined) throw new Error(`no rule evaluates the condition key ${condition.variable}`);
  switch (condition.test) {
    case "StringEquals":
    case "ArnEquals":
      return condition.values.includes(value);
    case "ArnNotEquals":
    case "StringNotEquals":
      return !condition.values.includes(value);
  }
  throw new Error(`no rule evaluates the condition operator ${condition.test}`);
}

/**
 * A resource policy's answer to one request, by IAM's rules for one policy: an explicit deny wins, then an
 * allow; otherwise nothing (the request is not allowed by this policy). Principals are compared as written
 * (role ARNs, or "*"); the policy's tokens stand for themselves.
 */
export function resourcePolicyDecision(statements: PolicyStatement[], request: PolicyRequest): "Deny" | "Allow" | "None" {
  // An account's root stands for every principal of the account (narrowed by the statement's conditions).
  const named = (id: string) => id === "*" || id === request.principalArn || /^arn:[^:]+:iam::(.+):root$/.exec(id)?.[1] === request.principalAccount;
  const applies = (s: PolicyStatement) =>
    (s.principals ?? []).some((p) => p.type === "AWS" && p.identifiers.some(named)) &&
    (s.actions ?? []).some((action) => glob(action, request.action)) &&
    (s.resources ?? []).some((resource) => glob(resource, request.resource)) &&
    (s.condition ?? []).every((condition) => conditionHolds(condition, request));
  const matching = statements.filter(applies);
  if (matching.some((s) => s.effect === "Deny")) return "Deny";
  return matching.some((s) => (s.effect ?? "Allow") === "Allow") ? "Allow" : "None";
}
