import { jsonencodeArgument } from "./helpers/hcl";
import { policyDocuments } from "./helpers/iam";
import { validateTerraformJson } from "./helpers/provider-schema";
import { ref, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";
import { CONFIGURED_CONTROLS } from "./helpers/variants";

const TABLE = "aws_dynamodb_table";
const docOf = (stack: SynthesizedStack, policy: string) => policyDocuments(stack.json)[/aws_iam_policy_document\.([^.]+)\.json/.exec(policy)![1]];

describe("default controls", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment();
  });

  test("tables: point-in-time recovery and deletion protection on both", () => {
    for (const table of Object.values(stack.all(TABLE))) {
      expect(table).toMatchObject({ point_in_time_recovery: { enabled: true }, deletion_protection_enabled: true });
      expect(table.ttl).toBeUndefined();
    }
  });

  test("bucket: owner enforced, noncurrent versions and rejected manifests expire", () => {
    expect(stack.one("aws_s3_bucket_ownership_controls").body.rule).toEqual({ object_ownership: "BucketOwnerEnforced" });
    expect(stack.one("aws_s3_bucket_lifecycle_configuration").body.rule).toEqual([
      expect.objectContaining({
        id: "expire-noncurrent-versions",
        status: "Enabled",
        noncurrent_version_expiration: [{ noncurrent_days: 30 }],
        // each consumed manifest leaves a delete marker behind
        expiration: [{ expired_object_delete_marker: true }],
      }),
      expect.objectContaining({ id: "expire-rejected-manifests", status: "Enabled", filter: [{ prefix: "rejected/" }], expiration: [{ days: 90 }] }),
    ]);
  });

  test("queue SSE-SQS, bucket SSE-S3, alarm topic under the stack's rotating KMS key", () => {
    expect(stack.one("aws_sqs_queue").body.sqs_managed_sse_enabled).toBe(true);
    expect(stack.one("aws_s3_bucket_server_side_encryption_configuration").body.rule[0].apply_server_side_encryption_by_default).toEqual({ sse_algorithm: "AES256" });
    const key = stack.one("aws_kms_key");
    expect(key.body).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 30 });
    expect(stack.one("aws_kms_alias").body).toMatchObject({ name: "alias/api-pagos-replication", target_key_id: ref("aws_kms_key", key.name, "key_id") });
    expect(stack.one("aws_sns_topic").body.kms_master_key_id).toBe(ref("aws_kms_key", key.name, "arn"));
    // The key then serves only the alarm notifications (and its administration).
    expect(docOf(stack, key.body.policy).map((s) => s.sid)).toEqual(["AdministerKey", "PublishAlarmNotifications"]);
  });

  test("Glue security configuration used by both jobs", () => {
    const security = stack.one("aws_glue_security_configuration");
    expect(security.body.encryption_configuration).toEqual({
      s3_encryption: { s3_encryption_mode: "SSE-S3" },
      cloudwatch_encryption: { cloudwatch_encryption_mode: "DISABLED" },
      job_bookmarks_encryption: { job_bookmarks_encryption_mode: "DISABLED" },
    });
    for (const job of Object.values(stack.all("aws_glue_job"))) {
      expect(job.security_configuration).toBe(ref("aws_glue_security_configuration", security.name, "name"));
      expect(job.default_arguments["--job-bookmark-option"]).toBe("job-bookmark-disable");
    }
  });

  test("alarms on Lambda errors and throttles, iterator age and dead letters, to the topic", () => {
    const topic = ref("aws_sns_topic", stack.one("aws_sns_topic").name, "arn");
    const fn = "api-pagos-replication-change-trigger";
    const queueName = ref("aws_sqs_queue", stack.one("aws_sqs_queue").name, "name");
    const alarms = Object.values(stack.all("aws_cloudwatch_metric_alarm")).map((a) => [a.alarm_name, a.namespace, a.metric_name, a.statistic, a.dimensions, a.threshold]).sort();
    expect(alarms).toEqual([
      ["api-pagos-replication-change-trigger-errors", "AWS/Lambda", "Errors", "Sum", { FunctionName: fn }, 1],
      ["api-pagos-replication-change-trigger-throttles", "AWS/Lambda", "Throttles", "Sum", { FunctionName: fn }, 1],
      ["api-pagos-replication-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", { QueueName: queueName }, 1],
      ["api-pagos-replication-stream-iterator-age", "AWS/Lambda", "IteratorAge", "Maximum", { FunctionName: fn }, 600000],
      ["api-pagos-replication-verify-drift", "api-pagos-replication/verify", "Drift", "Maximum", { BackupTable: "api-pos-backup" }, 0],
    ]);
    for (const alarm of Object.values(stack.all("aws_cloudwatch_metric_alarm"))) {
      // verify reports once a run: its alarm keeps its state between runs.
      const drift = alarm.alarm_name.endsWith("-verify-drift");
      expect(alarm).toMatchObject({
        alarm_actions: [topic],
        ok_actions: [topic],
        comparison_operator: drift ? "GreaterThanThreshold" : "GreaterThanOrEqualToThreshold",
        treat_missing_data: drift ? "ignore" : "notBreaching",
      });
    }
    expect(stack.all("aws_sns_topic_subscription")).toEqual({});
  });

  test("an EventBridge rule sends every failed run of this stack's Glue jobs to the topic, which only it and CloudWatch may publish to", async () => {
    const rule = stack.one("aws_cloudwatch_event_rule");
    const jobs = Object.keys(stack.all("aws_glue_job")).map((name) => ref("aws_glue_job", name, "name"));
    expect(await jsonencodeArgument(rule.body.event_pattern)).toEqual({
      source: ["aws.glue"],
      "detail-type": ["Glue Job State Change"],
      detail: { jobName: expect.arrayContaining(jobs), state: ["FAILED", "TIMEOUT", "STOPPED", "ERROR"] },
    });
    const topic = ref("aws_sns_topic", stack.one("aws_sns_topic").name, "arn");
    expect(stack.one("aws_cloudwatch_event_target").body).toMatchObject({ rule: ref("aws_cloudwatch_event_rule", rule.name, "name"), arn: topic });
    const topicPolicy = stack.one("aws_sns_topic_policy").body;
    expect(topicPolicy.arn).toBe(topic);
    expect(docOf(stack, topicPolicy.policy)).toEqual([
      expect.objectContaining({ principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }], actions: ["sns:Publish"], resources: [topic] }),
      expect.objectContaining({
        principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
        condition: [{ test: "ArnEquals", variable: "aws:SourceArn", values: [ref("aws_cloudwatch_event_rule", rule.name, "arn")] }],
      }),
    ]);
  });
});

describe("configured controls", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment(CONFIGURED_CONTROLS);
  });

  test("validates against the provider schema", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
  });

  test("the customer-managed key encrypts tables, bucket (with a bucket key), queue, Lambda logs and Glue", () => {
    const keyArn = ref("aws_kms_key", stack.one("aws_kms_key").name, "arn");
    for (const table of Object.values(stack.all(TABLE))) expect(table.server_side_encryption).toEqual({ enabled: true, kms_key_arn: keyArn });
    expect(stack.one("aws_s3_bucket_server_side_encryption_configuration").body.rule[0]).toEqual({
      apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: keyArn },
      bucket_key_enabled: true,
    });
    expect(stack.one("aws_sqs_queue").body).toMatchObject({ kms_master_key_id: keyArn });
    expect(stack.one("aws_sqs_queue").body.sqs_managed_sse_enabled).toBeUndefined();
    expect(stack.one("aws_cloudwatch_log_group").body).toMatchObject({ kms_key_id: keyArn, retention_in_days: 365 });
    expect(stack.one("aws_glue_security_configuration").body.encryption_configuration).toEqual({
      s3_encryption: { s3_encryption_mode: "SSE-KMS", kms_key_arn: keyArn },
      cloudwatch_encryption: { cloudwatch_encryption_mode: "SSE-KMS", kms_key_arn: keyArn },
      job_bookmarks_encryption: { job_bookmarks_encryption_mode: "DISABLED" },
    });
  });

  test("the key policy names exactly the pipeline's roles and the services that use the key", () => {
    const key = stack.one("aws_kms_key").body;
    const statements = docOf(stack, key.policy);
    expect(statements.map((s) => s.sid)).toEqual(["AdministerKey", "PublishAlarmNotifications", "CreateEncryptedResources", "PipelineRolesUseData", "EncryptLogs"]);
    const publishers = statements.find((s) => s.sid === "PublishAlarmNotifications")!;
    expect(publishers.condition).toEqual([
      { test: "StringEquals", variable: "kms:EncryptionContext:aws:sns:topicArn", values: [expect.stringMatching(/^arn:\$\{data\.aws_partition\.[^}]+\}:sns:us-east-1:\$\{data\.aws_caller_identity\.[^}]+\}:api-pagos-replication-alarms$/)] },
    ]);
    const roles = Object.keys(stack.all("aws_iam_role")).map((name) => ref("aws_iam_role", name, "arn"));
    const users = statements.find((s) => s.sid === "PipelineRolesUseData")!;
    expect([...users.principals![0].identifiers].sort()).toEqual([...roles].sort());
    expect(users.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["dynamodb.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com"] }]);
    const logs = statements.find((s) => s.sid === "EncryptLogs")!;
    expect(logs.principals).toEqual([{ type: "Service", identifiers: ["logs.us-east-1.amazonaws.com"] }]);
    expect(logs.condition![0].values[0]).toMatch(/:log-group:\/aws\/lambda\/api-pagos-replication-change-trigger$/);
  });

  test("TTL on the source and, by default, on the backup; deletion protection can be turned off", () => {
    for (const table of Object.values(stack.all(TABLE))) {
      expect(table).toMatchObject({ ttl: { attribute_name: "expires_at", enabled: true }, deletion_protection_enabled: false });
    }
    const keep = synthesizeEnvironment({ sourceTable: { ttlAttribute: "expires_at" }, backupTable: { expireWithSource: false } });
    expect(keep.find(TABLE, "tables/source").body.ttl).toEqual({ attribute_name: "expires_at", enabled: true });
    expect(keep.find(TABLE, "tables/backup").body.ttl).toBeUndefined();
  });

  test("lifecycle, alarm threshold and e-mail subscription follow the configuration", () => {
    const rules = stack.one("aws_s3_bucket_lifecycle_configuration").body.rule;
    expect(rules[0].noncurrent_version_expiration).toEqual([{ noncurrent_days: 7 }]);
    expect(rules[1].expiration).toEqual([{ days: 400 }]);
    const iteratorAge = Object.values(stack.all("aws_cloudwatch_metric_alarm")).find((a) => a.metric_name === "IteratorAge")!;
    expect(iteratorAge.threshold).toBe(120000);
    expect(stack.one("aws_sns_topic_subscription").body).toMatchObject({ protocol: "email", endpoint: "oncall@example.com" });
  });

  test("Glue roles may write their encrypted log groups and associate the key with them", () => {
    for (const [name, policy] of Object.entries(stack.all("aws_iam_role_policy"))) {
      if (!name.startsWith("jobs_")) continue;
      const logs = docOf(stack, policy.policy).find((s) => s.sid === "WriteEncryptedJobLogs")!;
      expect(logs.actions).toEqual(["logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]);
      expect(logs.resources![0]).toMatch(/:log-group:\/aws-glue\/\*$/);
    }
  });
});

describe("operations settings are validated", () => {
  test.each<[string, object, string]>([
    ["bad e-mail", { alarms: { email: "oncall" } }, 'environments.test.alarms.email = "oncall": must be an e-mail address'],
    ["iterator age too small", { alarms: { iteratorAgeSeconds: 10 } }, "environments.test.alarms.iteratorAgeSeconds = 10: must be a whole number from 60 to 86400"],
    ["TTL on a key attribute", { sourceTable: { ttlAttribute: "id" } }, 'environments.test.sourceTable.ttlAttribute = "id": cannot be a key attribute (id)'],
    ["rejected manifests kept 0 days", { bucket: { rejectedManifestDays: 0 } }, "environments.test.bucket.rejectedManifestDays = 0: must be a whole number from 1 to 3650"],
  ])("%s", (_label, input, message) => {
    expect(() => synthesizeEnvironment(input)).toThrow(message);
  });
});
