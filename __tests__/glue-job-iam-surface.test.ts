/**
 * Each Glue job's role grants exactly what its code called: the AWS calls the Python suite recorded
 * (support.record_iam_surface; the suite is run by __tests__/python/python-suite.ts, beside jest in
 * `npm test`) against the synthesized policies. Run alone, this file runs the suite itself when no
 * run of the current Python code is recorded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { isKnownIamAction, permissionsOf, policyDocuments, resourcePolicyDecision } from "./helpers/iam";
import { REFERENCE_DIR } from "./helpers/reference";
import { synthesizeEnvironment } from "./helpers/synth";
import { awaitRecordedRun, RESULTS_DIR, runPythonSuite, SUITE_WAIT_MS, type PythonSuiteSummary } from "./python/python-suite";
import type { EnvironmentInput } from "../stacks/config/schema";

let suite: PythonSuiteSummary;

beforeAll(async () => {
  suite = (await awaitRecordedRun()) ?? (await runPythonSuite());
  for (const note of suite.notes) console.log(note);
}, SUITE_WAIT_MS);

test("the Python suite passed and recorded its calls (unittest's report: npm test prints it; .test-results/python/)", () => {
  expect({ exitCode: suite.exitCode, failures: suite.failures, errors: suite.errors }).toEqual({ exitCode: 0, failures: 0, errors: 0 });
  expect(suite.ran).toBeGreaterThan(0);
  // The paged listings went through the proxy: the DES patch is what keeps them working.
  expect(suite.pagedListings).toBe(true);
});

/**
 * The IAM actions of each SDK method the jobs call, as iann0036/iam-dataset maps them (aws/map.json, the map
 * iamlive uses; the subset in __tests__/reference/iam-sdk-mappings.json, origin in SOURCES.md there). The
 * dataset lists every action a method may need, whatever its parameters; `requirement` keeps those a
 * recorded call needs, by what the AWS documentation says, cited at each rule.
 */
interface DatasetAction {
  action: string;
  conditions?: { lhs: string; op: string; rhs?: string };
}
const SDK_METHODS = (JSON.parse(fs.readFileSync(path.join(REFERENCE_DIR, "iam-sdk-mappings.json"), "utf8")) as {
  sdk_method_iam_mappings: Record<string, DatasetAction[]>;
}).sdk_method_iam_mappings;

/** The SDK service of each boto3 client operation the jobs call (backup_replication/aws_clients.py builds the clients). */
const SDK_SERVICE: Record<string, string> = {
  batch_get_item: "DynamoDB", batch_write_item: "DynamoDB", create_table: "DynamoDB", delete_table: "DynamoDB", describe_table: "DynamoDB",
  get_item: "DynamoDB", put_item: "DynamoDB", scan: "DynamoDB", update_item: "DynamoDB",
  copy_object: "S3", delete_object: "S3", get_object: "S3", list_objects_v2: "S3", put_object: "S3",
  put_metric_data: "CloudWatch", get_queue_attributes: "SQS", get_queue_url: "SQS",
};

/**
 * A recorded operation (support.iam_operation): the boto3 name, then the request parameters that change its
 * authorization in brackets, e.g. copy_object[CopySource.VersionId]; as the SDK method the dataset keys on.
 */
function parseOperation(recorded: string): { method: string; params: Set<string> } {
  const match = /^([a-z0-9_]+)(?:\[([A-Za-z.,]+)\])?$/.exec(recorded);
  if (!match || !SDK_SERVICE[match[1]]) throw new Error(`unknown recorded operation ${recorded}`);
  const pascal = match[1].split("_").map((word) => word[0].toUpperCase() + word.slice(1)).join("");
  return { method: `${SDK_SERVICE[match[1]]}.${pascal}`, params: new Set(match[2] ? match[2].split(",") : []) };
}

/**
 * Whether a call of `method` carrying `params` needs the dataset's `action`, and on what: the resource the call
 * names ("resource"), the bucket, or the object a copy reads ("copy-source"); null when it does not.
 */
function requirement(method: string, action: string, params: Set<string>): "resource" | "bucket" | "copy-source" | null {
  switch (`${method} ${action}`) {
    // Amazon S3 API Reference, GetObject, "Permissions" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html):
    // "If you include a versionId in your request header, you must have the s3:GetObjectVersion permission to
    // access a specific version of an object. The s3:GetObject permission is not required in this scenario. If
    // you request the current version of an object without a specific versionId in the request header, only
    // the s3:GetObject permission is required." (The dataset lists both, unconditionally.)
    case "S3.GetObject s3:GetObject":
      return params.has("VersionId") ? null : "resource";
    case "S3.GetObject s3:GetObjectVersion":
      return params.has("VersionId") ? "resource" : null;
    // Amazon S3 API Reference, DeleteObject, "Permissions" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html):
    // "s3:DeleteObject - To delete an object from a bucket, you must always have the s3:DeleteObject permission.
    // s3:DeleteObjectVersion - To delete a specific version of an object from a versioning-enabled bucket, you
    // must have the s3:DeleteObjectVersion permission."
    case "S3.DeleteObject s3:DeleteObject":
      return "resource";
    case "S3.DeleteObject s3:DeleteObjectVersion":
      return params.has("VersionId") ? "resource" : null;
    // CopyObject: the dataset writes every action against the destination (${Bucket}/${Key}); the reads are of
    // the source. Amazon S3 API Reference, CopyObject, "Permissions" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html):
    // "you must have s3:GetObject permission to read the source object that is being copied. [...] you must have
    // s3:PutObject permission to write the object copy to the destination bucket."
    case "S3.CopyObject s3:GetObject":
      return "copy-source";
    case "S3.CopyObject s3:PutObject":
      return "resource";
    // A copy of a specific version reads that version. Service Authorization Reference, "Actions, resources, and
    // condition keys for Amazon S3" (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
    // GetObjectVersion "Grants permission to retrieve a specific version of an object"; and the GetObject rule above.
    case "S3.CopyObject s3:GetObjectVersion":
      return params.has("CopySource.VersionId") ? "copy-source" : null;
    // ListBucket only decides whether a missing object reads as 404 or 403 (API_GetObject.html, "Permissions").
    case "S3.CopyObject s3:ListBucket":
      return null;
    // Tags are read and written only when the source has some: "If you're copying objects that have object tags,
    // then your IAM identity must have s3:GetObjectTagging and s3:PutObjectTagging permissions" (AWS Knowledge
    // Center, "Why can't I copy an object between two Amazon S3 buckets?",
    // https://aws.amazon.com/premiumsupport/knowledge-center/s3-troubleshoot-copy-between-buckets/). Nothing in
    // the pipeline tags an object (no Tagging parameter anywhere).
    case "S3.CopyObject s3:GetObjectTagging":
    case "S3.CopyObject s3:PutObjectTagging":
      return null;
    // Only a request that sets an ACL (API_CopyObject.html, x-amz-acl); the bucket enforces its owner, ACLs disabled.
    case "S3.CopyObject s3:PutObjectAcl":
      return null;
    case "S3.ListObjectsV2 s3:ListBucket":
      return "bucket";
  }
  // Every other method the jobs call maps to exactly one action, unconditionally, on the resource it names.
  const listed = SDK_METHODS[method];
  if (listed.length === 1 && !listed[0].conditions) return "resource";
  throw new Error(`no rule decides whether ${method} needs ${action}`);
}

/**
 * SSE-KMS: "If the object is encrypted with SSE-KMS, you must also have the kms:GenerateDataKey and kms:Decrypt
 * permissions in IAM identity-based policies and KMS key policies for the KMS key" (Amazon S3 API Reference,
 * "Permissions" of CopyObject, GetObject and PutObject: API_CopyObject.html, API_GetObject.html,
 * API_PutObject.html). DeleteObject and ListObjectsV2 read no object data. The dataset has no KMS actions.
 */
const S3_KMS_ACTIONS: Record<string, string[]> = {
  "S3.CopyObject": ["kms:Decrypt", "kms:GenerateDataKey"],
  "S3.GetObject": ["kms:Decrypt", "kms:GenerateDataKey"],
  "S3.PutObject": ["kms:Decrypt", "kms:GenerateDataKey"],
};

test("the reference map covers every operation the jobs call, with actions AWS defines", () => {
  const methods = Object.keys(SDK_SERVICE).map((operation) => parseOperation(operation).method);
  expect(methods.filter((method) => !SDK_METHODS[method]?.length)).toEqual([]);
  const actions = methods.flatMap((method) => SDK_METHODS[method].map(({ action }) => action));
  expect(actions.filter((action) => !isKnownIamAction(action))).toEqual([]);
  // The nuance the dataset lacks (it lists GetObjectVersion and DeleteObjectVersion unconditionally):
  expect(requirement("S3.GetObject", "s3:GetObjectVersion", new Set())).toBeNull();
  expect(requirement("S3.CopyObject", "s3:GetObjectVersion", new Set(["CopySource.VersionId"]))).toBe("copy-source");
  expect(requirement("S3.DeleteObject", "s3:DeleteObjectVersion", new Set(["VersionId"]))).toBe("resource");
});

/** The recorded surfaces of a role's code: one file, or, for restore with the source allowed, its three. */
const SURFACES: Record<string, string[]> = { "restore-into-source": ["restore", "restore-into-source", "restore-into-source-queue"] };
const surfaceCalls = (surface: string) =>
  (SURFACES[surface] ?? [surface]).flatMap((name) => JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, `${name}.json`), "utf8")) as [string, string][]);
const ON_SPARK: EnvironmentInput = { applyChangesJob: { type: "glueetl" } };
const ENVIRONMENT_OF: Record<string, EnvironmentInput> = {
  "restore-into-source": { restore: { allowedTargets: ["api-pagos"] } },
  "apply-changes-spark-retain": ON_SPARK,
  "apply-changes-spark-mirror": ON_SPARK,
};

describe.each([
  ["apply-changes", "apply-changes-retain", "retain"],
  ["apply-changes", "apply-changes-mirror", "mirror"],
  ["apply-changes", "apply-changes-spark-retain", "retain"],
  ["apply-changes", "apply-changes-spark-mirror", "mirror"],
  ["full-copy", "full-copy-retain", "retain"],
  ["full-copy", "full-copy-mirror", "mirror"],
  ["verify", "verify-retain", "retain"],
  ["verify", "verify-mirror", "mirror"],
  ["restore", "restore", "retain"],
  ["restore", "restore-into-source", "retain"],
  ["restore-drill", "restore-drill", "retain"],
  ["restore-drill", "restore-drill", "mirror"],
] as const)("the %s role grants exactly what its code called (%s)", (job, surface, deletes) => {
  test("every call is granted on its resource, and every data grant is called", () => {
    const calls = surfaceCalls(surface);
    const stack = synthesizeEnvironment({ deletes, ...ENVIRONMENT_OF[surface] });
    const bucket = `\${aws_s3_bucket.${stack.one("aws_s3_bucket").name}.arn}`;
    const arnOf: Record<string, string> = {
      source: `\${aws_dynamodb_table.${stack.find("aws_dynamodb_table", "tables/source").name}.arn}`,
      backup: `\${aws_dynamodb_table.${stack.find("aws_dynamodb_table", "tables/backup").name}.arn}`,
      manifests: `${bucket}/changes/*`,
      rejected: `${bucket}/rejected/*`,
      quarantine: `${bucket}/quarantine/*`,
      "verify-reports": `${bucket}/verify/*`,
      "restore-reports": `${bucket}/restore/*`,
      "restore-target": "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:${data.aws_caller_identity.account.account_id}:table/api-pos-backup-restore-*",
      "restore-drill-reports": `${bucket}/restore-drill/*`,
      "restore-drill-table": "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:${data.aws_caller_identity.account.account_id}:table/api-pos-backup-restore-drill-*",
      "dead-letters": "arn:${data.aws_partition.partition.partition}:sqs:us-east-1:${data.aws_caller_identity.account.account_id}:api-pagos-replication-change-trigger-dlq",
    };
    const needed = new Set<string>();
    for (const [operation, role] of calls) {
      const { method, params } = parseOperation(operation);
      expect([operation, SDK_METHODS[method] !== undefined]).toEqual([operation, true]);
      for (const { action } of SDK_METHODS[method]) {
        const on = requirement(method, action, params);
        if (on === null) continue;
        // ListBucket is granted on the bucket (no prefix condition: a consumed manifest must read as 404).
        // The jobs copy only a manifest (rejecting it: backup_replication/manifest_store.py, ManifestStore.reject).
        const resource = on === "bucket" ? bucket : arnOf[on === "copy-source" ? "manifests" : role];
        needed.add(`${action} ${resource}`);
      }
    }
    const granted = new Set<string>();
    for (const statement of permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name)) {
      for (const action of statement.actions ?? []) {
        for (const resource of statement.resources ?? []) {
          const data = /^(dynamodb|s3|glue|sqs):/.test(action) && !resource.endsWith("/glue/*"); // scripts are read by Glue itself
          if (data) granted.add(`${action} ${resource}`);
        }
      }
    }
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  test("with the customer-managed key, the key policy lets the role use it for the S3 objects it reads and writes", () => {
    const calls = surfaceCalls(surface);
    const needed = new Set(calls.flatMap(([operation]) => S3_KMS_ACTIONS[parseOperation(operation).method] ?? []));
    const stack = synthesizeEnvironment({ deletes, encryption: { customerManagedKey: true } });
    const role = `\${aws_iam_role.${stack.find("aws_iam_role", `jobs/${job}/role/role`).name}.arn}`;
    const keyPolicy = /aws_iam_policy_document\.([^.]+)\.json/.exec(stack.one("aws_kms_key").body.policy as string)![1];
    const allowed = new Set(
      policyDocuments(stack.json)[keyPolicy]
        .filter((s) => (s.effect ?? "Allow") === "Allow" && s.principals?.some((p) => p.type === "AWS" && p.identifiers.includes(role)))
        .filter((s) => (s.condition ?? []).every((c) => c.variable !== "kms:ViaService" || c.values.some((v) => v.startsWith("s3."))))
        .flatMap((s) => s.actions ?? []),
    );
    expect([...needed].filter((action) => !allowed.has(action))).toEqual([]);
  });

  test("across accounts, the backup table's own policy allows exactly what the code called on the backup, and none of its denies stops it", () => {
    const stack = synthesizeEnvironment({ deletes, ...ENVIRONMENT_OF[surface], backupTable: { assumeRoleArn: "arn:aws:iam::200000000010:role/backup-deployer", region: "eu-west-1" } });
    const backupArn = `\${aws_dynamodb_table.${stack.find("aws_dynamodb_table", "tables/backup").name}.arn}`;
    const role = `\${aws_iam_role.${stack.find("aws_iam_role", `jobs/${job}/role/role`).name}.arn}`;
    const needed = new Set(
      surfaceCalls(surface)
        .filter(([, on]) => on === "backup")
        .flatMap(([operation]) => SDK_METHODS[parseOperation(operation).method].filter(({ action }) => requirement(parseOperation(operation).method, action, parseOperation(operation).params) === "resource").map(({ action }) => action)),
    );
    const policy = stack.one("aws_dynamodb_resource_policy").body.policy as string;
    const statements = policyDocuments(stack.json)[/aws_iam_policy_document\.([^.]+)\.json/.exec(policy)![1]];
    const ask = (action: string) => resourcePolicyDecision(statements, { principalArn: role, principalAccount: "${data.aws_caller_identity.account.account_id}", action, resource: backupArn });
    expect([...needed].map((action) => [action, ask(action)])).toEqual([...needed].map((action) => [action, "Allow"]));
    const mentioned = [...new Set(statements.flatMap((s) => s.actions ?? []))];
    expect(mentioned.filter((action) => ask(action) === "Allow").sort()).toEqual([...needed].sort());
  });

  test("the role may publish metrics: the reference's action for PutMetricData, on * (it has no resource types)", () => {
    const stack = synthesizeEnvironment({ deletes });
    const [{ action }] = SDK_METHODS["CloudWatch.PutMetricData"];
    const statements = permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name);
    expect(statements.some((s) => s.actions?.includes(action) && s.resources?.includes("*"))).toBe(true);
  });
});
