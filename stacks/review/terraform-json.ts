/** What the review summary and its diagram read of a synthesized cdk.tf.json. */

export type Block = Record<string, any>;

/** The parts of a synthesized cdk.tf.json the review reads. */
export interface TerraformJson {
  readonly resource?: Record<string, Record<string, Block>>;
  readonly data?: Record<string, Record<string, Block>>;
}

/** One statement of an aws_iam_policy_document data source. */
export interface Statement {
  sid?: string;
  effect?: string;
  actions?: string[];
  resources?: string[];
  principals?: { type: string; identifiers: string[] }[];
  condition?: { test: string; variable: string; values: string[] }[];
}

/** A role named by reference, e.g. `${aws_iam_role.x.id}` in a role policy or `.arn` in a function or job. */
export const ROLE_REF = /^\$\{aws_iam_role\.([^.]+)\.(?:id|name|arn)\}$/;
const DOCUMENT_REF = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/;

/** The statements of the policy document a `policy` argument refers to; none when it names no document. */
export function policyStatements(tf: TerraformJson): (policy: unknown) => Statement[] {
  const documents = tf.data?.aws_iam_policy_document ?? {};
  return (policy) => {
    const match = typeof policy === "string" ? DOCUMENT_REF.exec(policy) : null;
    return match ? ((documents[match[1]]?.statement as Statement[]) ?? []) : [];
  };
}
