import { Fn, Lazy } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { APPLY_DIMENSION, TRIGGER_DIMENSION } from "../../contracts";

/** The terminal Glue job run states that mean a run did not finish its work (STOPPED: stopped by someone). */
export const GLUE_FAILURE_STATES = ["FAILED", "TIMEOUT", "STOPPED", "ERROR"] as const;

export interface PipelineAlarmsOptions {
  readonly namePrefix: string;
  readonly accountId: string;
  readonly kmsKeyArn: string;
  readonly functionName: string;
  readonly deadLetterQueueName: string;
  readonly glueJobNames: string[];
  readonly iteratorAgeSeconds: number;
  /** The stack's own metrics (contracts/metrics.ts). */
  readonly metricsNamespace: string;
  readonly replicationLatencySeconds: number;
  readonly oldestPendingManifestAgeSeconds: number;
  readonly applyStalledMinutes: number;
  readonly email?: string;
}

/**
 * What pages the on-call: Lambda errors and throttles, stream iterator age, dead letters, failed
 * Glue runs, replication latency, the age of the oldest pending manifest and a stalled apply job,
 * all to one encrypted SNS topic.
 */
export class PipelineAlarms extends Construct {
  public readonly topic: SnsTopic;
  /** Every alarm that notifies the topic; the topic policy and the dashboard read it at synth. */
  public readonly alarms: CloudwatchMetricAlarm[] = [];
  /** The alarms' ARNs, resolved at synth: an alarm registered later (register()) is included. */
  public readonly alarmArns: string[] = Lazy.listValue({ produce: () => this.alarms.map((alarm) => alarm.arn) });
  /** The EventBridge rule that forwards failed Glue runs (its AWS/Events metrics count them). */
  public readonly glueFailureRule: CloudwatchEventRule;
  /** verify found drift (DriftItems > 0); its state is kept between the weekly runs. */
  public readonly verifyDrift: CloudwatchMetricAlarm;

  static topicName(namePrefix: string): string {
    return `${namePrefix}-alarms`;
  }

  constructor(scope: Construct, id: string, options: PipelineAlarmsOptions) {
    super(scope, id);
    const { namePrefix } = options;
    this.topic = new SnsTopic(this, "topic", { name: PipelineAlarms.topicName(namePrefix), kmsMasterKeyId: options.kmsKeyArn });
    const glueFailures = new CloudwatchEventRule(this, "glue-job-failed", {
      name: `${namePrefix}-glue-job-failed`,
      description: "A run of the replication Glue jobs failed, timed out or errored",
      // jsonencode, not JSON.stringify: the job names are references, and cdktf's HCL renderer
      // leaves the quotes of a JSON string with references unescaped, which HCL cannot parse.
      // (cdktf does not escape quotes inside function arguments either: every value here has none.)
      eventPattern: Fn.jsonencode({
        source: ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        detail: { jobName: options.glueJobNames, state: [...GLUE_FAILURE_STATES] },
      }),
    });
    this.glueFailureRule = glueFailures;
    new CloudwatchEventTarget(this, "glue-job-failed-target", { rule: glueFailures.name, arn: this.topic.arn });

    const register = (alarm: CloudwatchMetricAlarm) => this.register(alarm);
    const metric = (name: string, alarm: { description: string; namespace: string; metricName: string; statistic: string; dimensions: Record<string, string>; threshold: number }) =>
      register(new CloudwatchMetricAlarm(this, name, {
        alarmName: `${namePrefix}-${name}`,
        alarmDescription: alarm.description,
        namespace: alarm.namespace,
        metricName: alarm.metricName,
        statistic: alarm.statistic,
        dimensions: alarm.dimensions,
        period: 300,
        evaluationPeriods: 1,
        threshold: alarm.threshold,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [this.topic.arn],
        okActions: [this.topic.arn],
      }));
    const fn = { FunctionName: options.functionName };
    metric("change-trigger-errors", { description: "The change-trigger Lambda failed invocations", namespace: "AWS/Lambda", metricName: "Errors", statistic: "Sum", dimensions: fn, threshold: 1 });
    metric("change-trigger-throttles", { description: "The change-trigger Lambda was throttled", namespace: "AWS/Lambda", metricName: "Throttles", statistic: "Sum", dimensions: fn, threshold: 1 });
    metric("stream-iterator-age", {
      description: `Stream records wait longer than ${options.iteratorAgeSeconds} s to be processed`,
      namespace: "AWS/Lambda",
      metricName: "IteratorAge",
      statistic: "Maximum",
      dimensions: fn,
      threshold: options.iteratorAgeSeconds * 1000,
    });
    metric("dead-letters", {
      description: "Stream batches exhausted their retries and went to the dead-letter queue",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      statistic: "Maximum",
      dimensions: { QueueName: options.deadLetterQueueName },
      threshold: 1,
    });
    // No data means no apply run published (idle, or not running at all): the stalled-apply alarm
    // below covers a run that never comes, so these two stay quiet without data.
    const pipeline = { [APPLY_DIMENSION]: namePrefix };
    metric("replication-latency", {
      description: `A change took more than ${options.replicationLatencySeconds} s from its stream record to the backup`,
      namespace: options.metricsNamespace,
      metricName: "ReplicationLatency",
      statistic: "Maximum",
      dimensions: pipeline,
      threshold: options.replicationLatencySeconds,
    });
    metric("oldest-pending-manifest-age", {
      description: `A change manifest waited more than ${options.oldestPendingManifestAgeSeconds} s to be applied`,
      namespace: options.metricsNamespace,
      metricName: "OldestPendingManifestAge",
      statistic: "Maximum",
      dimensions: pipeline,
      threshold: options.oldestPendingManifestAgeSeconds,
    });
    this.stalledApplyAlarm(options, pipeline, register);

    // verify publishes once a run (weekly by default): the alarm keeps its state between runs
    // ("ignore": missing data keeps the current state) until a run without drift clears it.
    this.verifyDrift = register(new CloudwatchMetricAlarm(this, "verify-drift", {
      alarmName: `${namePrefix}-verify-drift`,
      alarmDescription: "verify found the backup different from the source (missing, extra or different items); see the newest report under verify/ in the bucket",
      namespace: options.metricsNamespace,
      metricName: "DriftItems",
      statistic: "Maximum",
      dimensions: pipeline,
      period: 3600,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "ignore",
      alarmActions: [this.topic.arn],
      okActions: [this.topic.arn],
    }));

    const policy = new DataAwsIamPolicyDocument(this, "topic-policy-document", {
      statement: [
        {
          sid: "CloudWatchAlarmsOfThisStack",
          principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          // Only this stack's alarms: CloudWatch publishes with the alarm's ARN as aws:SourceArn.
          condition: [
            { test: "StringEquals", variable: "aws:SourceAccount", values: [options.accountId] },
            { test: "ArnEquals", variable: "aws:SourceArn", values: this.alarmArns },
          ],
        },
        {
          sid: "GlueFailureRule",
          principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          condition: [{ test: "ArnEquals", variable: "aws:SourceArn", values: [glueFailures.arn] }],
        },
      ],
    });
    new SnsTopicPolicy(this, "topic-policy", { arn: this.topic.arn, policy: policy.json });
    if (options.email) {
      new SnsTopicSubscription(this, "email", { topicArn: this.topic.arn, protocol: "email", endpoint: options.email });
    }
  }

  /**
   * Adds an alarm of another construct (e.g. a job's own) to those the topic accepts and the
   * dashboard shows; its actions must name this.topic.
   */
  register(alarm: CloudwatchMetricAlarm): CloudwatchMetricAlarm {
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * Manifests were written (change-trigger) or found pending (apply-changes) and no apply-changes
   * run finished, in each of two consecutive halves of alarms.applyStalledMinutes. Two halves, not
   * one window: a manifest written just before a window ends is applied in the next one, and must
   * not look stalled. FILL turns a metric without data in a period into 0; when none of the three
   * has data (an idle pipeline) the expression has none either, which is not breaching.
   */
  private stalledApplyAlarm(options: PipelineAlarmsOptions, pipeline: Record<string, string>, register: (alarm: CloudwatchMetricAlarm) => CloudwatchMetricAlarm): void {
    const period = Math.ceil(options.applyStalledMinutes / 2) * 60;
    const query = (id: string, metricName: string, stat: string, dimensions: Record<string, string>) => ({
      id,
      returnData: false,
      metric: { namespace: options.metricsNamespace, metricName, stat, period, dimensions },
    });
    register(
      new CloudwatchMetricAlarm(this, "apply-stalled", {
        alarmName: `${options.namePrefix}-apply-stalled`,
        alarmDescription: `Change manifests waited and no apply-changes run finished for ${2 * (period / 60)} minutes`,
        metricQuery: [
          query("pending", "ManifestsPending", "Maximum", pipeline),
          query("written", "ManifestBytes", "SampleCount", { [TRIGGER_DIMENSION]: options.functionName }),
          query("finished", "ApplyRunsFinished", "Sum", pipeline),
          {
            id: "stalled",
            label: "Manifests waiting, no apply run finished",
            expression: "IF((FILL(pending, 0) > 0 OR FILL(written, 0) > 0) AND FILL(finished, 0) == 0, 1, 0)",
            returnData: true,
          },
        ],
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [this.topic.arn],
        okActions: [this.topic.arn],
      }),
    );
  }
}
