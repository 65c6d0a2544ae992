/**
 * The message Lambda's event source mapping sends to the on-failure destination (the dead-letter
 * queue) when a stream batch exhausts its retries: an "invocation record" naming the shard and the
 * sequence-number range of the discarded records, not the records themselves (AWS Lambda Developer
 * Guide, "Retain discarded records for a DynamoDB event source"; __tests__/reference holds its example).
 */

/** The discarded range, from DDBStreamBatchInfo. */
export interface DiscardedBatch {
  readonly streamArn: string;
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  /** When the first record reached the stream (ISO-8601), if the record says. */
  readonly approximateArrivalOfFirstRecord?: string;
}

export class InvocationRecordError extends Error {
  override readonly name = "InvocationRecordError";
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The discarded batch an invocation record names; throws InvocationRecordError saying what is missing. */
export function parseInvocationRecord(record: unknown, where = "message"): DiscardedBatch {
  const info = isObject(record) ? record.DDBStreamBatchInfo : undefined;
  if (!isObject(info)) throw new InvocationRecordError(`${where}: no DDBStreamBatchInfo (is it a DynamoDB stream on-failure record of this pipeline's event source mapping?)`);
  const text = (name: string, pattern: RegExp, what: string): string => {
    const value = info[name];
    if (typeof value !== "string" || !pattern.test(value)) throw new InvocationRecordError(`${where}: DDBStreamBatchInfo.${name} must be ${what}, got ${JSON.stringify(value)}`);
    return value;
  };
  const batch: DiscardedBatch = {
    streamArn: text("streamArn", /^arn:[\w-]+:dynamodb:[\w-]*:\d*:table\/[\w.-]+\/stream\/.+$/, "a DynamoDB stream ARN"),
    shardId: text("shardId", /^\S+$/, "a shard id"),
    startSequenceNumber: text("startSequenceNumber", /^\d{1,40}$/, "a sequence number (digits)"),
    endSequenceNumber: text("endSequenceNumber", /^\d{1,40}$/, "a sequence number (digits)"),
    batchSize: typeof info.batchSize === "number" ? info.batchSize : 0,
    ...(typeof info.approximateArrivalOfFirstRecord === "string" ? { approximateArrivalOfFirstRecord: info.approximateArrivalOfFirstRecord } : {}),
  };
  if (BigInt(batch.endSequenceNumber) < BigInt(batch.startSequenceNumber)) {
    throw new InvocationRecordError(`${where}: endSequenceNumber ${batch.endSequenceNumber} is before startSequenceNumber ${batch.startSequenceNumber}`);
  }
  return batch;
}

/**
 * The invocation records of a file: one record, a list of them, or what
 * `aws sqs receive-message --output json` prints ({"Messages": [{"Body": "<record JSON>", ...}]}).
 */
export function invocationRecordsOf(document: unknown): { record: unknown; where: string; receiptHandle?: string }[] {
  if (Array.isArray(document)) return document.map((record, i) => ({ record, where: `record ${i}` }));
  if (isObject(document) && Array.isArray(document.Messages)) {
    return document.Messages.map((message: unknown, i) => {
      const body = isObject(message) ? message.Body : undefined;
      if (typeof body !== "string") throw new InvocationRecordError(`Messages[${i}] has no Body`);
      let record: unknown;
      try {
        record = JSON.parse(body);
      } catch {
        throw new InvocationRecordError(`Messages[${i}].Body is not JSON`);
      }
      const receiptHandle = isObject(message) && typeof message.ReceiptHandle === "string" ? message.ReceiptHandle : undefined;
      return { record, where: `Messages[${i}]`, ...(receiptHandle ? { receiptHandle } : {}) };
    });
  }
  return [{ record: document, where: "message" }];
}
