/**
 * The change manifest: its body (the contract read by the Glue job) and its name,
 * `<prefix><YYYYMMDDTHHMMSSZ>-<sequence number, 40 digits>-<sha256 of the body>.json`: the time and
 * sequence number of the batch's first record, so that S3's listing (UTF-8 binary order) is time
 * order and the apply job reads only the first page(s) it needs; the hash, so that a retried batch
 * writes the same name again. glue-job/backup_replication/manifest_format.py reads the same form.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json";
import { distinctKeys, removedItems, type RemovedItem, type SelectedRecord } from "./records";
import type { AttributeMap } from "./types";

/** Body of a manifest, format version 1. Do not change without changing the Glue job. */
export interface ManifestBody {
  readonly version: 1;
  /** Typed key maps, deduplicated, sorted by their canonical JSON. */
  readonly keys: AttributeMap[];
  /** Sorted distinct event names of the selected records. */
  readonly eventNames: string[];
  /** Sequence numbers of the first and last selected record (batch order is stream order). */
  readonly sequenceNumbers: { readonly first: string; readonly last: string };
  /** Number of selected records. */
  readonly records: number;
  readonly eventSourceArn: string;
  /**
   * Optional, present when the records carry it: the smallest and largest ApproximateCreationDateTime
   * (epoch seconds) of the selected records, for the apply job's replication latency.
   */
  readonly approximateCreationDateTime?: { readonly earliest: number; readonly latest: number };
  /**
   * Optional, present only when non-empty (DELETE_POLICY=retain): one entry per key whose last
   * selected record in the batch is a REMOVE carrying an OldImage, sorted by the canonical JSON
   * of the key: `{"key": <typed key>, "sequenceNumber": "<digits>", "oldImage": <typed item>}`, plus
   * `"approximateCreationDateTime": <epoch seconds>` when the REMOVE record carries it (optional: a
   * reader must accept entries with and without it), and `"timeToLive": true` when Time to Live deleted
   * the item. Every such key is also in `keys`. Lets the apply
   * job keep an item's last state in the backup even when the item was gone from the source before a
   * run read it; the sequence number versions that state, so the newest deletion wins in any order.
   */
  readonly removed?: RemovedItem[];
}

export interface Manifest {
  readonly key: string;
  readonly body: string;
  readonly content: ManifestBody;
}

/** Builds the manifest of a non-empty selection; the same selection always gives the same bytes. */
export function buildManifest(selected: readonly SelectedRecord[], prefix: string): Manifest {
  const first = selected[0];
  const last = selected[selected.length - 1];
  if (first === undefined || last === undefined) throw new Error("buildManifest: no selected record");
  const removed = removedItems(selected);
  const times = selected.flatMap((record) => (record.approximateCreationDateTime === undefined ? [] : [record.approximateCreationDateTime]));
  const span = times.length === 0 ? undefined : { earliest: Math.min(...times), latest: Math.max(...times) };
  const content: ManifestBody = {
    version: 1,
    keys: distinctKeys(selected),
    eventNames: [...new Set(selected.map((record) => record.eventName))].sort(),
    sequenceNumbers: { first: first.sequenceNumber, last: last.sequenceNumber },
    records: selected.length,
    eventSourceArn: first.eventSourceArn,
    ...(span !== undefined ? { approximateCreationDateTime: span } : {}),
    ...(removed.length > 0 ? { removed } : {}),
  };
  // Members in the contract's order; every key map in canonical JSON (sorted attribute names:
  // JSON.stringify would put integer-like names such as "10" first, in numeric order). The bytes
  // depend only on the content. Without removed items the field is absent, so such a batch gives
  // the same bytes (and name) as before the field existed.
  // The time, then the Time to Live flag, go last and only when present, so an entry without them has
  // the bytes it always had.
  const removedJson = (entry: RemovedItem): string =>
    `{"key":${canonicalJson(entry.key)},"sequenceNumber":${JSON.stringify(entry.sequenceNumber)},"oldImage":${canonicalJson(entry.oldImage)}` +
    (entry.approximateCreationDateTime === undefined ? "" : `,"approximateCreationDateTime":${JSON.stringify(entry.approximateCreationDateTime)}`) +
    (entry.timeToLive ? `,"timeToLive":true` : "") +
    "}";
  const body =
    `{"version":${content.version},` +
    `"keys":[${content.keys.map(canonicalJson).join(",")}],` +
    `"eventNames":${JSON.stringify(content.eventNames)},` +
    `"sequenceNumbers":${JSON.stringify({ first: content.sequenceNumbers.first, last: content.sequenceNumbers.last })},` +
    `"records":${content.records},` +
    `"eventSourceArn":${JSON.stringify(content.eventSourceArn)}` +
    (span === undefined ? "" : `,"approximateCreationDateTime":{"earliest":${JSON.stringify(span.earliest)},"latest":${JSON.stringify(span.latest)}}`) +
    (content.removed === undefined ? "" : `,"removed":[${content.removed.map(removedJson).join(",")}]`) +
    "}";
  const digest = createHash("sha256").update(body, "utf8").digest("hex");
  return { key: `${prefix}${manifestOrder(first.approximateCreationDateTime ?? span?.earliest ?? 0, first.sequenceNumber)}-${digest}.json`, body, content };
}

/** `<YYYYMMDDTHHMMSSZ>-<sequence number zero-padded to 40 digits>`: sorts as the records were written. */
export function manifestOrder(epochSeconds: number, sequenceNumber: string): string {
  const time = new Date(Math.floor(epochSeconds) * 1000).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  return `${time}-${sequenceNumber.padStart(40, "0")}`;
}
