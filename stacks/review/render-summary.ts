import { createHash } from "node:crypto";
import { renderMermaid } from "./render-diagram";
import { type Block, policyStatements, ROLE_REF, type Statement, type TerraformJson } from "./terraform-json";

/**
 * A short Markdown review of one synthesized stack: resources by type, every IAM grant as
 * role -> action -> resource, what is reachable from outside the account, and the asset hashes.
 * Deterministic: everything is sorted.
 */
export function renderReviewSummary(stackName: string, tf: TerraformJson, readAsset: (relativePath: string) => Buffer): string {
  const resources = tf.resource ?? {};
  const statementsOf = policyStatements(tf);
  const lines = [
    `# Review summary: ${stackName}`,
    "",
    "Written by `cdktf synth` beside `cdk.tf.json`; it restates what that file declares.",
    "",
    "## Diagram",
    "",
    "Drawn from the same JSON: the data path, and each IAM grant as an edge labelled with its actions (grants on logs, metrics or `*` are in the table below).",
    "",
    "```mermaid",
    ...renderMermaid(tf).trimEnd().split("\n"),
    "```",
    "",
    "## Resources",
    "",
    "| Type | Count |",
    "|---|---|",
    ...Object.keys(resources)
      .sort()
      .map((type) => `| \`${type}\` | ${Object.keys(resources[type]).length} |`),
    "",
    "## Glue jobs",
    "",
    "| Job | Command | Capacity | Timeout (min) | Retries | Security configuration | Schedule |",
    "|---|---|---|---|---|---|---|",
    ...glueJobRows(resources),
    "",
    "## IAM grants",
    "",
    "| Role | Actions | Resource | Condition |",
    "|---|---|---|---|",
  ];
  const roles = resources.aws_iam_role ?? {};
  const grants: string[] = [];
  for (const [, policy] of Object.entries(resources.aws_iam_role_policy ?? {})) {
    const roleRef = ROLE_REF.exec(String(policy.role));
    const role = roleRef ? String(roles[roleRef[1]]?.name ?? roleRef[1]) : String(policy.role);
    for (const statement of statementsOf(policy.policy)) {
      const condition = (statement.condition ?? []).map((c) => `${c.variable} ${c.test} ${c.values.join(", ")}`).join("; ");
      const actions = [...(statement.actions ?? [])].sort().map((a) => `\`${a}\``).join(", ");
      for (const resource of statement.resources ?? []) {
        grants.push(`| ${role} | ${actions} | \`${resource}\` | ${condition ? `\`${condition}\`` : ""} |`);
      }
    }
  }
  lines.push(...grants.sort(), "", "## Reachable from outside the account", "");
  const exposures = publicExposures(resources, statementsOf);
  lines.push(...(exposures.length ? exposures.sort().map((e) => `- ${e}`) : ["None: no resource policy allows `*`, and every S3 bucket blocks public access."]));
  lines.push("", "## Assets", "", "| File | SHA-256 |", "|---|---|");
  const assets = new Set<string>();
  for (const byName of Object.values(resources)) {
    for (const body of Object.values(byName)) {
      for (const value of Object.values(body)) {
        if (typeof value === "string" && value.startsWith("assets/")) assets.add(value);
      }
    }
  }
  for (const asset of [...assets].sort()) {
    lines.push(`| \`${asset}\` | \`${createHash("sha256").update(readAsset(asset)).digest("hex")}\` |`);
  }
  return `${lines.join("\n")}\n`;
}

function glueJobRows(resources: Record<string, Record<string, Block>>): string[] {
  const triggers = Object.values(resources.aws_glue_trigger ?? {});
  return Object.entries(resources.aws_glue_job ?? {})
    .map(([name, job]) => {
      const ref = `\${aws_glue_job.${name}.name}`;
      const schedule = triggers.find((t) => (t.actions ?? []).some((a: Block) => a.job_name === ref))?.schedule ?? "on demand";
      const capacity = job.worker_type ? `${job.number_of_workers} × ${job.worker_type}` : `${job.max_capacity} DPU`;
      const security = String(job.security_configuration ?? "none").replace(/^\$\{aws_glue_security_configuration\.([^.]+)\.name\}$/, "$1");
      return `| ${job.name} | ${job.command?.name} | ${capacity} | ${job.timeout} | ${job.max_retries} | \`${security}\` | \`${schedule}\` |`;
    })
    .sort();
}

function publicExposures(resources: Record<string, Record<string, Block>>, statementsOf: (policy: unknown) => Statement[]): string[] {
  const found: string[] = [];
  const blocks = Object.values(resources.aws_s3_bucket_public_access_block ?? {});
  for (const name of Object.keys(resources.aws_s3_bucket ?? {})) {
    const block = blocks.find((b) => String(b.bucket).includes(`aws_s3_bucket.${name}.`));
    const complete = block && ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"].every((k) => block[k] === true);
    if (!complete) found.push(`S3 bucket \`${name}\` does not block all public access`);
  }
  const policyTypes = ["aws_s3_bucket_policy", "aws_sqs_queue_policy", "aws_sns_topic_policy", "aws_dynamodb_resource_policy"];
  // A backup table in another account is reachable from the source account's job roles, by design.
  for (const [name, body] of Object.entries(resources.aws_dynamodb_resource_policy ?? {})) {
    for (const statement of statementsOf(body.policy)) {
      const roles = statement.effect === "Deny" ? [] : (statement.condition ?? []).filter((c) => c.variable === "aws:PrincipalArn").flatMap((c) => c.values);
      if (roles.length) found.push(`\`aws_dynamodb_resource_policy.${name}\` (the backup table, in its own account) lets ${roles.map((r) => `\`${r}\``).join(", ")} call ${(statement.actions ?? []).join(", ")} (${statement.sid ?? "statement"})`);
    }
  }
  for (const type of policyTypes) {
    for (const [name, body] of Object.entries(resources[type] ?? {})) {
      for (const statement of statementsOf(body.policy)) {
        const anyone = statement.principals?.some((p) => p.identifiers.includes("*"));
        if (statement.effect !== "Deny" && anyone) found.push(`\`${type}.${name}\` allows any principal (${statement.sid ?? "statement"})`);
      }
    }
  }
  for (const [name, body] of Object.entries(resources.aws_lambda_permission ?? {})) {
    if (body.principal === "*") found.push(`\`aws_lambda_permission.${name}\` lets anyone invoke a function`);
  }
  for (const name of Object.keys(resources.aws_lambda_function_url ?? {})) found.push(`\`aws_lambda_function_url.${name}\` is a public URL`);
  return found;
}
