/**
 * The function's metrics of one stream batch in CloudWatch's embedded metric format (EMF): one JSON
 * object that CloudWatch Logs turns into RecordsPerBatch, KeysPerBatch and ManifestBytes in the
 * stack's namespace (contracts/metrics.ts). No PutMetricData call and no IAM permission: the
 * function's log group carries them.
 *
 * Write the line with process.stdout.write(emfLine(...)), not console.log: with the function's JSON
 * log format, console.log wraps the text in Lambda's own JSON record and CloudWatch no longer sees
 * an EMF document (the EMF client library needed a fix for the same reason).
 */
import { TRIGGER_DIMENSION, TRIGGER_METRICS, type TriggerMetricName } from "../../contracts/metrics";

export interface BatchMetricsInput {
  /** Stream records in the batch. */
  readonly records: number;
  /** Distinct item keys written to the manifest. */
  readonly distinctKeys: number;
  /** Size of the manifest object written to S3. */
  readonly manifestBytes: number;
  /** The function's name (AWS_LAMBDA_FUNCTION_NAME): the FunctionName dimension the alarms and dashboard read. */
  readonly functionName?: string;
}

export interface EmfDocument {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: {
      readonly Namespace: string;
      readonly Dimensions: string[][];
      readonly Metrics: { readonly Name: TriggerMetricName; readonly Unit: string }[];
    }[];
  };
  readonly [member: string]: unknown;
}

/** The EMF document of one batch, in `namespace`, at `timestampMs` (epoch milliseconds). */
export function batchMetrics(namespace: string, input: BatchMetricsInput, timestampMs: number = Date.now()): EmfDocument {
  const values: Record<TriggerMetricName, number> = {
    RecordsPerBatch: count("records", input.records),
    KeysPerBatch: count("distinctKeys", input.distinctKeys),
    ManifestBytes: count("manifestBytes", input.manifestBytes),
  };
  const names = Object.keys(TRIGGER_METRICS) as TriggerMetricName[];
  // Without a function name the metrics carry no dimension (an empty dimension set), rather than a made-up one.
  const dimensions = input.functionName ? { [TRIGGER_DIMENSION]: input.functionName } : {};
  return {
    _aws: {
      Timestamp: Math.floor(timestampMs),
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: names.map((name) => ({ Name: name, Unit: TRIGGER_METRICS[name] })),
        },
      ],
    },
    ...dimensions,
    ...values,
  };
}

/** The document as the single line (with its newline) to write to standard output. */
export function emfLine(document: EmfDocument): string {
  return `${JSON.stringify(document)}\n`;
}

/**
 * What the handler calls once per batch that wrote a manifest (after the PutObject succeeded): the
 * stalled-apply alarm counts ManifestBytes samples as manifests written. Writes the batch's EMF line,
 * or nothing when metrics are off (namespace undefined, see metrics-config.ts). A metrics problem
 * never fails the batch: it is reported on stderr instead.
 */
export function publishBatchMetrics(
  namespace: string | undefined,
  input: BatchMetricsInput,
  write: (line: string) => void = (line) => void process.stdout.write(line),
): void {
  if (namespace === undefined) return;
  try {
    write(emfLine(batchMetrics(namespace, input)));
  } catch (error) {
    process.stderr.write(`change-trigger: batch metrics not written: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function count(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`batchMetrics: ${name} must be a whole number >= 0, got ${value}`);
  return value;
}
