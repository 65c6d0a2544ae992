import * as path from "node:path";
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { bundledFunctionAsset } from "../../build-tools/bundle-asset";
import type { EnvironmentConfig } from "../config/schema";
import { ServiceRole } from "../iam/service-role";
import { sourceKeyGrants } from "../iam/source-key-grants";
import { PROJECT_ROOT } from "../project-root";

const HANDLER_ENTRY = path.join(PROJECT_ROOT, "functions", "change-trigger", "handler.ts");
const FOURTEEN_DAYS = 14 * 24 * 3600;

export interface ChangeTriggerOptions {
  readonly functionName: string;
  readonly accountId: string;
  readonly region: string;
  readonly sourceStreamArn: string;
  /** Customer-managed key of an existing source table, whose stream records it decrypts. */
  readonly sourceKmsKeyArn?: string;
  /** Namespace of the embedded-metric-format records the function logs (METRICS_NAMESPACE). */
  readonly metricsNamespace: string;
  readonly manifestBucket: { readonly name: string; readonly arn: string };
  readonly manifestPrefix: string;
  readonly applyJob: { readonly name: string; readonly arn: string };
  readonly deletes: EnvironmentConfig["deletes"];
  readonly lambda: EnvironmentConfig["lambda"];
  readonly stream: EnvironmentConfig["stream"];
  readonly logRetentionDays: number;
  /** Customer-managed key for the log group and the dead-letter queue; AWS-managed encryption without one. */
  readonly kmsKeyArn?: string;
}

/** The stream consumer: event source mapping -> change-trigger Lambda -> manifest + apply job run. */
export class ChangeTrigger extends Construct {
  public readonly function: LambdaFunction;
  public readonly logGroup: CloudwatchLogGroup;
  public readonly deadLetterQueue: SqsQueue;
  public readonly eventSourceMapping: LambdaEventSourceMapping;
  public readonly role: ServiceRole;

  constructor(scope: Construct, id: string, options: ChangeTriggerOptions) {
    super(scope, id);
    const { functionName } = options;
    this.logGroup = new CloudwatchLogGroup(this, "logs", {
      name: `/aws/lambda/${functionName}`,
      retentionInDays: options.logRetentionDays,
      kmsKeyId: options.kmsKeyArn,
    });
    this.deadLetterQueue = new SqsQueue(this, "dead-letters", {
      name: deadLetterQueueName(functionName),
      messageRetentionSeconds: FOURTEEN_DAYS,
      ...(options.kmsKeyArn ? { kmsMasterKeyId: options.kmsKeyArn } : { sqsManagedSseEnabled: true }),
    });
    this.role = new ServiceRole(this, "role", {
      roleName: functionName,
      servicePrincipal: "lambda.amazonaws.com",
      sourceAccount: options.accountId,
      grants: [
        {
          sid: "ReadSourceStream",
          actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
          resources: [options.sourceStreamArn],
        },
        {
          // ListStreams has no resource-level permissions: IAM only accepts "*" for it.
          sid: "ListStreams",
          actions: ["dynamodb:ListStreams"],
          resources: ["*"],
        },
        {
          sid: "WriteOwnLogs",
          actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
          resources: [`${this.logGroup.arn}:log-stream:*`],
        },
        {
          sid: "WriteChangeManifests",
          actions: ["s3:PutObject"],
          resources: [`${options.manifestBucket.arn}/${options.manifestPrefix}*`],
        },
        {
          // The sweep asks whether anything is pending (ListObjectsV2 of the manifest prefix, one key).
          sid: "ListPendingManifests",
          actions: ["s3:ListBucket"],
          resources: [options.manifestBucket.arn],
          conditions: [{ test: "StringEquals", variable: "s3:prefix", values: [options.manifestPrefix] }],
        },
        {
          sid: "StartApplyJob",
          actions: ["glue:GetJobRuns", "glue:StartJobRun"],
          resources: [options.applyJob.arn],
        },
        {
          sid: "SendFailedBatchesToDeadLetterQueue",
          actions: ["sqs:SendMessage"],
          resources: [this.deadLetterQueue.arn],
        },
        ...sourceKeyGrants(options.region, options.sourceKmsKeyArn),
      ],
    });
    const bundle = bundledFunctionAsset(this, "bundle", "change-trigger.zip", {
      projectRoot: PROJECT_ROOT,
      entry: HANDLER_ENTRY,
      runtime: options.lambda.runtime,
    });
    this.function = new LambdaFunction(this, "function", {
      functionName,
      description: "Writes the changed keys of each stream batch to a manifest and starts the apply-changes Glue job; sweeps for pending manifests",
      role: this.role.role.arn,
      runtime: options.lambda.runtime,
      architectures: [options.lambda.architecture],
      handler: bundle.handler,
      filename: bundle.asset.path,
      sourceCodeHash: bundle.sha256Base64,
      memorySize: options.lambda.memoryMb,
      timeout: options.lambda.timeoutSeconds,
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      environment: {
        variables: {
          ...options.lambda.environment,
          MANIFEST_BUCKET: options.manifestBucket.name,
          MANIFEST_PREFIX: options.manifestPrefix,
          APPLY_JOB_NAME: options.applyJob.name,
          DELETE_POLICY: options.deletes,
          METRICS_NAMESPACE: options.metricsNamespace,
        },
      },
      dependsOn: [this.logGroup, this.role.policy],
    });
    // REMOVE under both policies: mirror deletes the backup item, retain keeps its last image (OldImage).
    const eventNames = ["INSERT", "MODIFY", "REMOVE"];
    this.eventSourceMapping = new LambdaEventSourceMapping(this, "stream-mapping", {
      eventSourceArn: options.sourceStreamArn,
      functionName: this.function.arn,
      startingPosition: "TRIM_HORIZON",
      batchSize: options.stream.batchSize,
      maximumBatchingWindowInSeconds: options.stream.batchingWindowSeconds,
      parallelizationFactor: options.stream.parallelizationFactor,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: options.stream.maximumRetryAttempts,
      maximumRecordAgeInSeconds: options.stream.maximumRecordAgeSeconds,
      functionResponseTypes: ["ReportBatchItemFailures"],
      filterCriteria: { filter: [{ pattern: JSON.stringify({ eventName: eventNames }) }] },
      destinationConfig: { onFailure: { destinationArn: this.deadLetterQueue.arn } },
      dependsOn: [this.role.policy],
    });
  }
}

/** The change-trigger function's dead-letter queue, named after it (restore checks it by name). */
export function deadLetterQueueName(functionName: string): string {
  return `${functionName}-dlq`;
}
