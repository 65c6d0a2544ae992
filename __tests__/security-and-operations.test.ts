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

  test("alarms on Lambda errors and throttles, iterator age, dead letters, replication latency and manifest age, to the topic", () => {
    const topic = ref("aws_sns_topic", stack.one("aws_sns_topic").name, "arn");
    const fn = "api-pagos-replication-change-trigger";
    const queueName = ref("aws_sqs_queue", stack.one("aws_sqs_queue").name, "name");
    const namespace = "DynamoDBReplication/api-pagos-replication";
    const pipeline = { Pipeline: "api-pagos-replication" };
    const single = Object.values(stack.all("aws_cloudwatch_metric_alarm")).filter((a) => a.metric_query === undefined);
    const alarms = single.map((a) => [a.alarm_name, a.namespace, a.metric_name, a.statistic, a.dimensions, a.threshold]).sort();
    expect(alarms).toEqual([
      ["api-pagos-replication-change-trigger-errors", "AWS/Lambda", "Errors", "Sum", { FunctionName: fn }, 1],
      ["api-pagos-replication-change-trigger-throttles", "AWS/Lambda", "Throttles", "Sum", { FunctionName: fn }, 1],
      ["api-pagos-replication-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", { QueueName: queueName }, 1],
      ["api-pagos-replication-oldest-pending-manifest-age", namespace, "OldestPendingManifestAge", "Maximum", pipeline, 1800],
      ["api-pagos-replication-replication-latency", namespace, "ReplicationLatency", "Maximum", pipeline, 900],
      ["api-pagos-replication-restore-drill-slow", namespace, "RestoreDrillEstimatedFullRestoreTime", "Maximum", pipeline, 240 * 60],
      ["api-pagos-replication-stream-iterator-age", "AWS/Lambda", "IteratorAge", "Maximum", { FunctionName: fn }, 600000],
      ["api-pagos-replication-verify-drift", namespace, "DriftItems", "Maximum", pipeline, 0],
    ]);
    for (const alarm of Object.values(stack.all("aws_cloudwatch_metric_alarm"))) {
      // verify and the restore drill report once a run: their alarms keep their state between runs.
      const onceARun = /-(verify-drift|restore-drill-slow)$/.test(alarm.alarm_name);
      expect(alarm).toMatchObject({
        alarm_actions: [topic],
        ok_actions: [topic],
        comparison_operator: onceARun ? "GreaterThanThreshold" : "GreaterThanOrEqualToThreshold",
        treat_missing_data: onceARun ? "ignore" : "notBreaching",
        ...(onceARun ? { period: 3600, evaluation_periods: 1 } : {}),
      });
    }
    expect(stack.all("aws_sns_topic_subscription")).toEqual({});
  });

  test("a stalled apply job alarms: manifests written or pending and no run finished, in two consecutive 15-minute periods", () => {
    const stalled = stack.find("aws_cloudwatch_metric_alarm", "alarms/apply-stalled").body;
    const namespace = "DynamoDBReplication/api-pagos-replication";
    expect(stalled).toMatchObject({ alarm_name: "api-pagos-replication-apply-stalled", evaluation_periods: 2, datapoints_to_alarm: 2, threshold: 1 });
    expect(stalled.metric_name).toBeUndefined();
    const byId = Object.fromEntries(stalled.metric_query.map((q: any) => [q.id, q]));
    expect(byId.pending.metric).toEqual({ namespace, metric_name: "ManifestsPending", stat: "Maximum", period: 900, dimensions: { Pipeline: "api-pagos-replication" } });
    expect(byId.written.metric).toEqual({ namespace, metric_name: "ManifestBytes", stat: "SampleCount", period: 900, dimensions: { FunctionName: "api-pagos-replication-change-trigger" } });
    expect(byId.finished.metric).toEqual({ namespace, metric_name: "ApplyRunsFinished", stat: "Sum", period: 900, dimensions: { Pipeline: "api-pagos-replication" } });
    expect(byId.stalled).toMatchObject({ return_data: true, expression: "IF((FILL(pending, 0) > 0 OR FILL(written, 0) > 0) AND FILL(finished, 0) == 0, 1, 0)" });
    // Exactly one query returns data (CloudWatch requires it of an alarm), and the expression names only the queries.
    expect(stalled.metric_query.filter((q: any) => q.return_data).map((q: any) => q.id)).toEqual(["stalled"]);
    const names = (byId.stalled.expression as string).match(/[A-Za-z_]\w*/g)!.filter((word) => !["IF", "FILL", "OR", "AND"].includes(word));
    expect([...new Set(names)]).toEqual(["pending", "written", "finished"]);
  });

  test("apply-changes may publish metrics to Glue's namespace and the stack's only, full-copy to Glue's", () => {
    const publish = (job: string) => docOf(stack, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).body.policy).find((s) => s.sid === "PublishJobMetrics")!;
    expect(publish("apply-changes")).toMatchObject({
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      condition: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["Glue", "DynamoDBReplication/api-pagos-replication"] }],
    });
    expect(publish("full-copy").condition).toEqual([{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["Glue"] }]);
  });

  test("EventBridge rules send every failed run of this stack's Glue jobs to the topic, the restore drill's by a rule of its own; only they and CloudWatch may publish to it", async () => {
    const rule = stack.find("aws_cloudwatch_event_rule", "alarms/glue-job-failed");
    const drillRule = stack.find("aws_cloudwatch_event_rule", "alarms/restore-drill-failed");
    const jobName = (job: string) => ref("aws_glue_job", stack.find("aws_glue_job", `${job}/job`).name, "name");
    const failed = (jobs: string[]) => ({
      source: ["aws.glue"],
      "detail-type": ["Glue Job State Change"],
      detail: { jobName: jobs.map(jobName), state: ["FAILED", "TIMEOUT", "STOPPED", "ERROR"] },
    });
    // Every job exactly once: one failed run, one notification.
    expect(Object.keys(stack.all("aws_glue_job"))).toHaveLength(5);
    expect(await jsonencodeArgument(rule.body.event_pattern)).toEqual(failed(["apply-changes", "full-copy", "verify", "restore"]));
    expect(await jsonencodeArgument(drillRule.body.event_pattern)).toEqual(failed(["restore-drill"]));
    expect(drillRule.body.name).toBe("api-pagos-replication-restore-drill-failed");
    const topic = ref("aws_sns_topic", stack.one("aws_sns_topic").name, "arn");
    expect(stack.find("aws_cloudwatch_event_target", "alarms/glue-job-failed-target").body).toMatchObject({ rule: ref("aws_cloudwatch_event_rule", rule.name, "name"), arn: topic });
    expect(stack.find("aws_cloudwatch_event_target", "alarms/restore-drill-failed-target").body).toMatchObject({ rule: ref("aws_cloudwatch_event_rule", drillRule.name, "name"), arn: topic });
    const topicPolicy = stack.one("aws_sns_topic_policy").body;
    expect(topicPolicy.arn).toBe(topic);
    const alarmArns = Object.keys(stack.all("aws_cloudwatch_metric_alarm")).map((name) => ref("aws_cloudwatch_metric_alarm", name, "arn"));
    expect(alarmArns).toHaveLength(9);
    expect(docOf(stack, topicPolicy.policy)).toEqual([
      expect.objectContaining({
        principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
        actions: ["sns:Publish"],
        resources: [topic],
        // This stack's alarms only, not every alarm of the account.
        condition: [
          { test: "StringEquals", variable: "aws:SourceAccount", values: ["${data.aws_caller_identity.account.account_id}"] },
          { test: "ArnEquals", variable: "aws:SourceArn", values: expect.arrayContaining(alarmArns) },
        ],
      }),
      expect.objectContaining({
        principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
        condition: [{ test: "ArnEquals", variable: "aws:SourceArn", values: [ref("aws_cloudwatch_event_rule", rule.name, "arn"), ref("aws_cloudwatch_event_rule", drillRule.name, "arn")] }],
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

  test("each Glue role may create, encrypt and write only its own log groups, named after the security configuration", () => {
    const expected: Record<string, string[]> = {
      "apply-changes": ["/aws-glue/python-jobs/api-pagos-replication-jobs-role/api-pagos-replication-apply-changes/output", "/aws-glue/python-jobs/api-pagos-replication-jobs-role/api-pagos-replication-apply-changes/error"],
      "full-copy": [
        "/aws-glue/jobs/api-pagos-replication-jobs-role/api-pagos-replication-full-copy/output",
        "/aws-glue/jobs/api-pagos-replication-jobs-role/api-pagos-replication-full-copy/error",
        "/aws-glue/jobs/api-pagos-replication-jobs-role/api-pagos-replication-full-copy/logs-v2",
      ],
      ...Object.fromEntries(
        ["verify", "restore", "restore-drill"].map((job) => [job, ["output", "error", "logs-v2"].map((kind) => `/aws-glue/jobs/api-pagos-replication-jobs-role/api-pagos-replication-${job}/${kind}`)]),
      ),
    };
    const groupArn = (group: string) => expect.stringMatching(new RegExp(`^arn:\\$\\{data\\.aws_partition\\.[^}]+\\}:logs:us-east-1:\\$\\{data\\.aws_caller_identity\\.[^}]+\\}:log-group:${group.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
    for (const [job, groups] of Object.entries(expected)) {
      const statements = docOf(stack, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).body.policy);
      const create = statements.find((s) => s.sid === "CreateEncryptedJobLogGroups")!;
      expect(create.actions).toEqual(["logs:AssociateKmsKey", "logs:CreateLogGroup"]);
      expect(create.resources).toEqual(groups.map(groupArn));
      const write = statements.find((s) => s.sid === "WriteEncryptedJobLogs")!;
      expect(write.actions).toEqual(["logs:CreateLogStream", "logs:PutLogEvents"]);
      expect(write.resources).toEqual(groups.map((group) => expect.stringMatching(new RegExp(`:log-group:${group}:log-stream:\\*$`))));
      // Nothing of the account's other Glue log groups.
      for (const statement of statements) for (const resource of statement.resources ?? []) expect(resource).not.toMatch(/aws-glue\/\*/);
    }
    // The key encrypts exactly the function's group and these.
    const logs = docOf(stack, stack.one("aws_kms_key").body.policy).find((s) => s.sid === "EncryptLogs")!;
    expect(logs.condition).toHaveLength(1);
    expect(logs.condition![0].values).toEqual([expect.stringMatching(/:log-group:\/aws\/lambda\/api-pagos-replication-change-trigger$/), ...Object.values(expected).flat().map(groupArn)]);
  });

  test("the stack's own alarm thresholds follow the configuration", () => {
    const custom = synthesizeEnvironment({ alarms: { replicationLatencySeconds: 300, oldestPendingManifestAgeSeconds: 600, applyStalledMinutes: 41 } });
    expect(custom.find("aws_cloudwatch_metric_alarm", "alarms/replication-latency").body.threshold).toBe(300);
    expect(custom.find("aws_cloudwatch_metric_alarm", "alarms/oldest-pending-manifest-age").body.threshold).toBe(600);
    // 41 minutes: two periods of 21 minutes (rounded up to whole minutes).
    expect(custom.find("aws_cloudwatch_metric_alarm", "alarms/apply-stalled").body.metric_query[0].metric.period).toBe(1260);
    // Unset, the window grows with the apply job's time budget: 2 x (1800 s + 300 s) = 70 minutes, two periods of 35.
    const longRuns = synthesizeEnvironment({ applyChangesJob: { timeBudgetSeconds: 1800 } });
    expect(longRuns.find("aws_cloudwatch_metric_alarm", "alarms/apply-stalled").body.metric_query[0].metric.period).toBe(2100);
  });
});

describe("operations settings are validated", () => {
  test.each<[string, object, string]>([
    ["bad e-mail", { alarms: { email: "oncall" } }, 'environments.test.alarms.email = "oncall": must be an e-mail address'],
    ["iterator age too small", { alarms: { iteratorAgeSeconds: 10 } }, "environments.test.alarms.iteratorAgeSeconds = 10: must be a whole number from 60 to 86400"],
    ["TTL on a key attribute", { sourceTable: { ttlAttribute: "id" } }, 'environments.test.sourceTable.ttlAttribute = "id": cannot be a key attribute (id)'],
    ["rejected manifests kept 0 days", { bucket: { rejectedManifestDays: 0 } }, "environments.test.bucket.rejectedManifestDays = 0: must be a whole number from 1 to 3650"],
    ["latency threshold not a number", { alarms: { replicationLatencySeconds: "15m" } }, 'environments.test.alarms.replicationLatencySeconds = "15m": must be a whole number from 60 to 86400'],
    ["latency threshold under the batching window and a Glue start", { alarms: { replicationLatencySeconds: 100 }, stream: { batchingWindowSeconds: 60 } }, "environments.test.alarms.replicationLatencySeconds = 100: must exceed stream.batchingWindowSeconds (60) plus 60 s for a Glue start"],
    ["manifest age threshold too small", { alarms: { oldestPendingManifestAgeSeconds: 30 } }, "environments.test.alarms.oldestPendingManifestAgeSeconds = 30: must be a whole number from 60 to 86400"],
    ["stalled window shorter than two runs", { alarms: { applyStalledMinutes: 20 } }, "environments.test.alarms.applyStalledMinutes = 20: must be at least twice applyChangesJob.timeBudgetSeconds (600) plus 300 s, in minutes (30)"],
  ])("%s", (_label, input, message) => {
    expect(() => synthesizeEnvironment(input)).toThrow(message);
  });
});
