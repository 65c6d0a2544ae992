/**
 * The few Lambda / DynamoDB Streams shapes the handler needs (`@types/aws-lambda` is not a
 * dependency). Field names and nesting follow the events Lambda delivers for a DynamoDB stream.
 */

/** A DynamoDB attribute value in the low-level (typed JSON) form; exactly one member is set. */
export interface AttributeValue {
  S?: string;
  N?: string;
  /** base64 in stream events */
  B?: string;
  SS?: string[];
  NS?: string[];
  BS?: string[];
  M?: { [name: string]: AttributeValue };
  L?: AttributeValue[];
  BOOL?: boolean;
  NULL?: boolean;
}

export type AttributeMap = { [name: string]: AttributeValue };

export type StreamEventName = "INSERT" | "MODIFY" | "REMOVE";

export interface StreamRecordData {
  ApproximateCreationDateTime?: number;
  Keys?: AttributeMap;
  NewImage?: AttributeMap;
  OldImage?: AttributeMap;
  SequenceNumber?: string;
  SizeBytes?: number;
  StreamViewType?: "KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES";
}

export interface DynamoDBStreamRecord {
  eventID?: string;
  eventName?: StreamEventName;
  eventVersion?: string;
  eventSource?: string;
  awsRegion?: string;
  dynamodb?: StreamRecordData;
  eventSourceARN?: string;
  userIdentity?: unknown;
}

export interface DynamoDBStreamEvent {
  Records: DynamoDBStreamRecord[];
}

/** Lambda's ReportBatchItemFailures response; itemIdentifier is a stream sequence number. */
export interface StreamBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}
