import { Fn, Lazy } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { APPLY_DIMENSION, TRIGGER_DIMENSION } from "../../contracts";

export interface PipelineDashboardOptions {
  readonly dashboardName: string;
  readonly region: string;
  readonly namePrefix: string;
  readonly metricsNamespace: string;
  readonly functionName: string;
  readonly deadLetterQueueName: string;
  readonly glueFailureRuleName: string;
  readonly restoreDrillFailureRuleName: string;
  /** restoreDrill.maxRestoreMinutes: drawn on the estimate's graph, where its alarm fires. */
  readonly maxRestoreMinutes: number;
  /** Read at synth, so that every alarm registered by then is shown. */
  readonly alarmArns: () => string[];
}

/** One entry of a metric widget's `metrics`: namespace, name, dimension name/value pairs, then rendering options. */
type MetricLine = (string | { stat?: string; label?: string })[];

interface Widget {
  readonly type: "metric" | "text" | "alarm";
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: Record<string, unknown>;
}

const WIDTH = 8;
const HEIGHT = 6;
const PERIOD = 300;

/** The restore drill runs weekly: its graphs span five weeks, a point a day, whatever the page's range. */
const DRILL_RANGE = { start: "-P35D", period: 86400 };

/**
 * The pipeline on one page, in the order a change travels: stream and function, manifests waiting,
 * replication latency and what was applied, run outcomes and dead letters, drift found by the verify
 * job, the restore drills, and every alarm's state. Each metric is one the stack publishes (contracts/metrics.ts)
 * or one AWS publishes for the stack's own resources.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: CloudwatchDashboard;

  constructor(scope: Construct, id: string, options: PipelineDashboardOptions) {
    super(scope, id);
    this.dashboard = new CloudwatchDashboard(this, "dashboard", {
      dashboardName: options.dashboardName,
      // jsonencode, not JSON.stringify: the queue name and alarm ARNs are references (see pipeline-alarms.ts).
      dashboardBody: Lazy.stringValue({ produce: () => Fn.jsonencode(dashboardBody(options)) }),
    });
  }
}

/** A restore drill graph: its own time range (DRILL_RANGE), and a line where its alarm fires. */
function drillGraph(widget: Widget, annotations?: Record<string, unknown>): Widget {
  return { ...widget, properties: { ...widget.properties, ...DRILL_RANGE, ...(annotations ? { annotations } : {}) } };
}

/** The dashboard body (Dashboard Body Structure and Syntax, CloudWatch API Reference). */
export function dashboardBody(options: PipelineDashboardOptions): { start: string; widgets: Widget[] } {
  const ns = options.metricsNamespace;
  const fn = ["FunctionName", options.functionName];
  const pipeline = [APPLY_DIMENSION, options.namePrefix];
  const trigger = [TRIGGER_DIMENSION, options.functionName];
  const graph = (x: number, y: number, title: string, stat: string, metrics: MetricLine[]): Widget => ({
    type: "metric",
    x,
    y,
    width: WIDTH,
    height: HEIGHT,
    properties: { title, view: "timeSeries", region: options.region, period: PERIOD, stat, metrics },
  });
  const row = (index: number) => 2 + index * HEIGHT;
  return {
    start: "-PT12H",
    widgets: [
      {
        type: "text",
        x: 0,
        y: 0,
        width: 24,
        height: 2,
        properties: {
          markdown: `# ${options.namePrefix} replication. Source stream, change-trigger, manifests, apply-changes, backup table. Latency and ages in seconds; drift comes from the verify job, the restore drill's graphs span five weeks.`,
        },
      },
      graph(0, row(0), "Stream iterator age (ms)", "Maximum", [["AWS/Lambda", "IteratorAge", ...fn]]),
      graph(WIDTH, row(0), "change-trigger invocations, errors, throttles", "Sum", [
        ["AWS/Lambda", "Invocations", ...fn],
        ["AWS/Lambda", "Errors", ...fn],
        ["AWS/Lambda", "Throttles", ...fn],
      ]),
      graph(2 * WIDTH, row(0), "change-trigger duration (ms)", "Average", [
        ["AWS/Lambda", "Duration", ...fn, { stat: "Average", label: "average" }],
        ["AWS/Lambda", "Duration", ...fn, { stat: "Maximum", label: "maximum" }],
      ]),
      graph(0, row(1), "Manifests pending and oldest age (s), at each pass start", "Maximum", [
        [ns, "ManifestsPending", ...pipeline],
        [ns, "OldestPendingManifestAge", ...pipeline],
      ]),
      graph(WIDTH, row(1), "Replication latency (s)", "Average", [
        [ns, "ReplicationLatency", ...pipeline, { stat: "Average", label: "average" }],
        [ns, "ReplicationLatency", ...pipeline, { stat: "Maximum", label: "maximum" }],
      ]),
      graph(2 * WIDTH, row(1), "Items applied, retained writes, quarantined items", "Sum", [
        [ns, "ItemsApplied", ...pipeline],
        [ns, "RetainedWrites", ...pipeline],
        [ns, "QuarantinedItems", ...pipeline],
      ]),
      graph(0, row(2), "Stream batches: records, keys, manifest bytes", "Sum", [
        [ns, "RecordsPerBatch", ...trigger],
        [ns, "KeysPerBatch", ...trigger],
        [ns, "ManifestBytes", ...trigger],
      ]),
      graph(WIDTH, row(2), "Glue runs: apply-changes finished, failed runs of both jobs", "Sum", [
        [ns, "ApplyRunsFinished", ...pipeline, { label: "apply-changes runs finished" }],
        ["AWS/Events", "TriggeredRules", "RuleName", options.glueFailureRuleName, { label: "failed, timed out or stopped runs" }],
      ]),
      graph(2 * WIDTH, row(2), "Dead letters (failed stream batches)", "Maximum", [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", options.deadLetterQueueName],
      ]),
      graph(0, row(3), "Verify drift (items that differ)", "Maximum", [[ns, "DriftItems", ...pipeline]]),
      drillGraph(graph(WIDTH, row(3), "Restore drill: estimated full restore and the drill's own restore (s)", "Maximum", [
        [ns, "RestoreDrillEstimatedFullRestoreTime", ...pipeline, { label: "estimated full restore" }],
        [ns, "RestoreDrillDuration", ...pipeline, { label: "the drill's restore of its sample" }],
      ]), { horizontal: [{ label: `alarm above ${options.maxRestoreMinutes} min`, value: options.maxRestoreMinutes * 60 }] }),
      drillGraph(graph(2 * WIDTH, row(3), "Restore drill: items restored, items/s, mismatches, failed runs", "Maximum", [
        [ns, "RestoreDrillItemsRestored", ...pipeline],
        [ns, "RestoreDrillItemsPerSecond", ...pipeline],
        [ns, "RestoreDrillMismatches", ...pipeline],
        ["AWS/Events", "TriggeredRules", "RuleName", options.restoreDrillFailureRuleName, { stat: "Sum", label: "failed, timed out or stopped drills" }],
      ])),
      { type: "alarm", x: 0, y: row(4), width: 3 * WIDTH, height: HEIGHT, properties: { title: "Alarms", alarms: options.alarmArns() } },
    ],
  };
}
