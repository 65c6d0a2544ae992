/** Which stream records matter, the distinct keys they name, and the last images of removed items. */
import { canonicalJson } from "./canonical-json";
import type { DeletePolicy } from "./config";
import type { AttributeMap, StreamEventName } from "./types";

/** A well-formed record whose key goes into the manifest. */
export interface SelectedRecord {
  /** Position in the batch. */
  readonly index: number;
  readonly eventName: StreamEventName;
  readonly sequenceNumber: string;
  /** The key, rebuilt in canonical form: sorted attribute names, one S/N/B member each. */
  readonly keys: AttributeMap;
  readonly eventSourceArn: string;
  /**
   * A REMOVE's dynamodb.OldImage (the item's last state before the delete), kept only under
   * DELETE_POLICY=retain: the backup keeps that state.
   */
  readonly oldImage?: AttributeMap;
  /** dynamodb.ApproximateCreationDateTime (epoch seconds), when usable: names the manifest, dates a retained item. */
  readonly approximateCreationDateTime?: number;
  /** A REMOVE made by Time to Live, not by a writer (see timeToLiveDeletion). */
  readonly timeToLive?: true;
}

/** A record that cannot be handled: it is reported as a batch item failure, never dropped. */
export interface MalformedRecord {
  readonly index: number;
  readonly eventID?: string;
  /** Absent when the record does not even carry one. */
  readonly sequenceNumber?: string;
  readonly reason: string;
}

/** A REMOVE under DELETE_POLICY=retain without an OldImage (a stream not NEW_AND_OLD_IMAGES). */
export interface RemoveWithoutImage {
  readonly index: number;
  readonly eventID?: string;
  readonly sequenceNumber: string;
}

export interface Selection {
  /** Every well-formed record (INSERT, MODIFY and REMOVE, under both delete policies). */
  readonly selected: SelectedRecord[];
  readonly malformed: MalformedRecord[];
  /** Selected REMOVE records that should carry an OldImage (retain) and do not. */
  readonly removesWithoutImage: RemoveWithoutImage[];
}

/** One item deleted from the source whose last state the backup keeps (manifest field `removed`). */
export interface RemovedItem {
  readonly key: AttributeMap;
  /** Sequence number of the REMOVE record. */
  readonly sequenceNumber: string;
  /** The REMOVE record's dynamodb.OldImage. */
  readonly oldImage: AttributeMap;
  /**
   * The REMOVE record's dynamodb.ApproximateCreationDateTime (epoch seconds, as in the record): the
   * backup's retained item shows it as deletedAt. Absent when the record has none (or not a finite,
   * non-negative number): the time is audit information, and the apply job leaves deletedAt out.
   */
  readonly approximateCreationDateTime?: number;
  /**
   * The item expired (the table's Time to Live deleted it): the backup's retained item says so, and a
   * restore into the source never brings it back. Absent for a deletion a writer made.
   */
  readonly timeToLive?: true;
}

const EVENT_NAMES: readonly string[] = ["INSERT", "MODIFY", "REMOVE"];
const KEY_TYPES: readonly string[] = ["S", "N", "B"];
const VALUE_TYPES: readonly string[] = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

type Parsed =
  | {
      ok: true;
      eventName: StreamEventName;
      sequenceNumber: string;
      keys: AttributeMap;
      eventSourceArn: string;
      oldImage: unknown;
      approximateCreationDateTime?: number;
      timeToLive?: true;
      eventID?: string;
    }
  | { ok: false; sequenceNumber?: string; eventID?: string; reason: string };

/** The record's stream sequence number (a decimal string), if it carries a usable one. */
export function sequenceNumberOf(record: unknown): string | undefined {
  const data = isObject(record) && isObject(record.dynamodb) ? record.dynamodb : undefined;
  const seq = data?.SequenceNumber;
  return typeof seq === "string" && /^\d+$/.test(seq) ? seq : undefined;
}

/** ApproximateCreationDateTime when it is a usable time (finite epoch seconds from 1970 to 9999). */
function usableTime(value: unknown): { approximateCreationDateTime?: number } {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value < 253402300800
    ? { approximateCreationDateTime: value }
    : {};
}

/**
 * Whether a record is a Time to Live deletion: DynamoDB API Reference, Streams Record.userIdentity,
 * "Items that are deleted by the Time to Live process after expiration have ... userIdentity.type
 * "Service", userIdentity.principalId "dynamodb.amazonaws.com"".
 */
function timeToLiveDeletion(record: Record<string, unknown>): { timeToLive?: true } {
  const identity = record.userIdentity;
  return record.eventName === "REMOVE" && isObject(identity) && identity.type === "Service" && identity.principalId === "dynamodb.amazonaws.com"
    ? { timeToLive: true }
    : {};
}

function parseRecord(record: unknown): Parsed {
  if (!isObject(record)) return { ok: false, reason: "record is not an object" };
  const data = isObject(record.dynamodb) ? record.dynamodb : undefined;
  const sequenceNumber = sequenceNumberOf(record);
  const eventID = typeof record.eventID === "string" ? record.eventID : undefined;
  const fail = (reason: string): Parsed => ({ ok: false, sequenceNumber, eventID, reason });

  if (record.eventSource !== "aws:dynamodb") {
    return fail(`eventSource is ${JSON.stringify(record.eventSource) ?? "missing"}, not "aws:dynamodb"`);
  }
  if (data === undefined) return fail("no dynamodb section");
  if (sequenceNumber === undefined) return fail("no valid dynamodb.SequenceNumber");
  if (typeof record.eventName !== "string" || !EVENT_NAMES.includes(record.eventName)) {
    return fail(`unknown eventName ${JSON.stringify(record.eventName) ?? "(missing)"}`);
  }
  if (typeof record.eventSourceARN !== "string" || record.eventSourceARN === "") {
    return fail("no eventSourceARN");
  }
  const rawKeys = data.Keys;
  if (!isObject(rawKeys) || Object.keys(rawKeys).length === 0) return fail("no dynamodb.Keys");
  const keys: AttributeMap = {};
  for (const name of Object.keys(rawKeys).sort()) {
    const value = rawKeys[name];
    const types = isObject(value) ? Object.keys(value) : [];
    const type = types[0];
    if (types.length !== 1 || type === undefined || !KEY_TYPES.includes(type) || typeof (value as Record<string, unknown>)[type] !== "string") {
      return fail(`dynamodb.Keys.${name} is not a key attribute value (exactly one of S, N, B)`);
    }
    keys[name] = { [type]: (value as Record<string, string>)[type] };
  }
  return {
    ok: true,
    eventName: record.eventName as StreamEventName,
    sequenceNumber,
    keys,
    eventSourceArn: record.eventSourceARN,
    oldImage: data.OldImage,
    ...usableTime(data.ApproximateCreationDateTime),
    ...timeToLiveDeletion(record),
    eventID,
  };
}

/**
 * Why an OldImage cannot be kept as the item's last state, or undefined when it can: it must be
 * an item (an object of typed attribute values, exactly one known type member each) holding the
 * record's key attributes with the record's key values. Deeper levels are not inspected: they are
 * DynamoDB's own output, and the apply job writes them with DynamoDB's validation.
 */
function oldImageProblem(image: unknown, keys: AttributeMap): string | undefined {
  if (!isObject(image)) return "dynamodb.OldImage is not an object";
  for (const [name, value] of Object.entries(image)) {
    const types = isObject(value) ? Object.keys(value) : [];
    if (types.length !== 1 || !VALUE_TYPES.includes(types[0]!)) {
      return `dynamodb.OldImage.${name} is not an attribute value (exactly one of ${VALUE_TYPES.join(", ")})`;
    }
  }
  for (const [name, value] of Object.entries(keys)) {
    if (image[name] === undefined || canonicalJson(image[name]) !== canonicalJson(value)) {
      return `dynamodb.OldImage does not hold the record's key attribute ${name} with its value`;
    }
  }
  return undefined;
}

/**
 * Classifies every record of the batch: every well-formed INSERT, MODIFY and REMOVE is selected
 * (its key is a dirty key under both delete policies); anything that is not a usable DynamoDB
 * stream record is malformed. Under `retain` a REMOVE also keeps its OldImage (the backup keeps
 * the item's last state); a REMOVE without one is still selected and listed in
 * removesWithoutImage; an OldImage that is not an item holding the record's key makes the record
 * malformed. Under `mirror` images are not used.
 */
export function selectRecords(records: readonly unknown[], deletePolicy: DeletePolicy): Selection {
  const selected: SelectedRecord[] = [];
  const malformed: MalformedRecord[] = [];
  const removesWithoutImage: RemoveWithoutImage[] = [];
  records.forEach((record, index) => {
    const parsed = parseRecord(record);
    if (!parsed.ok) {
      malformed.push({ index, sequenceNumber: parsed.sequenceNumber, eventID: parsed.eventID, reason: parsed.reason });
      return;
    }
    const { eventName, sequenceNumber, keys, eventSourceArn } = parsed;
    let oldImage: AttributeMap | undefined;
    if (eventName === "REMOVE" && deletePolicy === "retain") {
      if (parsed.oldImage === undefined) {
        removesWithoutImage.push({ index, eventID: parsed.eventID, sequenceNumber });
      } else {
        const problem = oldImageProblem(parsed.oldImage, keys);
        if (problem !== undefined) {
          malformed.push({ index, sequenceNumber, eventID: parsed.eventID, reason: problem });
          return;
        }
        oldImage = parsed.oldImage as AttributeMap;
      }
    }
    const time = parsed.approximateCreationDateTime !== undefined ? { approximateCreationDateTime: parsed.approximateCreationDateTime } : {};
    const expired = parsed.timeToLive ? { timeToLive: true as const } : {};
    selected.push({ index, eventName, sequenceNumber, keys, eventSourceArn, ...(oldImage !== undefined ? { oldImage } : {}), ...time, ...expired });
  });
  return { selected, malformed, removesWithoutImage };
}

const byCanonical = <T>(entries: Map<string, T>): T[] =>
  [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, value]) => value);

/** The distinct keys of the selected records (exact typed comparison), sorted by canonical JSON. */
export function distinctKeys(selected: readonly SelectedRecord[]): AttributeMap[] {
  const keys = new Map<string, AttributeMap>();
  for (const record of selected) keys.set(canonicalJson(record.keys), record.keys);
  return byCanonical(keys);
}

/**
 * The keys whose LAST selected record in the batch (batch order is stream order: sequence numbers
 * increase within a shard) is a REMOVE carrying a kept OldImage, with that image and the record's
 * sequence number (and time, when the record has one); sorted by the canonical JSON of the key. The
 * sequence number is what orders deletions of one item in the backup (the retained item's version). A key deleted and then written again
 * in the same batch has no entry: the apply job reads its current state.
 */
export function removedItems(selected: readonly SelectedRecord[]): RemovedItem[] {
  const last = new Map<string, SelectedRecord>();
  for (const record of selected) last.set(canonicalJson(record.keys), record);
  const removed = new Map<string, RemovedItem>();
  for (const [id, record] of last) {
    if (record.eventName === "REMOVE" && record.oldImage !== undefined) {
      const time = record.approximateCreationDateTime;
      removed.set(id, {
        key: record.keys,
        sequenceNumber: record.sequenceNumber,
        oldImage: record.oldImage,
        ...(time !== undefined ? { approximateCreationDateTime: time } : {}),
        ...(record.timeToLive ? { timeToLive: true as const } : {}),
      });
    }
  }
  return byCanonical(removed);
}
