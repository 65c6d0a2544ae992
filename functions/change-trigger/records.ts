/** Which stream records matter, and the distinct keys they name. */
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
}

/** A record that cannot be handled: it is reported as a batch item failure, never dropped. */
export interface MalformedRecord {
  readonly index: number;
  readonly eventID?: string;
  /** Absent when the record does not even carry one. */
  readonly sequenceNumber?: string;
  readonly reason: string;
}

export interface Selection {
  readonly selected: SelectedRecord[];
  /** Well-formed records that need no action (REMOVE under DELETE_POLICY=retain). */
  readonly skipped: number;
  readonly malformed: MalformedRecord[];
}

const EVENT_NAMES: readonly string[] = ["INSERT", "MODIFY", "REMOVE"];
const KEY_TYPES: readonly string[] = ["S", "N", "B"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

type Parsed =
  | { ok: true; eventName: StreamEventName; sequenceNumber: string; keys: AttributeMap; eventSourceArn: string }
  | { ok: false; sequenceNumber?: string; eventID?: string; reason: string };

/** The record's stream sequence number (a decimal string), if it carries a usable one. */
export function sequenceNumberOf(record: unknown): string | undefined {
  const data = isObject(record) && isObject(record.dynamodb) ? record.dynamodb : undefined;
  const seq = data?.SequenceNumber;
  return typeof seq === "string" && /^\d+$/.test(seq) ? seq : undefined;
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
  };
}

/**
 * Classifies every record of the batch: INSERT and MODIFY are selected, REMOVE too when deletes
 * are mirrored (otherwise skipped); anything that is not a usable DynamoDB stream record is
 * malformed.
 */
export function selectRecords(records: readonly unknown[], deletePolicy: DeletePolicy): Selection {
  const selected: SelectedRecord[] = [];
  const malformed: MalformedRecord[] = [];
  let skipped = 0;
  records.forEach((record, index) => {
    const parsed = parseRecord(record);
    if (!parsed.ok) {
      malformed.push({ index, sequenceNumber: parsed.sequenceNumber, eventID: parsed.eventID, reason: parsed.reason });
    } else if (parsed.eventName === "REMOVE" && deletePolicy === "retain") {
      skipped += 1;
    } else {
      selected.push({
        index,
        eventName: parsed.eventName,
        sequenceNumber: parsed.sequenceNumber,
        keys: parsed.keys,
        eventSourceArn: parsed.eventSourceArn,
      });
    }
  });
  return { selected, skipped, malformed };
}

/** The distinct keys of the selected records (exact typed comparison), sorted by canonical JSON. */
export function distinctKeys(selected: readonly SelectedRecord[]): AttributeMap[] {
  const byCanonical = new Map<string, AttributeMap>();
  for (const record of selected) byCanonical.set(canonicalJson(record.keys), record.keys);
  return [...byCanonical.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, keys]) => keys);
}
