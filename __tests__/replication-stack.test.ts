import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { unzipSync } from "fflate";
import { jobCodeWheel } from "../stacks/constructs/glue-scripts";
import { permissionsOf, policyDocuments } from "./helpers/iam";
import { validateTerraformJson } from "./helpers/provider-schema";
import { ref, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";
import { COMPOSITE_KEY_SPARK } from "./helpers/variants";

const TABLE = "aws_dynamodb_table";
/** The one archive of the Glue code: the wheel of glue-job/backup_replication. */
const WHEEL = jobCodeWheel();

describe("default stack (no configuration)", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment();
  });

  test("validates against the AWS provider schema", () => {
    expect(validateTerraformJson(stack.json)).toEqual([]);
  });

  test("aws provider: us-east-1, default tags, pinned version; local backend at a relative path", () => {
    const [provider] = stack.json.provider.aws;
    expect(provider.region).toBe("us-east-1");
    expect(provider.default_tags[0].tags).toEqual({ application: "dynamodb-replication", environment: "test", "managed-by": "terraform" });
    expect(stack.json.terraform.required_providers.aws).toEqual({ source: "hashicorp/aws", version: "6.25.0" });
    expect(stack.json.terraform.backend).toEqual({ local: { path: "../../../terraform.test.tfstate" } });
  });

  test("source table api-pagos streams new and old images; backup api-pos-backup has the same key schema", () => {
    const source = stack.find(TABLE, "tables/source").body;
    const backup = stack.find(TABLE, "tables/backup").body;
    expect(source).toMatchObject({
      name: "api-pagos",
      billing_mode: "PAY_PER_REQUEST",
      hash_key: "id",
      attribute: [{ name: "id", type: "S" }],
      stream_enabled: true,
      stream_view_type: "NEW_AND_OLD_IMAGES",
      point_in_time_recovery: { enabled: true },
      deletion_protection_enabled: true,
    });
    // Without a customer-managed key DynamoDB encrypts with an AWS-owned key: no block.
    expect(source.server_side_encryption).toBeUndefined();
    expect(backup.name).toBe("api-pos-backup");
    expect(backup.stream_enabled).toBeUndefined();
    for (const key of ["hash_key", "range_key", "attribute", "billing_mode"]) expect(backup[key]).toEqual(source[key]);
  });

  test("artifact bucket: all public access blocked, encrypted, versioned, TLS only", () => {
    const bucket = stack.one("aws_s3_bucket");
    const bucketId = ref("aws_s3_bucket", bucket.name, "id");
    expect(bucket.body.bucket_prefix).toBe("api-pagos-replication-");
    expect(stack.one("aws_s3_bucket_public_access_block").body).toMatchObject({
      bucket: bucketId,
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(stack.one("aws_s3_bucket_server_side_encryption_configuration").body).toMatchObject({
      bucket: bucketId,
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } }],
    });
    expect(stack.one("aws_s3_bucket_versioning").body).toMatchObject({ bucket: bucketId, versioning_configuration: { status: "Enabled" } });
    const policy = stack.one("aws_s3_bucket_policy").body.policy as string;
    const docName = /aws_iam_policy_document\.([^.]+)\.json/.exec(policy)![1];
    expect(policyDocuments(stack.json)[docName]).toEqual([
      expect.objectContaining({
        effect: "Deny",
        condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
      }),
    ]);
  });

  test("Lambda: bundled zip asset whose sha256 is source_code_hash, own log group created first", () => {
    const fn = stack.one("aws_lambda_function");
    const logGroup = stack.one("aws_cloudwatch_log_group");
    expect(fn.body).toMatchObject({
      function_name: "api-pagos-replication-change-trigger",
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      memory_size: 256,
      timeout: 60,
      logging_config: { log_format: "JSON", log_group: ref("aws_cloudwatch_log_group", logGroup.name, "name") },
    });
    expect(logGroup.body).toMatchObject({ name: "/aws/lambda/api-pagos-replication-change-trigger", retention_in_days: 30 });
    expect(fn.body.depends_on).toContain(`aws_cloudwatch_log_group.${logGroup.name}`);
    expect(fn.body.filename).toMatch(/^assets\/.+\/change-trigger\.zip$/);
    const zip = fs.readFileSync(path.join(stack.dir, fn.body.filename));
    expect(fn.body.source_code_hash).toBe(createHash("sha256").update(zip).digest("base64"));
    expect(Object.keys(unzipSync(zip))).toEqual(["index.js"]);
    const bucket = stack.one("aws_s3_bucket").name;
    const applyJob = stack.find("aws_glue_job", "apply-changes/job").name;
    expect(fn.body.environment.variables).toEqual({
      MANIFEST_BUCKET: ref("aws_s3_bucket", bucket, "bucket"),
      MANIFEST_PREFIX: "changes/",
      APPLY_JOB_NAME: ref("aws_glue_job", applyJob, "name"),
      DELETE_POLICY: "retain",
      METRICS_NAMESPACE: "DynamoDBReplication/api-pagos-replication",
    });
  });

  test("event source mapping reads the source table's stream into the function", () => {
    const mapping = stack.one("aws_lambda_event_source_mapping").body;
    const source = stack.find(TABLE, "tables/source").name;
    expect(mapping.event_source_arn).toBe(ref(TABLE, source, "stream_arn"));
    expect(mapping.function_name).toBe(ref("aws_lambda_function", stack.one("aws_lambda_function").name, "arn"));
    expect(mapping).toMatchObject({
      starting_position: "TRIM_HORIZON",
      batch_size: 100,
      maximum_batching_window_in_seconds: 5,
      bisect_batch_on_function_error: true,
      maximum_retry_attempts: 5,
      maximum_record_age_in_seconds: 86400,
      function_response_types: ["ReportBatchItemFailures"],
      // REMOVE under the default retain policy too: the backup keeps the deleted item's last image.
      filter_criteria: { filter: [{ pattern: '{"eventName":["INSERT","MODIFY","REMOVE"]}' }] },
      destination_config: { on_failure: { destination_arn: ref("aws_sqs_queue", stack.one("aws_sqs_queue").name, "arn") } },
    });
    expect(mapping.depends_on).toContain(`aws_iam_role_policy.${stack.find("aws_iam_role_policy", "change-trigger/role/policy").name}`);
    expect(stack.one("aws_sqs_queue").body).toMatchObject({
      name: "api-pagos-replication-change-trigger-dlq",
      message_retention_seconds: 1209600,
      sqs_managed_sse_enabled: true,
    });
  });

  test("Glue jobs run scripts uploaded from assets with content hashes, the package as one wheel, arguments by reference", () => {
    const objects = stack.all("aws_s3_object");
    const bucket = stack.one("aws_s3_bucket").name;
    const keys = Object.values(objects).map((o) => o.key);
    expect(keys.sort()).toEqual(["glue/apply_changes.py", `glue/${WHEEL.fileName}`, "glue/full_copy.py", "glue/restore.py", "glue/restore_drill.py", "glue/verify.py"]);
    for (const object of Object.values(objects)) {
      expect(object.bucket).toBe(ref("aws_s3_bucket", bucket, "bucket"));
      const file = fs.readFileSync(path.join(stack.dir, object.source));
      expect(object.source_hash).toBe(createHash("md5").update(file).digest("hex"));
      const original = object.key === `glue/${WHEEL.fileName}` ? Buffer.from(WHEEL.bytes) : fs.readFileSync(path.join(__dirname, "..", "glue-job", object.key.replace(/^glue\//, "")));
      expect(file.equals(original)).toBe(true);
    }
    const apply = stack.find("aws_glue_job", "apply-changes/job").body;
    const fullCopy = stack.find("aws_glue_job", "full-copy/job").body;
    const bucketName = ref("aws_s3_bucket", bucket, "bucket");
    expect(apply).toMatchObject({
      name: "api-pagos-replication-apply-changes",
      glue_version: "3.0",
      command: { name: "pythonshell", python_version: "3.9", script_location: `s3://${bucketName}/glue/apply_changes.py` },
      max_capacity: 0.0625,
      max_retries: 0,
      timeout: 60,
      execution_property: { max_concurrent_runs: 1 },
      job_run_queuing_enabled: true,
    });
    expect(fullCopy).toMatchObject({
      name: "api-pagos-replication-full-copy",
      glue_version: "5.0",
      command: { name: "glueetl", script_location: `s3://${bucketName}/glue/full_copy.py` },
      worker_type: "G.1X",
      number_of_workers: 2,
      timeout: 480,
    });
    const source = stack.find(TABLE, "tables/source").name;
    const backup = stack.find(TABLE, "tables/backup").name;
    for (const job of [apply, fullCopy]) {
      expect(job.default_arguments).toMatchObject({
        "--source_table": ref(TABLE, source, "name"),
        "--backup_table": ref(TABLE, backup, "name"),
        "--delete_policy": "retain",
      });
    }
    // The wheel, in the argument each job type documents: Python shell's --extra-py-files (.whl, not .egg, on
    // Python 3.9), Spark's --additional-python-modules (pip installs it where the job's Python runs).
    const wheel = `s3://${bucketName}/glue/${WHEEL.fileName}`;
    expect([apply.default_arguments["--extra-py-files"], apply.default_arguments["--additional-python-modules"]]).toEqual([wheel, undefined]);
    expect([fullCopy.default_arguments["--additional-python-modules"], fullCopy.default_arguments["--extra-py-files"]]).toEqual([wheel, undefined]);
    expect(apply.default_arguments).toMatchObject({
      "--manifest_bucket": bucketName,
      "--manifest_prefix": "changes/",
      "--rejected_prefix": "rejected/",
      "--time_budget_seconds": "600",
    });
    // A run must not start before its scripts are uploaded.
    for (const job of [apply, fullCopy]) {
      for (const name of Object.keys(objects)) expect(job.depends_on).toContain(`aws_s3_object.${name}`);
    }
    expect(fullCopy.default_arguments).toMatchObject({ "--scan_segments": "0", "--mirror_deletes": "false", "--verify_writes": "true", "--max_items_per_second": "0" });
    expect(stack.find("aws_glue_trigger", "full-copy/schedule").body).toMatchObject({
      type: "SCHEDULED",
      schedule: "cron(0 3 ? * SUN *)",
      actions: [{ job_name: ref("aws_glue_job", stack.find("aws_glue_job", "full-copy/job").name, "name") }],
    });
  });

  test("verify and restore: Spark jobs set like full-copy; verify scheduled after it, restore on demand only", () => {
    const bucketName = ref("aws_s3_bucket", stack.one("aws_s3_bucket").name, "bucket");
    const fullCopy = stack.find("aws_glue_job", "full-copy/job").body;
    const verify = stack.find("aws_glue_job", "verify/job").body;
    const restore = stack.find("aws_glue_job", "restore/job").body;
    const same = ["glue_version", "max_retries", "security_configuration", "execution_property", "job_run_queuing_enabled"];
    for (const job of [verify, restore]) {
      for (const setting of same) expect(job[setting]).toEqual(fullCopy[setting]);
      for (const flag of ["--enable-continuous-cloudwatch-log", "--enable-metrics", "--job-bookmark-option", "--additional-python-modules", "--extra-py-files"]) {
        expect(job.default_arguments[flag]).toBe(fullCopy.default_arguments[flag]);
      }
      expect(job.default_arguments["--additional-python-modules"]).toMatch(/^s3:\/\/.*\.whl$/);
      expect(job).toMatchObject({ worker_type: "G.1X", number_of_workers: 2, timeout: 480, max_retries: 0 });
    }
    expect(verify).toMatchObject({ name: "api-pagos-replication-verify", command: { name: "glueetl", script_location: `s3://${bucketName}/glue/verify.py` } });
    expect(verify.default_arguments).toMatchObject({
      "--sample_fraction": "1",
      "--settle_seconds": "300",
      "--repair": "false",
      "--report_bucket": bucketName,
      "--report_prefix": "verify/",
      "--metrics_namespace": "DynamoDBReplication/api-pagos-replication",
      "--metrics_pipeline": "api-pagos-replication",
    });
    expect(restore).toMatchObject({ name: "api-pagos-replication-restore", command: { name: "glueetl", script_location: `s3://${bucketName}/glue/restore.py` } });
    // What tells the source apart is not a run's to change (Glue's non-overridable arguments).
    expect(restore.non_overridable_arguments).toEqual({
      "--backup_table": ref(TABLE, stack.find(TABLE, "tables/backup").name, "name"),
      "--source_table": ref(TABLE, stack.find(TABLE, "tables/source").name, "name"),
      "--allowed_targets": "[]",
      "--retained_attribute": "_deleted_from_source",
    });
    expect(restore.default_arguments).toMatchObject({
      "--mode": "missing-only",
      "--include_retained": "false",
      "--dry_run": "false",
      "--report_prefix": "restore/",
    });
    expect(restore.default_arguments["--target_table"]).toBeUndefined(); // each run names it
    expect(stack.find("aws_glue_trigger", "verify/schedule").body).toMatchObject({
      type: "SCHEDULED",
      schedule: "cron(0 5 ? * SUN *)",
      actions: [{ job_name: ref("aws_glue_job", stack.find("aws_glue_job", "verify/job").name, "name") }],
    });
    expect(Object.keys(stack.all("aws_glue_trigger")).filter((name) => name.includes("restore") && !name.includes("restore-drill"))).toEqual([]);
  });

  test("restore drill: a Spark job of its own on the restore job's size, scheduled apart from full-copy and verify", () => {
    const bucketName = ref("aws_s3_bucket", stack.one("aws_s3_bucket").name, "bucket");
    const restore = stack.find("aws_glue_job", "restore/job").body;
    const drill = stack.find("aws_glue_job", "restore-drill/job").body;
    expect(drill).toMatchObject({ name: "api-pagos-replication-restore-drill", command: { name: "glueetl", script_location: `s3://${bucketName}/glue/restore_drill.py` } });
    for (const setting of ["glue_version", "worker_type", "number_of_workers", "timeout", "max_retries", "security_configuration", "execution_property", "job_run_queuing_enabled"]) {
      expect([setting, drill[setting]]).toEqual([setting, restore[setting]]);
    }
    expect(drill.default_arguments).toMatchObject({
      "--sample_fraction": "0.05",
      "--include_retained": "false",
      "--max_restore_minutes": "240",
      "--report_bucket": bucketName,
      "--report_prefix": "restore-drill/",
      "--metrics_namespace": "DynamoDBReplication/api-pagos-replication",
      "--metrics_pipeline": "api-pagos-replication",
    });
    expect(drill.non_overridable_arguments).toEqual({
      "--backup_table": ref(TABLE, stack.find(TABLE, "tables/backup").name, "name"),
      "--retained_attribute": "_deleted_from_source",
    });
    expect(JSON.stringify(drill)).not.toContain(ref(TABLE, stack.find(TABLE, "tables/source").name, "name"));
    const schedules = Object.fromEntries(Object.values(stack.all("aws_glue_trigger")).map((t) => [t.name, t.schedule]));
    expect(schedules).toEqual({
      "api-pagos-replication-full-copy-schedule": "cron(0 3 ? * SUN *)",
      "api-pagos-replication-verify-schedule": "cron(0 5 ? * SUN *)",
      "api-pagos-replication-restore-drill-schedule": "cron(0 4 ? * WED *)",
    });
    expect(stack.find("aws_glue_trigger", "restore-drill/schedule").body).toMatchObject({
      type: "SCHEDULED",
      start_on_creation: true,
      actions: [{ job_name: ref("aws_glue_job", stack.find("aws_glue_job", "restore-drill/job").name, "name") }],
    });
    expect(stack.json.output.restore_drill_job_name.value).toBe(ref("aws_glue_job", stack.find("aws_glue_job", "restore-drill/job").name, "name"));
  });

  test("restore drill, IAM: reads the backup, creates, writes and deletes only its own tables, writes the source nowhere", () => {
    const backup = ref(TABLE, stack.find(TABLE, "tables/backup").name, "arn");
    const source = ref(TABLE, stack.find(TABLE, "tables/source").name, "arn");
    const bucket = ref("aws_s3_bucket", stack.one("aws_s3_bucket").name, "arn");
    const statements = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "jobs/restore-drill/role/policy").name).filter((s) => !/Log|Scripts/.test(s.sid ?? ""));
    const drillTables = "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:${data.aws_caller_identity.account.account_id}:table/api-pos-backup-restore-drill-*";
    expect(Object.fromEntries(statements.map((s) => [s.sid, [s.actions, s.resources, s.condition]]))).toEqual({
      ReadBackupItems: [["dynamodb:DescribeTable", "dynamodb:Scan"], [backup], undefined],
      RestoreIntoDrillTables: [["dynamodb:BatchGetItem", "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Scan"], [drillTables], undefined],
      WriteRestoreDrillReports: [["s3:PutObject"], [`${bucket}/restore-drill/*`], undefined],
      PublishJobMetrics: [["cloudwatch:PutMetricData"], ["*"], [{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["Glue", "DynamoDBReplication/api-pagos-replication"] }]],
    });
    const everything = JSON.stringify(statements);
    expect(everything).not.toContain(source);
    for (const statement of statements.filter((s) => (s.actions ?? []).some((a) => /Put|Write|Create|Delete|Update/.test(a) && a.startsWith("dynamodb:")))) {
      expect(statement.resources).toEqual([drillTables]);
    }
  });

  test("restore drill: restoreDrill.schedule null removes its trigger and nothing else; the settings reach its arguments and alarm", () => {
    const off = synthesizeEnvironment({ restoreDrill: { schedule: null, sampleFraction: 0.2, maxRestoreMinutes: 90 } });
    expect(Object.values(off.all("aws_glue_trigger")).map((t) => t.name).sort()).toEqual(["api-pagos-replication-full-copy-schedule", "api-pagos-replication-verify-schedule"]);
    const drill = off.find("aws_glue_job", "restore-drill/job").body;
    expect([drill.default_arguments["--sample_fraction"], drill.default_arguments["--max_restore_minutes"]]).toEqual(["0.2", "90"]);
    expect(Object.keys(off.all("aws_glue_job"))).toHaveLength(5);
    expect(off.find("aws_cloudwatch_metric_alarm", "alarms/restore-drill-slow").body.threshold).toBe(5400);
    const every = synthesizeEnvironment({ restoreDrill: { schedule: "cron(15 1 ? * MON *)" } });
    expect(every.find("aws_glue_trigger", "restore-drill/schedule").body.schedule).toBe("cron(15 1 ? * MON *)");
    // The drill's role may delete the tables named like its own: a source named so is refused.
    expect(() => synthesizeEnvironment({ sourceTable: { name: "api-pos-backup-restore-drill-live" } })).toThrow(
      'sourceTable.name api-pos-backup-restore-drill-live cannot start with "api-pos-backup-restore-drill-"',
    );
  });

  test("IAM: verify reads both tables and writes only the backup (repair); restore reads the backup and writes only restore targets", () => {
    const source = ref(TABLE, stack.find(TABLE, "tables/source").name, "arn");
    const backup = ref(TABLE, stack.find(TABLE, "tables/backup").name, "arn");
    const bucket = ref("aws_s3_bucket", stack.one("aws_s3_bucket").name, "arn");
    const grants = (job: string) =>
      Object.fromEntries(
        permissionsOf(stack.json, stack.find("aws_iam_role_policy", `jobs/${job}/role/policy`).name)
          .filter((s) => !/Log|Scripts/.test(s.sid ?? ""))
          .map((s) => [s.sid, [s.actions, s.resources, s.condition]]),
      );
    const metrics = (namespaces: string[]) => [["cloudwatch:PutMetricData"], ["*"], [{ test: "StringEquals", variable: "cloudwatch:namespace", values: namespaces }]];
    expect(grants("verify")).toEqual({
      ReadSourceItems: [["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:Scan"], [source], undefined],
      CheckAndRepairBackupItems: [["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"], [backup], undefined],
      WriteVerifyReports: [["s3:PutObject"], [`${bucket}/verify/*`], undefined],
      PublishJobMetrics: metrics(["Glue", "DynamoDBReplication/api-pagos-replication"]),
    });
    const restoreTargets = "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:${data.aws_caller_identity.account.account_id}:table/api-pos-backup-restore-*";
    expect(grants("restore")).toEqual({
      ReadBackupItems: [["dynamodb:DescribeTable", "dynamodb:Scan"], [backup], undefined],
      WriteRestoreTargets: [["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:PutItem"], [restoreTargets], undefined],
      WriteRestoreReports: [["s3:PutObject"], [`${bucket}/restore/*`], undefined],
      PublishJobMetrics: metrics(["Glue"]),
    });
  });

  test("IAM: the Lambda role grants exactly what the handler and the stream mapping need", () => {
    const fnRolePolicy = stack.find("aws_iam_role_policy", "change-trigger/role/policy").name;
    const source = stack.find(TABLE, "tables/source").name;
    const bucket = stack.one("aws_s3_bucket").name;
    const applyJob = stack.find("aws_glue_job", "apply-changes/job").name;
    const grants = Object.fromEntries(permissionsOf(stack.json, fnRolePolicy).map((s) => [s.sid, [s.actions, s.resources]]));
    expect(grants).toEqual({
      ReadSourceStream: [["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [ref(TABLE, source, "stream_arn")]],
      ListStreams: [["dynamodb:ListStreams"], ["*"]],
      WriteOwnLogs: [["logs:CreateLogStream", "logs:PutLogEvents"], [`${ref("aws_cloudwatch_log_group", stack.one("aws_cloudwatch_log_group").name, "arn")}:log-stream:*`]],
      WriteChangeManifests: [["s3:PutObject"], [`${ref("aws_s3_bucket", bucket, "arn")}/changes/*`]],
      ListPendingManifests: [["s3:ListBucket"], [ref("aws_s3_bucket", bucket, "arn")]],
      StartApplyJob: [["glue:GetJobRuns", "glue:StartJobRun"], [ref("aws_glue_job", applyJob, "arn")]],
      SendFailedBatchesToDeadLetterQueue: [["sqs:SendMessage"], [ref("aws_sqs_queue", stack.one("aws_sqs_queue").name, "arn")]],
    });
    // The sweep lists the manifest prefix only.
    const list = permissionsOf(stack.json, fnRolePolicy).find((statement) => statement.sid === "ListPendingManifests");
    expect(list?.condition).toEqual([{ test: "StringEquals", variable: "s3:prefix", values: ["changes/"] }]);
  });

  test("liveness: a rule on every apply run that succeeded and a schedule invoke the function's sweep, each allowed by its own source ARN", () => {
    const fn = stack.one("aws_lambda_function").name;
    const applyJob = stack.find("aws_glue_job", "apply-changes/job").name;
    const runEnded = stack.find("aws_cloudwatch_event_rule", "apply-sweep/run-ended");
    expect(runEnded.body.event_pattern).toBe(
      `\${jsonencode({"source" = ["aws.glue"], "detail-type" = ["Glue Job State Change"], "detail" = {"jobName" = [${ref("aws_glue_job", applyJob, "name").slice(2, -1)}], "state" = ["SUCCEEDED"]}})}`,
    );
    const schedule = stack.find("aws_cloudwatch_event_rule", "apply-sweep/schedule");
    expect(schedule.body.schedule_expression).toBe("rate(5 minutes)");
    for (const [name, rule] of [["run-ended", runEnded], ["schedule", schedule]] as const) {
      expect(stack.find("aws_cloudwatch_event_target", `apply-sweep/${name}-target`).body).toMatchObject({
        rule: ref("aws_cloudwatch_event_rule", rule.name, "name"),
        arn: ref("aws_lambda_function", fn, "arn"),
      });
      expect(stack.find("aws_lambda_permission", `apply-sweep/${name}-invoke`).body).toMatchObject({
        action: "lambda:InvokeFunction",
        principal: "events.amazonaws.com",
        source_arn: ref("aws_cloudwatch_event_rule", rule.name, "arn"),
      });
    }
    expect(synthesizeEnvironment({ applyChangesJob: { sweepIntervalMinutes: 1 } }).find("aws_cloudwatch_event_rule", "apply-sweep/schedule").body.schedule_expression).toBe("rate(1 minute)");
  });

  test("outputs name the tables, stream, function, jobs, bucket and dashboard", () => {
    expect(Object.keys(stack.json.output).sort()).toEqual([
      "alarm_topic_arn",
      "apply_changes_job_name",
      "backup_table_arn",
      "backup_table_name",
      "bucket_name",
      "change_trigger_function_name",
      "change_trigger_log_group_name",
      "dashboard_name",
      "dashboard_url",
      "dead_letter_queue_url",
      "full_copy_job_name",
      "kms_key_arn",
      "quarantine_prefix",
      "restore_drill_failed_rule_name",
      "restore_drill_job_name",
      "restore_drill_slow_alarm_name",
      "restore_job_name",
      "source_table_arn",
      "source_table_name",
      "source_table_stream_arn",
      "verify_drift_alarm_name",
      "verify_job_name",
    ]);
  });
});

describe("configured stack", () => {
  test("composite key, mirror deletes, Spark apply job, no schedule: valid, and the settings reach the resources", () => {
    const stack = synthesizeEnvironment(COMPOSITE_KEY_SPARK);
    expect(validateTerraformJson(stack.json)).toEqual([]);
    expect(stack.json.provider.aws[0].region).toBe("eu-west-3");
    expect(stack.json.provider.aws[0].default_tags[0].tags.team).toBe("payments");
    for (const suffix of ["tables/source", "tables/backup"]) {
      expect(stack.find(TABLE, suffix).body).toMatchObject({
        hash_key: "pk",
        range_key: "sk",
        attribute: [{ name: "pk", type: "N" }, { name: "sk", type: "B" }],
      });
    }
    expect(stack.one("aws_lambda_function").body).toMatchObject({ memory_size: 512, runtime: "nodejs24.x", architectures: ["x86_64"] });
    expect(stack.one("aws_lambda_event_source_mapping").body.batch_size).toBe(500);
    expect(stack.one("aws_lambda_event_source_mapping").body.filter_criteria.filter[0].pattern).toBe('{"eventName":["INSERT","MODIFY","REMOVE"]}');
    const apply = stack.find("aws_glue_job", "apply-changes/job").body;
    expect(apply).toMatchObject({ command: { name: "glueetl", python_version: "3" }, glue_version: "5.0", worker_type: "G.1X", number_of_workers: 10 });
    // Each pass spread over the executors: one task a core of the largest run (9 executors of 4 cores),
    // Glue Auto Scaling growing the run up to number_of_workers.
    expect([apply.default_arguments["--spark"], apply.default_arguments["--max_tasks"], apply.default_arguments["--enable-auto-scaling"]])
      .toEqual(["true", "36", "true"]);
    // A Spark apply job gets the wheel as the other Spark jobs do.
    expect([apply.default_arguments["--additional-python-modules"], apply.default_arguments["--extra-py-files"]])
      .toEqual([stack.find("aws_glue_job", "full-copy/job").body.default_arguments["--additional-python-modules"], undefined]);
    expect(Object.keys(stack.all("aws_glue_trigger")).map((name) => stack.all("aws_glue_trigger")[name].name)).toEqual(["api-pagos-replication-verify-schedule"]);
  });

  test("restore.allowedTargets: the named tables become restore targets besides the restore-table pattern; the backup never", () => {
    const stack = synthesizeEnvironment({ restore: { allowedTargets: ["api-pagos", "payments-recovered"] }, verifyJob: { schedule: null, sampleFraction: 0.1 } });
    const statements = permissionsOf(stack.json, stack.find("aws_iam_role_policy", "jobs/restore/role/policy").name);
    const table = (name: string) => `arn:\${data.aws_partition.partition.partition}:dynamodb:us-east-1:\${data.aws_caller_identity.account.account_id}:table/${name}`;
    expect(statements.find((s) => s.sid === "WriteRestoreTargets")!.resources).toEqual([table("api-pos-backup-restore-*"), table("payments-recovered")]);
    // The source: only what missing-only needs (no CreateTable, no BatchWriteItem).
    const source = ref(TABLE, stack.find(TABLE, "tables/source").name, "arn");
    expect([statements.find((s) => s.sid === "RestoreIntoSource")?.actions, statements.find((s) => s.sid === "RestoreIntoSource")?.resources]).toEqual([["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:PutItem"], [source]]);
    const backup = ref(TABLE, stack.find(TABLE, "tables/backup").name, "arn");
    const writes = statements.filter((s) => (s.actions ?? []).some((a) => /Put|Write|Create|Delete|Update/.test(a)));
    for (const statement of writes) expect(statement.resources).not.toContain(backup);
    expect(stack.find("aws_glue_job", "restore/job").body.non_overridable_arguments["--allowed_targets"]).toBe('["api-pagos","payments-recovered"]');
    // The source is a target: the role reads what the backup has not recorded yet, nothing more.
    const bucket = ref("aws_s3_bucket", stack.one("aws_s3_bucket").name, "arn");
    const sid = (name: string) => statements.find((s) => s.sid === name);
    expect([sid("ListPendingChanges")?.actions, sid("ListPendingChanges")?.resources]).toEqual([["s3:ListBucket"], [bucket]]);
    expect([sid("ReadPendingChanges")?.actions, sid("ReadPendingChanges")?.resources]).toEqual([["s3:GetObject"], [`${bucket}/changes/*`, `${bucket}/quarantine/*`]]);
    expect([sid("CountDeadLetters")?.actions, sid("CountDeadLetters")?.resources]).toEqual([
      ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
      ["arn:${data.aws_partition.partition.partition}:sqs:us-east-1:${data.aws_caller_identity.account.account_id}:api-pagos-replication-change-trigger-dlq"],
    ]);
    const restoreArguments = stack.find("aws_glue_job", "restore/job").body.non_overridable_arguments;
    expect([restoreArguments["--dead_letter_queue_name"], restoreArguments["--delivery_seconds"], restoreArguments["--manifest_prefix"]]).toEqual(["api-pagos-replication-change-trigger-dlq", "450", "changes/"]);
    expect(stack.find("aws_sqs_queue", "change-trigger/dead-letters").body.name).toBe(restoreArguments["--dead_letter_queue_name"]);
    // Without the source among the targets, none of it.
    const plain = permissionsOf(synthesizeEnvironment({}).json, stack.find("aws_iam_role_policy", "jobs/restore/role/policy").name).map((s) => s.sid);
    expect(plain).not.toContain("CountDeadLetters");
    expect(plain).not.toContain("ReadPendingChanges");
    expect(stack.find("aws_glue_job", "verify/job").body.default_arguments["--sample_fraction"]).toBe("0.1");
    expect(Object.values(stack.all("aws_glue_trigger")).map((t) => t.name).sort()).toEqual(["api-pagos-replication-full-copy-schedule", "api-pagos-replication-restore-drill-schedule"]);
  });
});
