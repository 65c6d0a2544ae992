import { Fn } from "cdktf";
import { Construct } from "constructs";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";

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
  /** Where verify publishes its counts (Drift, by backup table). */
  readonly verifyDrift: { readonly namespace: string; readonly backupTableName: string };
  readonly email?: string;
}

/**
 * What pages the on-call: Lambda errors and throttles, stream iterator age, dead letters, and
 * failed Glue runs, all to one encrypted SNS topic.
 */
export class PipelineAlarms extends Construct {
  public readonly topic: SnsTopic;
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
    new CloudwatchEventTarget(this, "glue-job-failed-target", { rule: glueFailures.name, arn: this.topic.arn });

    const metric = (name: string, alarm: { description: string; namespace: string; metricName: string; statistic: string; dimensions: Record<string, string>; threshold: number }) =>
      new CloudwatchMetricAlarm(this, name, {
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
      });
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

    // verify publishes once a run (weekly by default): the alarm keeps its state between runs
    // ("ignore": missing data keeps the current state) until a run without drift clears it.
    this.verifyDrift = new CloudwatchMetricAlarm(this, "verify-drift", {
      alarmName: `${namePrefix}-verify-drift`,
      alarmDescription: "verify found the backup different from the source (missing, extra or different items); see the newest report under verify/ in the bucket",
      namespace: options.verifyDrift.namespace,
      metricName: "Drift",
      statistic: "Maximum",
      dimensions: { BackupTable: options.verifyDrift.backupTableName },
      period: 3600,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "ignore",
      alarmActions: [this.topic.arn],
      okActions: [this.topic.arn],
    });

    const policy = new DataAwsIamPolicyDocument(this, "topic-policy-document", {
      statement: [
        {
          sid: "CloudWatchAlarmsOfThisAccount",
          principals: [{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }],
          actions: ["sns:Publish"],
          resources: [this.topic.arn],
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [options.accountId] }],
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
}
