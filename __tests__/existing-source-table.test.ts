import { validateTerraformJson } from "./helpers/provider-schema";
import { permissionsOf } from "./helpers/iam";
import { synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

/** Adopting a source table that already exists and is managed elsewhere: read it, never change it. */
describe("an existing source table", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({ sourceTable: { existing: true, partitionKey: { name: "pk", type: "S" }, sortKey: { name: "sk", type: "N" } } });
  });

  test("is read through a data source whose postconditions check the stream and the key at plan time", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
    expect(Object.values(stack.all("aws_dynamodb_table")).map((t) => t.name)).toEqual(["api-pos-backup"]);
    const [name, source] = Object.entries(stack.json.data.aws_dynamodb_table)[0];
    expect(name).toMatch(/source/);
    expect(source.name).toBe("api-pagos");
    expect(source.lifecycle.postcondition).toEqual([
      { condition: '${self.stream_enabled && self.stream_view_type == "NEW_AND_OLD_IMAGES"}', error_message: expect.stringContaining("NEW_AND_OLD_IMAGES") },
      {
        condition:
          '${self.hash_key == "pk" && (self.range_key == null ? "" : self.range_key) == "sk" && anytrue([for a in self.attribute : a.name == "pk" && a.type == "S"]) && anytrue([for a in self.attribute : a.name == "sk" && a.type == "N"])}',
        error_message: expect.stringContaining("pk (S), sk (N)"),
      },
    ]);
  });

  test("the stream mapping, the roles and the jobs refer to the data source", () => {
    const [name] = Object.keys(stack.json.data.aws_dynamodb_table);
    const ref = (attribute: string) => `\${data.aws_dynamodb_table.${name}.${attribute}}`;
    expect(stack.one("aws_lambda_event_source_mapping").body.event_source_arn).toBe(ref("stream_arn"));
    const trigger = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "change-trigger/role/policy").name);
    expect(trigger.find((s) => s.sid === "ReadSourceStream")!.resources).toEqual([ref("stream_arn")]);
    const apply = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "jobs/apply-changes/role/policy").name);
    expect(apply.find((s) => s.sid === "ReadSourceItems")!.resources).toEqual([ref("arn")]);
    expect(stack.find("aws_glue_job", "apply-changes/job").body.default_arguments["--source_table"]).toBe(ref("name"));
    expect(stack.json.output.source_table_stream_arn.value).toBe(ref("stream_arn"));
  });

  test("the backup keeps the configured key schema", () => {
    expect(stack.one("aws_dynamodb_table").body).toMatchObject({ hash_key: "pk", range_key: "sk", attribute: [{ name: "pk", type: "S" }, { name: "sk", type: "N" }] });
  });
});

describe("an existing source table under its owner's customer-managed key", () => {
  const keyArn = "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({ sourceTable: { existing: true, kmsKeyArn: keyArn } });
  });

  test("the function and both jobs may decrypt with that key, through DynamoDB only", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
    for (const role of ["change-trigger/role/policy", "jobs/apply-changes/role/policy", "jobs/full-copy/role/policy"]) {
      const statements = permissionsOf(stack.json, stack.find("aws_iam_role_policy", role).name);
      expect(statements.filter((s) => s.actions!.some((a) => a.startsWith("kms:")))).toEqual([
        {
          sid: "DecryptSourceTable",
          effect: "Allow",
          actions: ["kms:Decrypt"],
          resources: [keyArn],
          condition: [{ test: "StringEquals", variable: "kms:ViaService", values: ["dynamodb.us-east-1.amazonaws.com"] }],
        },
      ]);
    }
    // The restore drill never reads the source: nothing of its key.
    const drill = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "jobs/restore-drill/role/policy").name);
    expect(drill.filter((s) => s.actions!.some((a) => a.startsWith("kms:")))).toEqual([]);
  });

  test("the plan fails unless the table is encrypted with exactly that key", () => {
    const [, source] = Object.entries(stack.json.data.aws_dynamodb_table)[0];
    expect(source.lifecycle.postcondition[2]).toEqual({
      condition: `\${try(self.server_side_encryption[0].kms_key_arn, "") == "${keyArn}"}`,
      error_message: `Table api-pagos must be encrypted with sourceTable.kmsKeyArn (${keyArn}): the function and the jobs are granted that key only.`,
    });
  });

  test("without the setting nothing grants any key of the source", () => {
    const plain = synthesizeEnvironment({ sourceTable: { existing: true } });
    for (const policy of Object.values(plain.all("aws_iam_role_policy"))) {
      expect(JSON.stringify(plain.json.data.aws_iam_policy_document[/aws_iam_policy_document\.([^.]+)\.json/.exec(policy.policy)![1]])).not.toContain("kms:");
    }
  });

  test.each<[string, object, string]>([
    ["an alias", { existing: true, kmsKeyArn: "alias/source" }, 'environments.test.sourceTable.kmsKeyArn = "alias/source": must be the ARN of a KMS key'],
    ["a source this stack creates", { kmsKeyArn: keyArn }, `environments.test.sourceTable.kmsKeyArn = "${keyArn}": applies only with sourceTable.existing = true`],
  ])("is refused for %s", (_label, sourceTable, message) => {
    expect(() => synthesizeEnvironment({ sourceTable })).toThrow(message);
  });
});
