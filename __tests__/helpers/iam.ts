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
