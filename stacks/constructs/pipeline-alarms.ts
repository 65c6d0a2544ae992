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
  /** Names the topic (`<prefix>-alarms`), the rule and every alarm (`<prefix>-<alarm>`), and the pipeline's metric dimension. */
  readonly namePrefix: string;
  /** The only account whose alarms may publish to the topic. */
  readonly accountId: string;
  /** The stack's key: always encrypts the topic (CloudWatch cannot publish under the AWS-managed SNS key). */
  readonly kmsKeyArn: string;
  /** The change-trigger function, whose errors, throttles and iterator age page. */
  readonly functionName: string;
  /** The change-trigger's dead-letter queue: any message in it pages. */
  readonly deadLetterQueueName: string;
  /** The Glue jobs whose failed runs page (through one rule). */
  readonly glueJobNames: string[];
  /** The restore drill: its failed runs page through a rule of their own; so does a restore estimated too long. */
  readonly restoreDrill: { readonly jobName: string; readonly maxRestoreMinutes: number };
  /** alarms.iteratorAgeSeconds: how long a stream record may wait. */
  readonly iteratorAgeSeconds: number;
  /** The stack's own metrics (contracts/metrics.ts). */
  readonly metricsNamespace: string;
  /** alarms.replicationLatencySeconds: how long a change may take to reach the backup. */
  readonly replicationLatencySeconds: number;
  /** alarms.oldestPendingManifestAgeSeconds: how long a manifest may wait to be applied. */
  readonly oldestPendingManifestAgeSeconds: number;
  /** The stalled-apply window (stalledApplyMinutes of the configuration). */
  readonly applyStalledMinutes: number;
  /** Subscribed to the topic. Default: no subscription. */
  readonly email?: string;
}

/** One metric compared with a threshold: what thresholdAlarm() watches. */
interface MetricThreshold {
  readonly namespace: string;
  readonly metricName: string;
  readonly statistic: string;
  readonly dimensions: Record<string, string>;
  readonly threshold: number;
}

/**
 * What pages the on-call: Lambda errors and throttles, stream iterator age, dead letters, failed
 * Glue runs, replication latency, the age of the oldest pending manifest, a stalled apply job, drift,
 * and restore drills that failed or estimate a restore too long, all to one encrypted SNS topic.
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
  /** The EventBridge rule that forwards the restore drill's failed runs (a mismatch fails a run). */
  public readonly restoreDrillFailureRule: CloudwatchEventRule;
  /** A restore drill estimated a full restore longer than restoreDrill.maxRestoreMinutes; kept between runs. */
  public readonly restoreDrillSlow: CloudwatchMetricAlarm;

  static topicName(namePrefix: string): string {
    return `${namePrefix}-alarms`;
  }

  constructor(scope: Construct, id: string, private readonly options: PipelineAlarmsOptions) {
    super(scope, id);
    this.topic = new SnsTopic(this, "topic", { name: PipelineAlarms.topicName(options.namePrefix), kmsMasterKeyId: options.kmsKeyArn });
    this.glueFailureRule = this.forwardGlueFailures("glue-job-failed", "A run of the replication Glue jobs failed, timed out or errored", options.glueJobNames);
    // Apart from the other jobs' rule: a failed drill is a restore that did not prove itself, not a
    // replication problem, and its notification says so by its rule's name.
    this.restoreDrillFailureRule = this.forwardGlueFailures(
      "restore-drill-failed",
      "A restore drill failed (what it restored did not match the backup, its table was left behind), timed out or errored; see the newest report under restore-drill/ in the bucket",
      [options.restoreDrill.jobName],
    );
    this.changeTriggerAlarms();
    this.deadLetterAlarm();
    this.replicationAlarms();
    this.stalledApplyAlarm();
    this.verifyDrift = this.onceARunAlarm(
      "verify-drift",
      "verify found the backup different from the source (missing, extra or different items); see the newest report under verify/ in the bucket",
      "DriftItems",
      0,
    );
    const { maxRestoreMinutes } = options.restoreDrill;
    this.restoreDrillSlow = this.onceARunAlarm(
      "restore-drill-slow",
      `A restore drill estimated a full restore of the backup longer than ${maxRestoreMinutes} minutes; see the newest report under restore-drill/ in the bucket`,
      "RestoreDrillEstimatedFullRestoreTime",
      maxRestoreMinutes * 60,
    );
    this.acceptPublishers();
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

  /** Failed, timed-out, stopped or errored runs of these Glue jobs, sent to the topic by EventBridge. */
  private forwardGlueFailures(name: string, description: string, jobNames: string[]): CloudwatchEventRule {
    const rule = new CloudwatchEventRule(this, name, {
      name: `${this.options.namePrefix}-${name}`,
      description,
      // jsonencode, not JSON.stringify: the job names are references, and cdktf's HCL renderer
      // leaves the quotes of a JSON string with references unescaped, which HCL cannot parse.
      // (cdktf does not escape quotes inside function arguments either: every value here has none.)
      eventPattern: Fn.jsonencode({
        source: ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        detail: { jobName: jobNames, state: [...GLUE_FAILURE_STATES] },
      }),
    });
    new CloudwatchEventTarget(this, `${name}-target`, { rule: rule.name, arn: this.topic.arn });
    return rule;
  }

  /** The change-trigger function fails, is throttled, or falls behind the stream (AWS/Lambda). */
  private changeTriggerAlarms(): void {
    const { functionName, iteratorAgeSeconds } = this.options;
    const lambda = (metricName: string, statistic: string, threshold: number): MetricThreshold => ({
      namespace: "AWS/Lambda",
      metricName,
      statistic,
      dimensions: { FunctionName: functionName },
      threshold,
    });
    this.thresholdAlarm("change-trigger-errors", "The change-trigger Lambda failed invocations", lambda("Errors", "Sum", 1));
    this.thresholdAlarm("change-trigger-throttles", "The change-trigger Lambda was throttled", lambda("Throttles", "Sum", 1));
    this.thresholdAlarm(
      "stream-iterator-age",
      `Stream records wait longer than ${iteratorAgeSeconds} s to be processed`,
      lambda("IteratorAge", "Maximum", iteratorAgeSeconds * 1000),
    );
  }

  /** A stream batch exhausted its retries: a message in the dead-letter queue (AWS/SQS). */
  private deadLetterAlarm(): void {
    this.thresholdAlarm("dead-letters", "Stream batches exhausted their retries and went to the dead-letter queue", {
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      statistic: "Maximum",
      dimensions: { QueueName: this.options.deadLetterQueueName },
      threshold: 1,
    });
  }

  /**
   * Changes reach the backup late, or manifests wait long, by the apply runs' own metrics. No data
   * means no apply run published (idle, or not running at all): the stalled-apply alarm covers a
   * run that never comes, so these two stay quiet without data.
   */
  private replicationAlarms(): void {
    const { replicationLatencySeconds, oldestPendingManifestAgeSeconds } = this.options;
    const maximum = (metricName: string, threshold: number): MetricThreshold => ({
      namespace: this.options.metricsNamespace,
      metricName,
      statistic: "Maximum",
      dimensions: this.pipeline,
      threshold,
    });
    this.thresholdAlarm(
      "replication-latency",
      `A change took more than ${replicationLatencySeconds} s from its stream record to the backup`,
      maximum("ReplicationLatency", replicationLatencySeconds),
    );
    this.thresholdAlarm(
      "oldest-pending-manifest-age",
      `A change manifest waited more than ${oldestPendingManifestAgeSeconds} s to be applied`,
      maximum("OldestPendingManifestAge", oldestPendingManifestAgeSeconds),
    );
  }

  /**
   * Manifests were written (change-trigger) or found pending (apply-changes) and no apply-changes
   * run finished, in each of two consecutive halves of alarms.applyStalledMinutes. Two halves, not
   * one window: a manifest written just before a window ends is applied in the next one, and must
   * not look stalled. FILL turns a metric without data in a period into 0; when none of the three
   * has data (an idle pipeline) the expression has none either, which is not breaching.
   */
  private stalledApplyAlarm(): void {
    const { namePrefix, metricsNamespace, functionName } = this.options;
    const period = Math.ceil(this.options.applyStalledMinutes / 2) * 60;
    const query = (id: string, metricName: string, stat: string, dimensions: Record<string, string>) => ({
      id,
      returnData: false,
      metric: { namespace: metricsNamespace, metricName, stat, period, dimensions },
    });
    this.register(
      new CloudwatchMetricAlarm(this, "apply-stalled", {
        alarmName: `${namePrefix}-apply-stalled`,
        alarmDescription: `Change manifests waited and no apply-changes run finished for ${2 * (period / 60)} minutes`,
        metricQuery: [
          query("pending", "ManifestsPending", "Maximum", this.pipeline),
          query("written", "ManifestBytes", "SampleCount", { [TRIGGER_DIMENSION]: functionName }),
          query("finished", "ApplyRunsFinished", "Sum", this.pipeline),
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
        ...this.notifications,
      }),
    );
  }

  /**
   * An alarm on a metric a scheduled job publishes once a run (verify, the restore drill: weekly by
   * default), above a threshold: it keeps its state between runs ("ignore": missing data keeps the
   * current state) until a run below the threshold clears it.
   */
  private onceARunAlarm(name: string, description: string, metricName: string, threshold: number): CloudwatchMetricAlarm {
    return this.register(
      new CloudwatchMetricAlarm(this, name, {
        alarmName: `${this.options.namePrefix}-${name}`,
        alarmDescription: description,
        namespace: this.options.metricsNamespace,
        metricName,
        statistic: "Maximum",
        dimensions: this.pipeline,
        period: 3600,
        evaluationPeriods: 1,
        threshold,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "ignore",
        ...this.notifications,
      }),
    );
  }

  /** The topic accepts this stack's alarms (CloudWatch) and the Glue failure rules (EventBridge), nothing else. */
  private acceptPublishers(): void {
    const policy = new DataAwsIamPolicyDocument(this, "topic-policy-document", {
      statement: [
        {
          sid: "CloudWatchAlarmsOfThisStack",
          principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          // Only this stack's alarms: CloudWatch publishes with the alarm's ARN as aws:SourceArn.
          condition: [
            { test: "StringEquals", variable: "aws:SourceAccount", values: [this.options.accountId] },
            { test: "ArnEquals", variable: "aws:SourceArn", values: this.alarmArns },
          ],
        },
        {
          sid: "GlueFailureRule",
          principals: [{ type: "Service", identifiers: ["events.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          condition: [{ test: "ArnEquals", variable: "aws:SourceArn", values: [this.glueFailureRule.arn, this.restoreDrillFailureRule.arn] }],
        },
      ],
    });
    new SnsTopicPolicy(this, "topic-policy", { arn: this.topic.arn, policy: policy.json });
  }

  /**
   * A 5-minute alarm at or above a threshold, named `<prefix>-<name>`, quiet without data. Its
   * construct id is the name, so the resource's logical id stays the one Terraform state knows.
   */
  private thresholdAlarm(name: string, description: string, metric: MetricThreshold): CloudwatchMetricAlarm {
    return this.register(
      new CloudwatchMetricAlarm(this, name, {
        alarmName: `${this.options.namePrefix}-${name}`,
        alarmDescription: description,
        ...metric,
        period: 300,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...this.notifications,
      }),
    );
  }

  /** The stack's own metrics of this pipeline (the apply job's dimension). */
  private get pipeline(): Record<string, string> {
    return { [APPLY_DIMENSION]: this.options.namePrefix };
  }

  /** Every alarm tells the topic when it fires and when it clears. */
  private get notifications(): { alarmActions: string[]; okActions: string[] } {
    return { alarmActions: [this.topic.arn], okActions: [this.topic.arn] };
  }
}
