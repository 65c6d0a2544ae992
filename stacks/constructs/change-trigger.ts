import * as path from "node:path";
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { bundledFunctionAsset } from "../../build-tools/bundle-asset";
import type { EnvironmentConfig } from "../config/schema";
import type { ArnReference, Grant } from "../iam/grant";
import { ServiceRole } from "../iam/service-role";
import { sourceKeyGrants } from "../iam/table-key-grants";
import { PROJECT_ROOT } from "../project-root";

const HANDLER_ENTRY = path.join(PROJECT_ROOT, "functions", "change-trigger", "handler.ts");
const FOURTEEN_DAYS = 14 * 24 * 3600;

export interface ChangeTriggerOptions {
  /** Names the function, its role, its log group and its dead-letter queue. */
  readonly functionName: string;
  /** The only account Lambda may assume the role for. */
  readonly accountId: string;
  /** Where the source table is (the source key is used through DynamoDB of this region only). */
  readonly region: string;
  /** The source table's stream, which the function consumes. */
  readonly sourceStreamArn: string;
  /** Customer-managed key of an existing source table, whose stream records it decrypts. Default: none to decrypt. */
  readonly sourceKmsKeyArn?: string;
  /** Namespace of the embedded-metric-format records the function logs (METRICS_NAMESPACE). */
  readonly metricsNamespace: string;
  /** The bucket the manifests are written to. */
  readonly manifestBucket: { readonly name: string; readonly arn: string };
  /** The key prefix of the manifests in that bucket (BUCKET_LAYOUT.manifests). */
  readonly manifestPrefix: string;
  /** The apply-changes job the function starts. */
  readonly applyJob: { readonly name: string; readonly arn: string };
  /** The delete policy, passed to the function (DELETE_POLICY). */
  readonly deletes: EnvironmentConfig["deletes"];
  /** Runtime, architecture, memory, timeout and extra environment of the function. */
  readonly lambda: EnvironmentConfig["lambda"];
  /** Batch size, batching window, retries, record age and parallelization of the event source mapping. */
  readonly stream: EnvironmentConfig["stream"];
  /** How long the function's logs are kept. */
  readonly logRetentionDays: number;
  /** Customer-managed key for the log group and the dead-letter queue. Default: AWS-managed encryption. */
  readonly kmsKeyArn?: string;
}

/** The stream consumer: event source mapping -> change-trigger Lambda -> manifest + apply job run. */
export class ChangeTrigger extends Construct {
  public readonly function: LambdaFunction;
  public readonly logGroup: CloudwatchLogGroup;
  public readonly deadLetterQueue: SqsQueue;
  public readonly eventSourceMapping: LambdaEventSourceMapping;
  public readonly role: ServiceRole;

  constructor(scope: Construct, id: string, private readonly options: ChangeTriggerOptions) {
    super(scope, id);
    this.logGroup = this.createLogGroup();
    this.deadLetterQueue = this.createDeadLetterQueue();
    this.role = this.createRole();
    this.function = this.createFunction();
    this.eventSourceMapping = this.mapStream();
  }

  /** The function's JSON logs, kept logRetentionDays. */
  private createLogGroup(): CloudwatchLogGroup {
    return new CloudwatchLogGroup(this, "logs", {
      name: `/aws/lambda/${this.options.functionName}`,
      retentionInDays: this.options.logRetentionDays,
      kmsKeyId: this.options.kmsKeyArn,
    });
  }

  /** The function writes its own log streams, and only those. */
  private writeLogsGrant(): Grant {
    return { sid: "WriteOwnLogs", actions: ["logs:CreateLogStream", "logs:PutLogEvents"], resources: [`${this.logGroup.arn}:log-stream:*`] };
  }

  /** Where a stream batch goes once its retries are exhausted; kept 14 days, the most SQS keeps. */
  private createDeadLetterQueue(): SqsQueue {
    const { functionName, kmsKeyArn } = this.options;
    return new SqsQueue(this, "dead-letters", {
      name: deadLetterQueueName(functionName),
      messageRetentionSeconds: FOURTEEN_DAYS,
      ...(kmsKeyArn ? { kmsMasterKeyId: kmsKeyArn } : { sqsManagedSseEnabled: true }),
    });
  }

  /** The event source mapping sends a failed batch's description to the queue with the function's role. */
  private sendDeadLettersGrant(): Grant {
    return { sid: "SendFailedBatchesToDeadLetterQueue", actions: ["sqs:SendMessage"], resources: [this.deadLetterQueue.arn] };
  }

  /** Exactly what the function and its event source mapping call, assumed by Lambda for this account only. */
  private createRole(): ServiceRole {
    const { functionName, accountId, applyJob } = this.options;
    return new ServiceRole(this, "role", {
      roleName: functionName,
      servicePrincipal: "lambda.amazonaws.com",
      sourceAccount: accountId,
      grants: [
        ...streamReadGrants(this.options.sourceStreamArn),
        this.writeLogsGrant(),
        ...manifestGrants(this.options.manifestBucket, this.options.manifestPrefix),
        { sid: "StartApplyJob", actions: ["glue:GetJobRuns", "glue:StartJobRun"], resources: [applyJob.arn] },
        this.sendDeadLettersGrant(),
        ...sourceKeyGrants(this.options.region, this.options.sourceKmsKeyArn),
      ],
    });
  }

  /** The bundled handler (functions/change-trigger), configured through its environment. */
  private createFunction(): LambdaFunction {
    const { functionName, lambda, manifestBucket, manifestPrefix } = this.options;
    const bundle = bundledFunctionAsset(this, "bundle", "change-trigger.zip", { projectRoot: PROJECT_ROOT, entry: HANDLER_ENTRY, runtime: lambda.runtime });
    return new LambdaFunction(this, "function", {
      functionName,
      description: "Writes the changed keys of each stream batch to a manifest and starts the apply-changes Glue job; sweeps for pending manifests",
      role: this.role.role.arn,
      runtime: lambda.runtime,
      architectures: [lambda.architecture],
      handler: bundle.handler,
      filename: bundle.asset.path,
      sourceCodeHash: bundle.sha256Base64,
      memorySize: lambda.memoryMb,
      timeout: lambda.timeoutSeconds,
      loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      environment: {
        variables: {
          ...lambda.environment,
          MANIFEST_BUCKET: manifestBucket.name,
          MANIFEST_PREFIX: manifestPrefix,
          APPLY_JOB_NAME: this.options.applyJob.name,
          DELETE_POLICY: this.options.deletes,
          METRICS_NAMESPACE: this.options.metricsNamespace,
        },
      },
      dependsOn: [this.logGroup, this.role.policy],
    });
  }

  /**
   * Feeds the source table's stream to the function from its oldest record, splitting a failing
   * batch and reporting failed items; a batch out of retries goes to the dead-letter queue.
   */
  private mapStream(): LambdaEventSourceMapping {
    const { sourceStreamArn, stream } = this.options;
    // REMOVE under both policies: mirror deletes the backup item, retain keeps its last image (OldImage).
    const eventNames = ["INSERT", "MODIFY", "REMOVE"];
    return new LambdaEventSourceMapping(this, "stream-mapping", {
      eventSourceArn: sourceStreamArn,
      functionName: this.function.arn,
      startingPosition: "TRIM_HORIZON",
      batchSize: stream.batchSize,
      maximumBatchingWindowInSeconds: stream.batchingWindowSeconds,
      parallelizationFactor: stream.parallelizationFactor,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: stream.maximumRetryAttempts,
      maximumRecordAgeInSeconds: stream.maximumRecordAgeSeconds,
      functionResponseTypes: ["ReportBatchItemFailures"],
      filterCriteria: { filter: [{ pattern: JSON.stringify({ eventName: eventNames }) }] },
      destinationConfig: { onFailure: { destinationArn: this.deadLetterQueue.arn } },
      dependsOn: [this.role.policy],
    });
  }
}

/** Reading the source table's stream: its records, and the stream list the Lambda service asks for. */
function streamReadGrants(streamArn: string): Grant[] {
  return [
    { sid: "ReadSourceStream", actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], resources: [streamArn] },
    // ListStreams has no resource-level permissions: IAM only accepts "*" for it.
    { sid: "ListStreams", actions: ["dynamodb:ListStreams"], resources: ["*"] },
  ];
}

/** Writing manifests under the prefix, and the sweep's question whether anything is pending there. */
function manifestGrants(bucket: ArnReference, prefix: string): Grant[] {
  return [
    { sid: "WriteChangeManifests", actions: ["s3:PutObject"], resources: [`${bucket.arn}/${prefix}*`] },
    {
      // The sweep asks whether anything is pending (ListObjectsV2 of the manifest prefix, one key).
      sid: "ListPendingManifests",
      actions: ["s3:ListBucket"],
      resources: [bucket.arn],
      conditions: [{ test: "StringEquals", variable: "s3:prefix", values: [prefix] }],
    },
  ];
}

/** The change-trigger function's dead-letter queue, named after it (restore checks it by name). */
export function deadLetterQueueName(functionName: string): string {
  return `${functionName}-dlq`;
}
