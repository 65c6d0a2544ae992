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
      { condition: '${self.hash_key == "pk" && (self.range_key == null ? "" : self.range_key) == "sk"}', error_message: expect.stringContaining("pk, sk") },
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
