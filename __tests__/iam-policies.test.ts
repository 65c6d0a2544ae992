import { BUCKET_LAYOUT } from "../contracts";
import { isKnownIamAction, permissionsOf, policyDocuments, type PolicyStatement } from "./helpers/iam";
import { synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

/** Wildcard actions the output may contain, each with the reason it must be a wildcard. */
const WILDCARD_ACTIONS: Record<string, string> = {
  "s3:*": "the TLS-only bucket policy denies every S3 action over plain HTTP; a Deny must cover all of them",
};
/** Actions that may have "*" as their resource in an identity policy, with the reason. */
const STAR_RESOURCE_ACTIONS: Record<string, string> = {
  "dynamodb:ListStreams": "has no resource-level permissions (Service Authorization Reference)",
  "cloudwatch:PutMetricData": "has no resource-level permissions; the cloudwatch:namespace condition limits it to Glue's namespace and the stack's",
};
/** Services outside the reference list of IAM actions, whose action names are checked by hand. */
const UNLISTED_ACTIONS = new Set(["sts:AssumeRole", "sns:Publish"]);
/** Resources with a `policy` argument: each must come from an aws_iam_policy_document. */
const POLICY_HOLDERS = ["aws_iam_role_policy", "aws_s3_bucket_policy", "aws_sns_topic_policy", "aws_kms_key", "aws_sqs_queue_policy"];

function keyPolicyDocuments(stack: SynthesizedStack): Set<string> {
  return new Set(Object.values(stack.all("aws_kms_key")).map((key) => /aws_iam_policy_document\.([^.]+)\.json/.exec(key.policy)![1]));
}

describe.each([
  ["default configuration", {}],
  ["customer-managed key, mirrored deletes, alarm e-mail", { encryption: { customerManagedKey: true }, deletes: "mirror" as const, alarms: { email: "oncall@example.com" } }],
  ["AWS Backup vault, customer-managed key", { encryption: { customerManagedKey: true }, backupTable: { vault: {} } }],
])("every IAM policy document (%s)", (_label, input) => {
  let stack: SynthesizedStack;
  let documents: Record<string, PolicyStatement[]>;
  beforeAll(() => {
    stack = synthesizeEnvironment(input);
    documents = policyDocuments(stack.json);
  });

  test("every policy in the output is a parsed policy document", () => {
    for (const type of POLICY_HOLDERS) {
      for (const [name, body] of Object.entries(stack.all(type))) {
        expect({ resource: `${type}.${name}`, policy: body.policy }).toEqual({ resource: `${type}.${name}`, policy: expect.stringMatching(/^\$\{data\.aws_iam_policy_document\.[^.]+\.json\}$/) });
      }
    }
    for (const [name, role] of Object.entries(stack.all("aws_iam_role"))) {
      expect({ role: name, trust: role.assume_role_policy }).toEqual({ role: name, trust: expect.stringMatching(/^\$\{data\.aws_iam_policy_document\.[^.]+\.json\}$/) });
      expect(role.managed_policy_arns).toBeUndefined();
    }
    expect(stack.all("aws_iam_role_policy_attachment")).toEqual({});
  });

  test("every trust policy admits its service only on behalf of this account (aws:SourceAccount)", () => {
    const roles = Object.values(stack.all("aws_iam_role"));
    // The function and the five jobs, and AWS Backup's two for the vault.
    expect(roles).toHaveLength("backupTable" in input ? 8 : 6);
    for (const role of roles) {
      const trust = documents[/aws_iam_policy_document\.([^.]+)\.json/.exec(role.assume_role_policy)![1]];
      expect(trust).toEqual([
        {
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: [expect.stringMatching(/^(lambda|glue|backup)\.amazonaws\.com$/)] }],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: ["${data.aws_caller_identity.account.account_id}"] }],
        },
      ]);
    }
  });

  test("no wildcard action, except the ones with a reason", () => {
    for (const [doc, statements] of Object.entries(documents)) {
      for (const statement of statements) {
        expect(statement.not_actions ?? statement.notActions).toBeUndefined();
        for (const action of statement.actions ?? []) {
          if (!action.includes("*")) continue;
          expect({ doc, action, reason: WILDCARD_ACTIONS[action], effect: statement.effect }).toEqual({ doc, action, reason: expect.any(String), effect: "Deny" });
        }
      }
    }
  });

  test('"*" as a resource only where the action has no resource-level permissions, or in a key policy (where it means the key)', () => {
    const keyPolicies = keyPolicyDocuments(stack);
    expect(keyPolicies.size).toBe(1);
    for (const [doc, statements] of Object.entries(documents)) {
      if (keyPolicies.has(doc)) continue;
      for (const statement of statements) {
        if (!(statement.resources ?? []).includes("*")) continue;
        for (const action of statement.actions ?? []) {
          expect({ doc, action, reason: STAR_RESOURCE_ACTIONS[action] }).toEqual({ doc, action, reason: expect.any(String) });
        }
      }
    }
  });

  test("every allowed action is a real IAM action", () => {
    for (const [doc, statements] of Object.entries(documents)) {
      for (const statement of statements.filter((s) => s.effect !== "Deny")) {
        for (const action of statement.actions ?? []) {
          expect({ doc, action, known: isKnownIamAction(action) || UNLISTED_ACTIONS.has(action) }).toEqual({ doc, action, known: true });
        }
      }
    }
  });

  test('no Allow to the principal "*": nothing is public', () => {
    for (const [doc, statements] of Object.entries(documents)) {
      for (const statement of statements.filter((s) => s.effect !== "Deny")) {
        for (const principal of statement.principals ?? []) {
          expect({ doc, principal: principal.identifiers.includes("*") }).toEqual({ doc, principal: false });
        }
      }
    }
  });

  test("each Glue job's role may read the script it runs and the wheel its library argument names, through the scripts prefix alone", () => {
    const bucket = stack.one("aws_s3_bucket").name;
    const bucketArn = `\${aws_s3_bucket.${bucket}.arn}`;
    for (const job of ["apply-changes", "full-copy", "verify", "restore", "restore-drill"]) {
      const body = stack.find("aws_glue_job", `${job}/job`).body;
      const library = (body.default_arguments["--extra-py-files"] ?? body.default_arguments["--additional-python-modules"]) as string;
      const objects = [body.command.script_location as string, library].map((url) => url.replace(`s3://\${aws_s3_bucket.${bucket}.bucket}/`, `${bucketArn}/`));
      expect({ job, objects }).toEqual({ job, objects: [expect.stringMatching(/\.py$/), expect.stringMatching(/^[^,]+\.whl$/)] });
      const readable = permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name)
        .filter((statement) => statement.effect !== "Deny" && statement.actions?.includes("s3:GetObject"))
        .flatMap((statement) => statement.resources ?? []);
      for (const object of objects) {
        const granting = readable.filter((resource) => resource === object || (resource.endsWith("*") && object.startsWith(resource.slice(0, -1))));
        expect({ job, object, granting }).toEqual({ job, object, granting: [`${bucketArn}/${BUCKET_LAYOUT.scripts}*`] });
      }
    }
  });

  test("KMS permissions go only to what uses the key: the pipeline's roles and the services that encrypt", () => {
    const [keyDoc] = keyPolicyDocuments(stack);
    const roleArns = Object.keys(stack.all("aws_iam_role")).map((name) => `\${aws_iam_role.${name}.arn}`);
    for (const statement of documents[keyDoc]) {
      for (const principal of statement.principals ?? []) {
        for (const identifier of principal.identifiers) {
          const allowed =
            roleArns.includes(identifier) ||
            /^arn:\$\{data\.aws_partition\.[^}]+\}:iam::\$\{data\.aws_caller_identity\.[^}]+\}:root$/.test(identifier) ||
            ["cloudwatch.amazonaws.com", "events.amazonaws.com", "logs.us-east-1.amazonaws.com"].includes(identifier);
          expect({ sid: statement.sid, identifier, allowed }).toEqual({ sid: statement.sid, identifier, allowed: true });
        }
      }
      // Every grant to the account root beyond administration is bound to this account's use through a service.
      if (statement.sid !== "AdministerKey" && statement.principals?.some((p) => p.identifiers.some((i) => i.endsWith(":root")))) {
        expect(statement.condition?.map((c) => c.variable)).toEqual(expect.arrayContaining(["kms:ViaService", "kms:CallerAccount"]));
      }
    }
    for (const [doc, statements] of Object.entries(documents)) {
      if (doc === keyDoc) continue;
      for (const statement of statements) expect((statement.actions ?? []).filter((a) => a.startsWith("kms:"))).toEqual([]);
    }
  });
});
