import { loadProviderSchema, validateTerraformJson } from "./helpers/provider-schema";
import { PROVIDER_SCHEMA_FILE } from "./helpers/reference";

const SCHEMA_FILE = PROVIDER_SCHEMA_FILE;

const table = (extra: Record<string, unknown> = {}) => ({
  resource: {
    aws_dynamodb_table: {
      backup: {
        "//": { metadata: { path: "stack/backup", uniqueId: "backup" } },
        name: "api-pos-backup",
        billing_mode: "PAY_PER_REQUEST",
        hash_key: "id",
        range_key: "sk",
        attribute: [
          { name: "id", type: "S" },
          { name: "sk", type: "S" },
        ],
        ...extra,
      },
    },
  },
});

describe("loadProviderSchema", () => {
  it("loads the pinned aws provider schema from __tests__/reference and caches it", () => {
    const schema = loadProviderSchema(SCHEMA_FILE);
    expect(schema.resource_schemas.aws_dynamodb_table.block.attributes?.name.required).toBe(true);
    expect(schema.data_source_schemas.aws_iam_policy_document).toBeDefined();
    expect(loadProviderSchema()).toBe(schema);
  });
});

describe("validateTerraformJson", () => {
  it("accepts a valid aws_dynamodb_table with meta-arguments", () => {
    const tf = table({ point_in_time_recovery: { enabled: true }, depends_on: ["aws_iam_role.r"], lifecycle: { prevent_destroy: true } });
    expect(validateTerraformJson(tf)).toEqual([]);
  });

  it("reports an unknown argument", () => {
    expect(validateTerraformJson(table({ foo: "bar" }))).toEqual([
      'resource.aws_dynamodb_table.backup: unknown argument "foo"',
    ]);
  });

  it("reports a missing required argument", () => {
    const tf = { resource: { aws_iam_role: { r: { name: "replicator" } } } };
    expect(validateTerraformJson(tf)).toEqual([
      'resource.aws_iam_role.r: missing required argument "assume_role_policy"',
    ]);
  });

  it("reports a computed-only attribute that is set", () => {
    const tf = { resource: { aws_s3_bucket: { b: { bucket: "scripts", arn: "arn:aws:s3:::scripts" } } } };
    expect(validateTerraformJson(tf)).toEqual(['resource.aws_s3_bucket.b: "arn" is computed-only and cannot be set']);
  });

  it("reports too many items in a max_items=1 block", () => {
    const tf = table({ point_in_time_recovery: [{ enabled: true }, { enabled: false }] });
    expect(validateTerraformJson(tf)).toEqual([
      "resource.aws_dynamodb_table.backup.point_in_time_recovery: at most 1 block(s) allowed, got 2",
    ]);
  });

  it("reports a missing min_items=1 block", () => {
    const tf = { resource: { aws_glue_job: { apply_changes: { name: "apply", role_arn: "arn:aws:iam::1:role/g" } } } };
    expect(validateTerraformJson(tf)).toEqual(["resource.aws_glue_job.apply_changes.command: at least 1 block(s) required, got 0"]);
  });

  it("reports unknown resource and data source types", () => {
    const tf = { resource: { aws_dynamo_table: { t: { name: "x" } } }, data: { aws_nope: { d: {} } } };
    expect(validateTerraformJson(tf)).toEqual([
      'resource.aws_dynamo_table: unknown resource type "aws_dynamo_table"',
      'data.aws_nope: unknown data source type "aws_nope"',
    ]);
  });

  it("accepts expression strings for attributes and whole blocks", () => {
    const tf = {
      resource: {
        aws_iam_role: { r: { assume_role_policy: "${data.aws_iam_policy_document.assume.json}", max_session_duration: "${var.d}" } },
        aws_dynamodb_table: { t: { name: "${aws_s3_bucket.b.arn}", stream_enabled: "${var.on}", point_in_time_recovery: "${local.pitr}" } },
      },
      data: { aws_caller_identity: { current: {} } },
    };
    expect(validateTerraformJson(tf)).toEqual([]);
  });

  it("reports an unknown argument inside a nested block with its path", () => {
    const job = { name: "apply", role_arn: "arn:aws:iam::1:role/g", command: { script_location: "s3://b/k.py", foo: 1 } };
    const tf = { resource: { aws_glue_job: { apply_changes: job } } };
    expect(validateTerraformJson(tf)).toEqual(['resource.aws_glue_job.apply_changes.command: unknown argument "foo"']);
    const asArray = { resource: { aws_glue_job: { apply_changes: { ...job, command: [{ script_location: "s3://b/k.py" }, { bar: 2 }] } } } };
    expect(validateTerraformJson(asArray)).toEqual([
      "resource.aws_glue_job.apply_changes.command: at most 1 block(s) allowed, got 2",
      'resource.aws_glue_job.apply_changes.command[1]: unknown argument "bar"',
      'resource.aws_glue_job.apply_changes.command[1]: missing required argument "script_location"',
    ]);
  });

  it("checks the provider block, accepting any attribute inside endpoints", () => {
    const ok = { provider: { aws: [{ region: "us-east-1", skip_credentials_validation: "true", endpoints: [{ dynamodb: "http://localhost:4567" }] }] } };
    expect(validateTerraformJson(ok)).toEqual([]);
    expect(validateTerraformJson({ provider: { aws: { region: "us-east-1", endpoints: { dynamodb: "http://x", s3: "http://y" } } } })).toEqual([]);
    const bad = { provider: { aws: [{ region: "us-east-1", dynamodb_endpoint: "http://localhost:4567" }] } };
    expect(validateTerraformJson(bad)).toEqual(['provider.aws[0]: unknown argument "dynamodb_endpoint"']);
  });

  it("reports clear type mismatches but accepts Terraform's conversions", () => {
    const tf = table({ stream_enabled: { on: true }, tags: ["a"], read_capacity: "ten" });
    expect(validateTerraformJson(tf)).toEqual([
      'resource.aws_dynamodb_table.backup.stream_enabled: expected bool, got object {"on":true}',
      'resource.aws_dynamodb_table.backup.tags: expected map(string), got array ["a"]',
      'resource.aws_dynamodb_table.backup.read_capacity: expected number, got string "ten"',
    ]);
    expect(validateTerraformJson(table({ stream_enabled: "true", read_capacity: "5", tags: { team: "pagos" } }))).toEqual([]);
  });

  it("checks that outputs have a value", () => {
    const tf = { terraform: { required_providers: {} }, output: { arn: { value: "${aws_dynamodb_table.backup.arn}" }, bad: { description: "x" } } };
    expect(validateTerraformJson(tf)).toEqual(['output.bad: missing "value"']);
  });
});
