/**
 * The change-trigger function's batch metrics against the embedded metric format specification
 * (CloudWatch User Guide, "Specification: Embedded metric format"), and METRICS_NAMESPACE's validation.
 */
import { batchMetrics, emfLine, publishBatchMetrics, type EmfDocument } from "../functions/change-trigger/batch-metrics";
import { loadMetricsNamespace } from "../functions/change-trigger/metrics-config";
import { TRIGGER_DIMENSION, TRIGGER_METRICS } from "../contracts";

/** CloudWatch's StandardUnit values (MetricDatum.Unit), which a MetricDefinition's Unit must be one of. */
const UNITS = new Set([
  "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits",
  "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
  "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
  "Terabits/Second", "Count/Second", "None",
]);

/** Every way a document breaks the specification's rules for the root node, the metadata object, MetricDirective and MetricDefinition. */
function specificationProblems(document: Record<string, any>): string[] {
  const problems: string[] = [];
  const meta = document._aws;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return ["root: _aws must be an object"];
  // Objects the specification defines must not contain other members.
  for (const key of Object.keys(meta)) if (!["Timestamp", "CloudWatchMetrics", "LogGroupName"].includes(key)) problems.push(`_aws: unknown member ${key}`);
  if (!Number.isInteger(meta.Timestamp) || meta.Timestamp < 0) problems.push("_aws.Timestamp must be milliseconds after 1970-01-01T00:00:00Z");
  if (!Array.isArray(meta.CloudWatchMetrics)) return [...problems, "_aws.CloudWatchMetrics must be an array"];
  meta.CloudWatchMetrics.forEach((directive: Record<string, any>, i: number) => {
    const at = `_aws.CloudWatchMetrics[${i}]`;
    for (const key of Object.keys(directive)) if (!["Namespace", "Dimensions", "Metrics"].includes(key)) problems.push(`${at}: unknown member ${key}`);
    if (typeof directive.Namespace !== "string" || directive.Namespace.length < 1 || directive.Namespace.length > 255) problems.push(`${at}.Namespace must be a string of 1 to 255 characters`);
    if (!Array.isArray(directive.Dimensions)) problems.push(`${at}.Dimensions must be an array of dimension sets`);
    for (const set of directive.Dimensions ?? []) {
      if (!Array.isArray(set) || set.length > 30) problems.push(`${at}.Dimensions: a dimension set is an array of at most 30 keys`);
      // Each key references a root member whose value is a string.
      for (const key of set ?? []) if (typeof document[key] !== "string") problems.push(`${at}.Dimensions: ${key} is not a string member of the root`);
    }
    if (!Array.isArray(directive.Metrics) || directive.Metrics.length > 100) problems.push(`${at}.Metrics must be an array of at most 100 metric definitions`);
    for (const metric of directive.Metrics ?? []) {
      for (const key of Object.keys(metric)) if (!["Name", "Unit", "StorageResolution"].includes(key)) problems.push(`${at}.Metrics: unknown member ${key}`);
      if (typeof metric.Name !== "string" || metric.Name.length < 1 || metric.Name.length > 255) problems.push(`${at}.Metrics: Name must be a string of 1 to 255 characters`);
      if (metric.Unit !== undefined && !UNITS.has(metric.Unit)) problems.push(`${at}.Metrics: ${metric.Name} has unit ${metric.Unit}`);
      if (metric.StorageResolution !== undefined && ![1, 60].includes(metric.StorageResolution)) problems.push(`${at}.Metrics: StorageResolution must be 1 or 60`);
      // The target member: a number, or an array of at most 100 numbers.
      const value = document[metric.Name];
      const numbers = Array.isArray(value) ? value : [value];
      if (numbers.length > 100 || !numbers.every((n) => typeof n === "number" && Number.isFinite(n))) problems.push(`${at}.Metrics: ${metric.Name} has no numeric target member`);
    }
  });
  return problems;
}

describe("batch metrics in the embedded metric format", () => {
  const document = batchMetrics("DynamoDBReplication/p", { records: 120, distinctKeys: 87, manifestBytes: 40960, functionName: "p-change-trigger" }, 1767225600123.7);

  test("follow the specification: metadata object, one metric directive, target members", () => {
    expect(specificationProblems(document)).toEqual([]);
    expect(document).toEqual({
      _aws: {
        Timestamp: 1767225600123,
        CloudWatchMetrics: [
          {
            Namespace: "DynamoDBReplication/p",
            Dimensions: [["FunctionName"]],
            Metrics: [
              { Name: "RecordsPerBatch", Unit: "Count" },
              { Name: "KeysPerBatch", Unit: "Count" },
              { Name: "ManifestBytes", Unit: "Bytes" },
            ],
          },
        ],
      },
      FunctionName: "p-change-trigger",
      RecordsPerBatch: 120,
      KeysPerBatch: 87,
      ManifestBytes: 40960,
    });
  });

  test("are the contract's names and units, with the dimension the alarms and the dashboard read", () => {
    const directive = document._aws.CloudWatchMetrics[0];
    expect(Object.fromEntries(directive.Metrics.map((m) => [m.Name, m.Unit]))).toEqual(TRIGGER_METRICS);
    expect(directive.Dimensions).toEqual([[TRIGGER_DIMENSION]]);
  });

  test("go out as one JSON line, a log event CloudWatch Logs can parse", () => {
    const line = emfLine(document);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(line)).toEqual(document);
    expect(Buffer.byteLength(line)).toBeLessThan(256 * 1024);
  });

  test("without a function name carry an empty dimension set, still valid", () => {
    const bare: EmfDocument = batchMetrics("n", { records: 1, distinctKeys: 1, manifestBytes: 10 }, 0);
    expect(specificationProblems(bare)).toEqual([]);
    expect(bare._aws.CloudWatchMetrics[0].Dimensions).toEqual([[]]);
    expect(bare.FunctionName).toBeUndefined();
  });

  test.each([["records", -1], ["distinctKeys", 1.5], ["manifestBytes", Number.NaN]])("refuse %s = %p", (name, value) => {
    const input = { records: 1, distinctKeys: 1, manifestBytes: 1, [name]: value };
    expect(() => batchMetrics("n", input)).toThrow(`batchMetrics: ${name} must be a whole number >= 0`);
  });

  test("publishBatchMetrics writes one line per batch, nothing when metrics are off, and never throws", () => {
    const lines: string[] = [];
    publishBatchMetrics("n", { records: 2, distinctKeys: 1, manifestBytes: 9, functionName: "f" }, (line) => lines.push(line));
    publishBatchMetrics(undefined, { records: 2, distinctKeys: 1, manifestBytes: 9 }, (line) => lines.push(line));
    expect(lines).toHaveLength(1);
    expect(specificationProblems(JSON.parse(lines[0]))).toEqual([]);
    const stderr = jest.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(() => publishBatchMetrics("n", { records: -1, distinctKeys: 1, manifestBytes: 9 }, (line) => lines.push(line))).not.toThrow();
      expect(stderr).toHaveBeenCalledWith(expect.stringContaining("change-trigger: batch metrics not written: batchMetrics: records must be"));
    } finally {
      stderr.mockRestore();
    }
    expect(lines).toHaveLength(1);
  });

  test("the checks see a broken document", () => {
    const broken = JSON.parse(JSON.stringify(document));
    broken._aws.CloudWatchMetrics[0].Metrics.push({ Name: "Missing", Unit: "Things" });
    broken._aws.Extra = 1;
    expect(specificationProblems(broken)).toEqual([
      "_aws: unknown member Extra",
      "_aws.CloudWatchMetrics[0].Metrics: Missing has unit Things",
      "_aws.CloudWatchMetrics[0].Metrics: Missing has no numeric target member",
    ]);
  });
});

describe("METRICS_NAMESPACE", () => {
  test("unset or empty turns the metrics off; a namespace is read as it is", () => {
    expect(loadMetricsNamespace({})).toBeUndefined();
    expect(loadMetricsNamespace({ METRICS_NAMESPACE: "" })).toBeUndefined();
    expect(loadMetricsNamespace({ METRICS_NAMESPACE: "DynamoDBReplication/api-pagos-replication" })).toBe("DynamoDBReplication/api-pagos-replication");
  });

  test.each(["AWS/Lambda", ":x", "x".repeat(256), "tab\there"])("refuses %p, naming the variable", (value) => {
    expect(() => loadMetricsNamespace({ METRICS_NAMESPACE: value })).toThrow(/^change-trigger: environment variable METRICS_NAMESPACE=.* is invalid: expected a CloudWatch namespace/);
  });
});
