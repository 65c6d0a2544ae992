/**
 * The dashboard: its body against the documented structure (CloudWatch API Reference, "Dashboard Body
 * Structure and Syntax"), and every metric it shows is one the stack publishes or one AWS publishes
 * for the stack's own resources, with the dimensions that name them.
 */
import { App } from "cdktf";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { parseProjectConfig } from "../stacks/config/load";
import type { PipelineAlarms } from "../stacks/constructs/pipeline-alarms";
import { ReplicationStack } from "../stacks/replication-stack";
import { APPLY_DIMENSION, APPLY_METRICS, RESTORE_DRILL_METRICS, TRIGGER_DIMENSION, TRIGGER_METRICS, VERIFY_METRICS } from "../contracts";
import { jsonencodeArgument } from "./helpers/hcl";
import { ref, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

const WIDGET_TYPES = ["metric", "text", "log", "alarm", "explorer", "custom"];
const VIEWS = ["timeSeries", "singleValue", "gauge", "bar", "pie", "table"];
const STAT = /^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|tm\d{1,2}|IQM)$/;
const RENDERING = ["color", "label", "period", "stat", "visible", "yAxis", "id", "region", "accountId"];

/** AWS-published metrics the dashboard may show: namespace/name -> the dimension naming the stack's resource. */
const AWS_METRICS: Record<string, string> = {
  "AWS/Lambda/IteratorAge": "FunctionName",
  "AWS/Lambda/Invocations": "FunctionName",
  "AWS/Lambda/Errors": "FunctionName",
  "AWS/Lambda/Throttles": "FunctionName",
  "AWS/Lambda/Duration": "FunctionName",
  "AWS/SQS/ApproximateNumberOfMessagesVisible": "QueueName",
  "AWS/Events/TriggeredRules": "RuleName",
};

type Line = (string | Record<string, unknown>)[];

/** Every way the body breaks the documented structure. */
function structureProblems(body: Record<string, any>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(body)) if (!["widgets", "start", "end", "periodOverride", "variables"].includes(key)) problems.push(`unknown top-level member ${key}`);
  if (!Array.isArray(body.widgets) || body.widgets.length > 500) return [...problems, "widgets must be an array of at most 500"];
  if (body.start !== undefined && !/^-P(T?\d+[YMWDHS])+$|^-PT\d+[HMS]$|^\d{4}-/.test(body.start)) problems.push(`start ${body.start} is neither a relative ISO 8601 duration nor a time`);
  body.widgets.forEach((widget: Record<string, any>, i: number) => {
    const at = `widgets[${i}]`;
    if (!WIDGET_TYPES.includes(widget.type)) problems.push(`${at}: type ${widget.type}`);
    const int = (name: string, min: number, max: number) => {
      if (!Number.isInteger(widget[name]) || widget[name] < min || widget[name] > max) problems.push(`${at}: ${name} ${widget[name]} outside ${min}..${max}`);
    };
    int("x", 0, 23);
    int("y", 0, Number.MAX_SAFE_INTEGER);
    int("width", 1, 24);
    int("height", 1, 1000);
    if (widget.x + widget.width > 24) problems.push(`${at}: wider than the 24-column grid`);
    const p = widget.properties;
    if (typeof p !== "object" || p === null) {
      problems.push(`${at}: properties required`);
      return;
    }
    if (widget.type === "text" && typeof p.markdown !== "string") problems.push(`${at}: a text widget needs markdown`);
    if (widget.type === "alarm" && !(Array.isArray(p.alarms) && p.alarms.length > 0 && p.alarms.length <= 100 && p.alarms.every((a: unknown) => typeof a === "string"))) problems.push(`${at}: an alarm widget needs alarms (1 to 100 ARNs)`);
    if (widget.type === "metric") {
      if (typeof p.region !== "string") problems.push(`${at}: a metric widget needs region`);
      if (p.view !== undefined && !VIEWS.includes(p.view)) problems.push(`${at}: view ${p.view}`);
      if (p.stat !== undefined && !STAT.test(p.stat)) problems.push(`${at}: stat ${p.stat}`);
      if (p.period !== undefined && !(Number.isInteger(p.period) && (p.period % 60 === 0 || [1, 5, 10, 30].includes(p.period)))) problems.push(`${at}: period ${p.period}`);
      if (!Array.isArray(p.metrics) || p.metrics.length === 0) problems.push(`${at}: metrics must be a non-empty array`);
      for (const line of (p.metrics ?? []) as Line[]) {
        const options = typeof line[line.length - 1] === "object" ? (line[line.length - 1] as Record<string, unknown>) : undefined;
        const names = options ? line.slice(0, -1) : line;
        // [Namespace, MetricName, DimensionName, DimensionValue, ...], at most 30 dimensions.
        if (names.length < 2 || names.length % 2 !== 0 || names.length > 62 || !names.every((n) => typeof n === "string")) problems.push(`${at}: metric ${JSON.stringify(line)}`);
        for (const key of Object.keys(options ?? {})) if (!RENDERING.includes(key)) problems.push(`${at}: rendering option ${key}`);
        if (options?.stat !== undefined && !STAT.test(String(options.stat))) problems.push(`${at}: stat ${options.stat}`);
      }
    }
  });
  // No two widgets overlap on the grid.
  const cells = new Map<string, number>();
  body.widgets.forEach((w: Record<string, number>, i: number) => {
    for (let x = w.x; x < w.x + w.width; x++) for (let y = w.y; y < w.y + w.height; y++) {
      const other = cells.get(`${x},${y}`);
      if (other !== undefined) problems.push(`widgets[${i}] overlaps widgets[${other}]`);
      cells.set(`${x},${y}`, i);
    }
  });
  return [...new Set(problems)];
}

describe("the pipeline dashboard", () => {
  let stack: SynthesizedStack;
  let body: Record<string, any>;
  beforeAll(async () => {
    stack = synthesizeEnvironment();
    const dashboard = stack.one("aws_cloudwatch_dashboard").body;
    expect(dashboard.dashboard_name).toBe("api-pagos-replication");
    body = (await jsonencodeArgument(dashboard.dashboard_body)) as Record<string, any>;
  });

  test("has the documented dashboard body structure", () => {
    expect(structureProblems(body)).toEqual([]);
    expect(body.widgets.map((w: { type: string }) => w.type)).toEqual(["text", ...Array(12).fill("metric"), "alarm"]);
    for (const widget of body.widgets.filter((w: { type: string }) => w.type === "metric")) {
      // The restore drill runs weekly: its graphs span five weeks, a point a day.
      const drill = /^Restore drill/.test(widget.properties.title);
      expect(widget.properties).toMatchObject({ region: "us-east-1", view: "timeSeries", period: drill ? 86400 : 300, ...(drill ? { start: "-P35D" } : {}) });
    }
    // The estimate's graph draws where its alarm fires (restoreDrill.maxRestoreMinutes, 240 by default).
    const estimate = body.widgets.find((w: { properties: { title?: string } }) => /estimated full restore/.test(w.properties.title ?? ""));
    expect(estimate.properties.annotations).toEqual({ horizontal: [{ label: "alarm above 240 min", value: 14400 }] });
  });

  test("every metric is the stack's own or one AWS publishes for the stack's resources, named by its dimension", () => {
    const namespace = "DynamoDBReplication/api-pagos-replication";
    const own: Record<string, [string, string]> = {
      ...Object.fromEntries(Object.keys(APPLY_METRICS).map((name) => [name, [APPLY_DIMENSION, "api-pagos-replication"]])),
      ...Object.fromEntries(Object.keys(VERIFY_METRICS).map((name) => [name, [APPLY_DIMENSION, "api-pagos-replication"]])),
      ...Object.fromEntries(Object.keys(RESTORE_DRILL_METRICS).map((name) => [name, [APPLY_DIMENSION, "api-pagos-replication"]])),
      ...Object.fromEntries(Object.keys(TRIGGER_METRICS).map((name) => [name, [TRIGGER_DIMENSION, "api-pagos-replication-change-trigger"]])),
    };
    const rule = (id: string) => ref("aws_cloudwatch_event_rule", stack.find("aws_cloudwatch_event_rule", `alarms/${id}`).name, "name");
    const resourcesOf: Record<string, string[]> = {
      FunctionName: ["api-pagos-replication-change-trigger"],
      QueueName: [ref("aws_sqs_queue", stack.one("aws_sqs_queue").name, "name")],
      RuleName: [rule("glue-job-failed"), rule("restore-drill-failed")],
    };
    const shown: string[] = [];
    const rules: string[] = [];
    for (const widget of body.widgets.filter((w: { type: string }) => w.type === "metric")) {
      for (const line of widget.properties.metrics as Line[]) {
        const [ns, name, ...rest] = line.filter((part): part is string => typeof part === "string");
        shown.push(name);
        if (ns === namespace) {
          expect({ name, dimensions: rest }).toEqual({ name, dimensions: own[name] });
        } else {
          const dimension = AWS_METRICS[`${ns}/${name}`];
          expect({ metric: `${ns}/${name}`, known: dimension !== undefined }).toEqual({ metric: `${ns}/${name}`, known: true });
          expect({ metric: `${ns}/${name}`, dimension: rest[0], known: resourcesOf[dimension].includes(rest[1]), count: rest.length }).toEqual({ metric: `${ns}/${name}`, dimension, known: true, count: 2 });
          if (dimension === "RuleName") rules.push(rest[1]);
        }
      }
    }
    // What the issue asks the page to show.
    expect(shown).toEqual(expect.arrayContaining(["IteratorAge", "Invocations", "Errors", "Duration", "ManifestsPending", "OldestPendingManifestAge", "ReplicationLatency", "ItemsApplied", "ApplyRunsFinished", "TriggeredRules", "ApproximateNumberOfMessagesVisible", "DriftItems"]));
    // The restore drill: every metric it publishes, and its failed runs.
    expect(shown).toEqual(expect.arrayContaining(Object.keys(RESTORE_DRILL_METRICS)));
    expect(rules.sort()).toEqual(resourcesOf.RuleName.sort());
  });

  test("shows the state of every alarm of the stack", () => {
    const alarms = Object.keys(stack.all("aws_cloudwatch_metric_alarm")).map((name) => ref("aws_cloudwatch_metric_alarm", name, "arn"));
    const widget = body.widgets.find((w: { type: string }) => w.type === "alarm");
    expect([...widget.properties.alarms].sort()).toEqual([...alarms].sort());
  });

  test("an output gives its name and console address", () => {
    expect(stack.json.output.dashboard_name.value).toBe(ref("aws_cloudwatch_dashboard", stack.one("aws_cloudwatch_dashboard").name, "dashboard_name"));
    expect(stack.json.output.dashboard_url.value).toBe("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/api-pagos-replication");
  });

  test("the structure checks see a broken body", () => {
    const broken = JSON.parse(JSON.stringify(body));
    broken.widgets[1].x = 20;
    broken.widgets[2].properties.metrics.push(["AWS/Lambda"]);
    broken.widgets[0].type = "chart";
    expect(structureProblems(broken)).toEqual(expect.arrayContaining(["widgets[0]: type chart", "widgets[1]: wider than the 24-column grid", 'widgets[2]: metric ["AWS/Lambda"]']));
  });

  test("an alarm another construct registers later is shown, and the topic accepts it", () => {
    const config = parseProjectConfig({ environments: { late: {} } }).environments.late;
    const late = new ReplicationStack(new App({ outdir: "/tmp/unused-late-alarm" }), "late", config);
    const alarms = late.node.findChild("alarms") as PipelineAlarms;
    alarms.register(
      new CloudwatchMetricAlarm(late, "verify-drift", {
        alarmName: "late-verify-drift",
        namespace: "DynamoDBReplication/api-pagos-replication",
        metricName: "DriftItems",
        statistic: "Maximum",
        period: 300,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        alarmActions: [alarms.topic.arn],
      }),
    );
    const tf = late.toTerraform() as { resource: Record<string, Record<string, any>>; data: Record<string, Record<string, any>> };
    const arn = "${aws_cloudwatch_metric_alarm.verify-drift.arn}";
    const topicDoc = Object.values(tf.data.aws_iam_policy_document).find((d) => d.statement.some((s: { sid?: string }) => s.sid === "CloudWatchAlarmsOfThisStack"))!;
    const sourceArns = topicDoc.statement[0].condition.find((c: { variable: string }) => c.variable === "aws:SourceArn").values;
    expect(sourceArns).toHaveLength(10);
    expect(sourceArns).toContain(arn);
    expect(Object.values(tf.resource.aws_cloudwatch_dashboard)[0].dashboard_body).toContain("aws_cloudwatch_metric_alarm.verify-drift.arn");
  });
});
