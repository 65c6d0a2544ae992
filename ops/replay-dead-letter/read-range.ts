/**
 * Reads the records of a discarded batch back from the stream while it still holds them (24 hours
 * on DynamoDB Streams): from the range's first sequence number, in shard order, until past its last.
 */
import {
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type _Record,
} from "@aws-sdk/client-dynamodb-streams";
import type { DiscardedBatch } from "./invocation-record";

/** The range is no longer in the stream: its records aged out, or the stream or shard is gone. */
export class RangeGoneError extends Error {
  override readonly name = "RangeGoneError";
}

/** Upper bound of GetRecords calls for one range (a batch is at most 10,000 records; a call returns up to 1,000). */
const MAX_CALLS = 1000;

/**
 * The records of [start, end] as Lambda delivers them (eventSourceARN added), in stream order.
 * Throws RangeGoneError when the stream no longer has them (or has only part of them: the first
 * record read is after the range's start).
 */
export async function readDiscardedRange(client: DynamoDBStreamsClient, batch: DiscardedBatch): Promise<Record<string, unknown>[]> {
  const start = BigInt(batch.startSequenceNumber);
  const end = BigInt(batch.endSequenceNumber);
  const records: Record<string, unknown>[] = [];
  try {
    let iterator = (
      await client.send(
        new GetShardIteratorCommand({
          StreamArn: batch.streamArn,
          ShardId: batch.shardId,
          ShardIteratorType: "AT_SEQUENCE_NUMBER",
          SequenceNumber: batch.startSequenceNumber,
        }),
      )
    ).ShardIterator;
    for (let calls = 0; iterator && calls < MAX_CALLS; calls += 1) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const record of page.Records ?? []) {
        const sequence = BigInt(record.dynamodb?.SequenceNumber ?? "0");
        if (sequence > end) return checked(records, start, batch);
        if (sequence >= start) records.push(asLambdaRecord(record, batch.streamArn));
      }
      // An open shard with nothing after the range yet: every record of the range has been read.
      if ((page.Records ?? []).length === 0 && records.length > 0) return checked(records, start, batch);
      iterator = page.NextShardIterator;
    }
  } catch (error) {
    if (error instanceof TrimmedDataAccessException || error instanceof ExpiredIteratorException || error instanceof ResourceNotFoundException) {
      throw new RangeGoneError(`${error.name}: ${error.message}`);
    }
    throw error;
  }
  return checked(records, start, batch);
}

function checked(records: Record<string, unknown>[], start: bigint, batch: DiscardedBatch): Record<string, unknown>[] {
  const first = records[0] as { dynamodb?: { SequenceNumber?: string } } | undefined;
  if (first === undefined || BigInt(first.dynamodb?.SequenceNumber ?? "0") !== start) {
    throw new RangeGoneError(`the stream no longer holds record ${batch.startSequenceNumber} of shard ${batch.shardId}`);
  }
  return records;
}

/** A typed value as the JSON of a stream event carries it: the SDK gives binary as bytes, Lambda as base64. */
function eventValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(eventValue);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, eventValue(inner)]));
  return value;
}

/** A Streams API record in the form Lambda delivers it: the same members, plus eventSourceARN. */
function asLambdaRecord(record: _Record, streamArn: string): Record<string, unknown> {
  const { ApproximateCreationDateTime, Keys, NewImage, OldImage, ...rest } = record.dynamodb ?? {};
  return {
    ...record,
    dynamodb: {
      // The SDK turns epoch seconds into a Date; Lambda's events carry the number.
      ...(ApproximateCreationDateTime instanceof Date ? { ApproximateCreationDateTime: ApproximateCreationDateTime.getTime() / 1000 } : {}),
      ...(Keys ? { Keys: eventValue(Keys) } : {}),
      ...(NewImage ? { NewImage: eventValue(NewImage) } : {}),
      ...(OldImage ? { OldImage: eventValue(OldImage) } : {}),
      ...rest,
    },
    eventSourceARN: streamArn,
  };
}
