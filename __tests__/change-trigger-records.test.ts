/** change-trigger's pure parts: configuration, record selection, key dedupe, manifest bytes. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { STREAM_EVENTS_DIR } from "./helpers/reference";
import { canonicalJson } from "../functions/change-trigger/canonical-json";
import { loadConfig } from "../functions/change-trigger/config";
import { buildManifest, manifestOrder } from "../functions/change-trigger/manifest";
import { distinctKeys, selectRecords } from "../functions/change-trigger/records";

const EVENTS_DIR = STREAM_EVENTS_DIR;
const readEvent = (name: string): { Records: Record<string, unknown>[] } => JSON.parse(fs.readFileSync(path.join(EVENTS_DIR, name), "utf8"));
const FIXTURES = fs.readdirSync(EVENTS_DIR).filter((name) => name.endsWith(".json")).sort();

const GOOD_ENV = { MANIFEST_BUCKET: "my-bucket", MANIFEST_PREFIX: "changes/", APPLY_JOB_NAME: "apply-changes", DELETE_POLICY: "retain" };

describe("loadConfig", () => {
  test("reads a valid environment", () => {
    expect(loadConfig({ ...GOOD_ENV, AWS_S3_FORCE_PATH_STYLE: "true" })).toEqual({
      manifestBucket: "my-bucket",
      manifestPrefix: "changes/",
      applyJobName: "apply-changes",
      deletePolicy: "retain",
      s3ForcePathStyle: true,
    });
    expect(loadConfig({ ...GOOD_ENV, DELETE_POLICY: "mirror" }).deletePolicy).toBe("mirror");
    expect(loadConfig(GOOD_ENV).s3ForcePathStyle).toBe(false);
  });

  test.each(["MANIFEST_BUCKET", "MANIFEST_PREFIX", "APPLY_JOB_NAME", "DELETE_POLICY"])("a missing %s is an error naming it", (name) => {
    const env: Record<string, string | undefined> = { ...GOOD_ENV };
    delete env[name];
    expect(() => loadConfig(env)).toThrow(new RegExp(`${name} is required`));
  });

  test.each([
    ["MANIFEST_BUCKET", "My_Bucket"],
    ["MANIFEST_PREFIX", "changes"],
    ["MANIFEST_PREFIX", "/changes/"],
    ["APPLY_JOB_NAME", "x".repeat(256)],
    ["APPLY_JOB_NAME", "bad\nname"],
    ["DELETE_POLICY", "delete"],
    ["AWS_S3_FORCE_PATH_STYLE", "yes"],
  ])("an invalid %s is an error naming it (%#)", (name, value) => {
    expect(() => loadConfig({ ...GOOD_ENV, [name]: value })).toThrow(new RegExp(`${name}=.* is invalid`));
  });
});

describe("canonicalJson", () => {
  test("sorts member names at every level, integer-like names included, and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" }, "10": true, "9": null })).toBe(
      '{"10":true,"9":null,"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe("selectRecords on the reference events", () => {
  test.each(FIXTURES)("%s: every record is well formed and selected under both policies; a REMOVE keeps its OldImage under retain only", (name) => {
    const { Records } = readEvent(name);
    const retain = selectRecords(Records, "retain");
    expect(retain.malformed).toEqual([]);
    expect(retain.removesWithoutImage).toEqual([]);
    expect(retain.selected.map((r) => r.index)).toEqual(Records.map((_, i) => i));
    retain.selected.forEach((selected, i) => {
      const record = Records[i] as { eventName: string; dynamodb: { OldImage?: unknown } };
      if (record.eventName === "REMOVE") expect(selected.oldImage).toEqual(record.dynamodb.OldImage);
      else expect(selected).not.toHaveProperty("oldImage");
    });
    const mirror = selectRecords(Records, "mirror");
    expect(mirror.malformed).toEqual([]);
    expect(mirror.removesWithoutImage).toEqual([]);
    expect(mirror.selected.map((r) => r.index)).toEqual(Records.map((_, i) => i));
    expect(mirror.selected.filter((r) => "oldImage" in r)).toEqual([]);
  });

  test("the AWS documentation example gives the documented manifest", () => {
    const { Records } = readEvent("aws-docs-example.json");
    const manifest = buildManifest(selectRecords(Records, "retain").selected, "changes/");
    const body =
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY"],' +
      '"sequenceNumbers":{"first":"111","last":"222"},"records":2,' +
      '"eventSourceArn":"arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2024-06-10T19:26:16.525"}';
    expect(manifest.body).toBe(body);
    // No ApproximateCreationDateTime in the example: the time part is the epoch, the sequence number still orders.
    expect(manifest.key).toBe(`changes/19700101T000000Z-${"111".padStart(40, "0")}-${createHash("sha256").update(body).digest("hex")}.json`);
  });

  test("INSERT, MODIFY, REMOVE of one key (aws-lambda-java-libs): under retain the exact body with the removed item; under mirror without", () => {
    const { Records } = readEvent("java-libs_tests_ddb_dynamo_event.json");
    const common =
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY","REMOVE"],' +
      '"sequenceNumbers":{"first":"4421584500000000017450439091","last":"4421584500000000017450439093"},"records":3,' +
      '"eventSourceArn":"arn:aws:dynamodb:eu-central-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"' +
      ',"approximateCreationDateTime":{"earliest":1428537600,"latest":1635734407.1234567}';
    // The file lists OldImage's "Message" before "Id": canonical JSON sorts them.
    const retainBody =
      common +
      ',"removed":[{"key":{"Id":{"N":"101"}},"sequenceNumber":"4421584500000000017450439093","oldImage":{"Id":{"N":"101"},"Message":{"S":"This item has changed"}},"approximateCreationDateTime":1428537600}]}';
    const retain = buildManifest(selectRecords(Records, "retain").selected, "changes/");
    expect(retain.body).toBe(retainBody);
    // Named after the first record: 2015-04-09T00:00:00Z, sequence number ...091.
    expect(retain.key).toBe(`changes/20150409T000000Z-${"4421584500000000017450439091".padStart(40, "0")}-${createHash("sha256").update(retainBody).digest("hex")}.json`);
    const removeRecord = Records[2] as { dynamodb: { OldImage: unknown } };
    expect(retain.content.removed).toEqual([
      { key: { Id: { N: "101" } }, sequenceNumber: "4421584500000000017450439093", oldImage: removeRecord.dynamodb.OldImage, approximateCreationDateTime: 1428537600 },
    ]);
    expect(JSON.parse(retain.body)).toEqual(retain.content);

    const mirror = buildManifest(selectRecords(Records, "mirror").selected, "changes/");
    expect(mirror.body).toBe(`${common}}`);
    expect(mirror.content).not.toHaveProperty("removed");
  });

  test("a Time to Live deletion (the userIdentity AWS documents for it) is marked timeToLive; a writer's deletion and an INSERT are not", () => {
    // The same AWS-authored batch, its REMOVE carrying the identity the file's INSERT carries: type
    // "Service", principalId "dynamodb.amazonaws.com", which the DynamoDB API Reference (Streams Record,
    // userIdentity) gives for items the Time to Live process deleted.
    const { Records } = readEvent("java-libs_tests_ddb_dynamo_event.json");
    const identity = (Records[0] as { userIdentity: unknown }).userIdentity;
    expect(identity).toEqual({ principalId: "dynamodb.amazonaws.com", type: "Service" });
    const expired = [Records[0], Records[1], { ...Records[2], userIdentity: identity }];
    const manifest = buildManifest(selectRecords(expired, "retain").selected, "changes/");
    expect(manifest.content.removed).toEqual([expect.objectContaining({ sequenceNumber: "4421584500000000017450439093", timeToLive: true })]);
    // The exact bytes glue-job/tests/test_manifest_format.py parses (the same vector on both sides).
    expect(manifest.body).toBe(
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY","REMOVE"],' +
        '"sequenceNumbers":{"first":"4421584500000000017450439091","last":"4421584500000000017450439093"},' +
        '"records":3,"eventSourceArn":"arn:aws:dynamodb:eu-central-1:123456789012:table/ExampleTableWithStream/' +
        'stream/2015-06-27T00:48:05.899","approximateCreationDateTime":{"earliest":1428537600,' +
        '"latest":1635734407.1234567},"removed":[{"key":{"Id":{"N":"101"}},"sequenceNumber":' +
        '"4421584500000000017450439093","oldImage":{"Id":{"N":"101"},"Message":{"S":"This item has changed"}},' +
        '"approximateCreationDateTime":1428537600,"timeToLive":true}]}',
    );
    expect(JSON.parse(manifest.body)).toEqual(manifest.content);
    // Another principal, or no identity: a deletion made by a writer.
    const other = [Records[0], Records[1], { ...Records[2], userIdentity: { type: "Service", principalId: "other.amazonaws.com" } }];
    expect(buildManifest(selectRecords(other, "retain").selected, "changes/").body).not.toContain("timeToLive");
  });

  test("a REMOVE followed by an INSERT of another key (aws-lambda-java-libs event model): the removed item is listed", () => {
    const { Records } = readEvent("java-libs_event_models_dynamodb_event.json");
    const manifest = buildManifest(selectRecords(Records, "retain").selected, "changes/");
    expect(manifest.content.keys).toEqual([{ Id: { N: "101" } }, { Id: { N: "147" } }]);
    expect(manifest.content.removed).toEqual([{ key: { Id: { N: "101" } }, sequenceNumber: "333", oldImage: { Message: { S: "This item has changed" }, Id: { N: "101" } } }]);
  });

  test("composite keys from aws-lambda-go are rebuilt with sorted attribute names", () => {
    const { Records } = readEvent("aws-lambda-go_dynamodb-event.json");
    const keys = distinctKeys(selectRecords(Records, "retain").selected);
    // Both records name the same key; the file lists "val" before "key".
    expect(keys).toEqual([{ key: { S: "binary" }, val: { S: "data" } }]);
    expect(Object.keys(keys[0] ?? {})).toEqual(["key", "val"]);
  });
});

describe("selectRecords on malformed input", () => {
  const good = (seq: string, id: string, eventName = "INSERT"): Record<string, unknown> => ({
    eventName,
    eventSource: "aws:dynamodb",
    eventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/api-pagos/stream/x",
    dynamodb: { Keys: { id: { S: id } }, SequenceNumber: seq },
  });

  test.each<[string, unknown, string | undefined, RegExp]>([
    ["a Kinesis record", { ...good("5", "a"), eventSource: "aws:kinesis" }, "5", /eventSource is "aws:kinesis"/],
    ["no dynamodb section", { eventName: "INSERT", eventSource: "aws:dynamodb", eventSourceARN: "arn" }, undefined, /no dynamodb section/],
    ["no Keys", { ...good("5", "a"), dynamodb: { SequenceNumber: "5" } }, "5", /no dynamodb\.Keys/],
    ["empty Keys", { ...good("5", "a"), dynamodb: { Keys: {}, SequenceNumber: "5" } }, "5", /no dynamodb\.Keys/],
    ["a non-key type in Keys", { ...good("5", "a"), dynamodb: { Keys: { id: { SS: ["a"] } }, SequenceNumber: "5" } }, "5", /Keys\.id is not a key attribute value/],
    ["two types in one key value", { ...good("5", "a"), dynamodb: { Keys: { id: { S: "a", N: "1" } }, SequenceNumber: "5" } }, "5", /Keys\.id/],
    ["no sequence number", { ...good("5", "a"), dynamodb: { Keys: { id: { S: "a" } } } }, undefined, /SequenceNumber/],
    ["an unknown eventName", good("5", "a", "TRUNCATE"), "5", /unknown eventName "TRUNCATE"/],
    ["no eventSourceARN", { ...good("5", "a"), eventSourceARN: undefined }, "5", /eventSourceARN/],
    ["not an object", "INSERT", undefined, /not an object/],
  ])("%s is malformed, with its reason and sequence number", (_, record, sequenceNumber, reason) => {
    const selection = selectRecords([good("1", "x"), record, good("9", "y")], "mirror");
    expect(selection.malformed).toEqual([{ index: 1, sequenceNumber, reason: expect.stringMatching(reason) }]);
    expect(selection.selected.map((r) => r.sequenceNumber)).toEqual(["1", "9"]);
  });

  test("typed values are compared exactly: N 1 and S 1 are different keys, repeats collapse", () => {
    const records = [good("1", "a"), good("2", "a", "MODIFY"), { ...good("3", "x"), dynamodb: { Keys: { id: { N: "1" } }, SequenceNumber: "3" } }, good("4", "1")];
    const manifest = buildManifest(selectRecords(records, "retain").selected, "p/");
    expect(manifest.content.keys).toEqual([{ id: { N: "1" } }, { id: { S: "1" } }, { id: { S: "a" } }]);
    expect(manifest.content.records).toBe(4);
    expect(manifest.content.sequenceNumbers).toEqual({ first: "1", last: "4" });
  });

  test("the same batch gives the same bytes and name; another batch another name", () => {
    const records = [good("1", "b"), good("2", "a", "MODIFY")];
    const a = buildManifest(selectRecords(records, "retain").selected, "changes/");
    const b = buildManifest(selectRecords(JSON.parse(JSON.stringify(records)), "retain").selected, "changes/");
    expect(b.body).toBe(a.body);
    expect(b.key).toBe(a.key);
    expect(buildManifest(selectRecords([good("1", "b")], "retain").selected, "changes/").key).not.toBe(a.key);
    expect(JSON.parse(a.body).keys).toEqual([{ id: { S: "a" } }, { id: { S: "b" } }]);
  });
});

describe("removed items (DELETE_POLICY=retain)", () => {
  const ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/api-pagos/stream/x";
  type Key = Record<string, Record<string, string>>;
  const record = (seq: string, eventName: string, key: Key, images: { old?: unknown; new?: unknown } = {}): Record<string, unknown> => ({
    eventName,
    eventSource: "aws:dynamodb",
    eventSourceARN: ARN,
    eventID: `e${seq}`,
    dynamodb: {
      Keys: key,
      ...(images.new !== undefined ? { NewImage: images.new } : {}),
      ...(images.old !== undefined ? { OldImage: images.old } : {}),
      SequenceNumber: seq,
    },
  });
  const item = (id: string, v: string): Record<string, unknown> => ({ v: { S: v }, id: { S: id }, l: { L: [{ NS: ["2", "1"] }, { M: { b: { NULL: true }, a: { BOOL: false } } }] } });
  const insert = (seq: string, id: string, v: string) => record(seq, "INSERT", { id: { S: id } }, { new: item(id, v) });
  const modify = (seq: string, id: string, from: string, to: string) => record(seq, "MODIFY", { id: { S: id } }, { old: item(id, from), new: item(id, to) });
  const remove = (seq: string, id: string, v?: string) => record(seq, "REMOVE", { id: { S: id } }, v === undefined ? {} : { old: item(id, v) });

  test("the last record of a key decides: REMOVE then INSERT gives no entry, INSERT then REMOVE one, with the last REMOVE's image and sequence number", () => {
    const records = [
      remove("10", "a", "a0"), // then inserted again: the current state is in the source, no entry
      insert("11", "a", "a1"),
      insert("12", "b", "b1"), // inserted and deleted in the same batch: entry
      remove("13", "b", "b1"),
      modify("14", "c", "c0", "c1"), // modified, deleted, inserted, modified, deleted: the last image
      remove("15", "c", "c1"),
      insert("16", "c", "c2"),
      modify("17", "c", "c2", "c3"),
      remove("18", "c", "c3"),
      modify("19", "d", "d0", "d1"), // not deleted: no entry
    ];
    const { selected, malformed, removesWithoutImage } = selectRecords(records, "retain");
    expect([malformed, removesWithoutImage]).toEqual([[], []]);
    expect(selected).toHaveLength(10);
    const manifest = buildManifest(selected, "changes/");
    expect(manifest.content.keys).toEqual(["a", "b", "c", "d"].map((id) => ({ id: { S: id } })));
    expect(manifest.content.eventNames).toEqual(["INSERT", "MODIFY", "REMOVE"]);
    expect(manifest.content.removed).toEqual([
      { key: { id: { S: "b" } }, sequenceNumber: "13", oldImage: item("b", "b1") },
      { key: { id: { S: "c" } }, sequenceNumber: "18", oldImage: item("c", "c3") },
    ]);
    const image = (id: string, v: string): string => `{"id":{"S":"${id}"},"l":{"L":[{"NS":["2","1"]},{"M":{"a":{"BOOL":false},"b":{"NULL":true}}}]},"v":{"S":"${v}"}}`;
    const body =
      '{"version":1,"keys":[{"id":{"S":"a"}},{"id":{"S":"b"}},{"id":{"S":"c"}},{"id":{"S":"d"}}],"eventNames":["INSERT","MODIFY","REMOVE"],' +
      `"sequenceNumbers":{"first":"10","last":"19"},"records":10,"eventSourceArn":"${ARN}",` +
      `"removed":[{"key":{"id":{"S":"b"}},"sequenceNumber":"13","oldImage":${image("b", "b1")}},{"key":{"id":{"S":"c"}},"sequenceNumber":"18","oldImage":${image("c", "c3")}}]}`;
    expect(manifest.body).toBe(body);
    expect(manifest.key).toBe(`changes/19700101T000000Z-${"10".padStart(40, "0")}-${createHash("sha256").update(body).digest("hex")}.json`);
    // The same batch, the same bytes.
    expect(buildManifest(selectRecords(JSON.parse(JSON.stringify(records)), "retain").selected, "changes/").body).toBe(body);
  });

  test("a REMOVE's ApproximateCreationDateTime goes with its entry, last, and only when it is a usable time", () => {
    const timed = (r: Record<string, unknown>, time: unknown): Record<string, unknown> => ({ ...r, dynamodb: { ...(r.dynamodb as object), ApproximateCreationDateTime: time } });
    const records = [
      timed(remove("1", "a", "a0"), 1.635734407123456789e9), // fractional seconds, as in aws-lambda-java-libs' test event
      timed(remove("2", "b", "b0"), "yesterday"), // not a number: left out, the record is still used
      remove("3", "c", "c0"), // none
      timed(insert("4", "d", "d1"), 5), // not a REMOVE: no entry at all
      timed(remove("5", "e", "e0"), -1),
    ];
    const { selected, malformed } = selectRecords(records, "retain");
    expect(malformed).toEqual([]);
    const manifest = buildManifest(selected, "changes/");
    expect(manifest.content.removed?.map((entry) => [entry.key.id?.S, entry.approximateCreationDateTime])).toEqual([
      ["a", 1635734407.1234567],
      ["b", undefined],
      ["c", undefined],
      ["e", undefined],
    ]);
    expect(manifest.body).toContain(`{"key":{"id":{"S":"a"}},"sequenceNumber":"1","oldImage":${canonicalJson(item("a", "a0"))},"approximateCreationDateTime":1635734407.1234567}`);
    expect(manifest.body.match(/"approximateCreationDateTime":[0-9]/g)).toHaveLength(1);
    // Every usable time counts for the batch's span (and the first record's names the manifest).
    expect(manifest.content.approximateCreationDateTime).toEqual({ earliest: 5, latest: 1635734407.1234567 });
    expect(manifest.key.startsWith(`changes/20211101T024007Z-${"1".padStart(40, "0")}-`)).toBe(true);
    expect(JSON.parse(manifest.body)).toEqual(manifest.content);
    expect(buildManifest(selectRecords(JSON.parse(JSON.stringify(records)), "retain").selected, "changes/").body).toBe(manifest.body);
  });

  test("under mirror the same batch has no removed field: REMOVE keys are dirty keys only", () => {
    const records = [insert("1", "b", "b1"), remove("2", "b", "b1"), remove("3", "z", "z0")];
    const { selected, removesWithoutImage } = selectRecords(records, "mirror");
    expect(removesWithoutImage).toEqual([]);
    const manifest = buildManifest(selected, "changes/");
    expect(manifest.content.keys).toEqual([{ id: { S: "b" } }, { id: { S: "z" } }]);
    expect(manifest.content).not.toHaveProperty("removed");
    expect(manifest.body).not.toContain("removed");
  });

  test("no key ends removed: the field is absent, the body has only the members it always had", () => {
    const withRemove = buildManifest(selectRecords([remove("1", "a", "a0"), insert("2", "a", "a1")], "retain").selected, "changes/");
    expect(withRemove.content).not.toHaveProperty("removed");
    expect(withRemove.body).toBe(
      `{"version":1,"keys":[{"id":{"S":"a"}}],"eventNames":["INSERT","REMOVE"],"sequenceNumbers":{"first":"1","last":"2"},"records":2,"eventSourceArn":"${ARN}"}`,
    );
  });

  test("entries are sorted by the canonical JSON of the key (typed, integer-like attribute names included)", () => {
    const key = (pk: Record<string, string>, sk: string): Key => ({ sk: { S: sk }, "10": pk });
    const image = (k: Key) => ({ ...k, x: { BOOL: true } });
    const records = [
      record("1", "REMOVE", key({ S: "1" }, "b"), { old: image(key({ S: "1" }, "b")) }),
      record("2", "REMOVE", key({ N: "1" }, "z"), { old: image(key({ N: "1" }, "z")) }),
      record("3", "REMOVE", key({ S: "1" }, "a"), { old: image(key({ S: "1" }, "a")) }),
    ];
    const manifest = buildManifest(selectRecords(records, "retain").selected, "p/");
    expect(manifest.content.removed?.map((entry) => entry.sequenceNumber)).toEqual(["2", "3", "1"]);
    expect(manifest.content.removed?.map((entry) => canonicalJson(entry.key))).toEqual(manifest.content.keys.map(canonicalJson));
    expect(manifest.body).toContain('"removed":[{"key":{"10":{"N":"1"},"sk":{"S":"z"}},"sequenceNumber":"2","oldImage":{"10":{"N":"1"},"sk":{"S":"z"},"x":{"BOOL":true}}}');
  });

  test("a REMOVE without OldImage is still a dirty key, has no entry, and is reported; the key's earlier REMOVE image is not used", () => {
    const records = [insert("1", "a", "a1"), remove("2", "a"), remove("3", "b", "b0"), insert("4", "b", "b1"), remove("5", "b")];
    const { selected, malformed, removesWithoutImage } = selectRecords(records, "retain");
    expect(malformed).toEqual([]);
    expect(removesWithoutImage).toEqual([
      { index: 1, eventID: "e2", sequenceNumber: "2" },
      { index: 4, eventID: "e5", sequenceNumber: "5" },
    ]);
    const manifest = buildManifest(selected, "changes/");
    expect(manifest.content.keys).toEqual([{ id: { S: "a" } }, { id: { S: "b" } }]);
    expect(manifest.content).not.toHaveProperty("removed");
  });

  test.each<[string, unknown, RegExp]>([
    ["not an object", "gone", /OldImage is not an object/],
    ["a list", [{ id: { S: "a" } }], /OldImage is not an object/],
    ["without the key attribute", { v: { S: "x" } }, /OldImage does not hold the record's key attribute id/],
    ["with another key value", { id: { S: "other" } }, /OldImage does not hold the record's key attribute id/],
    ["with the key typed differently", { id: { N: "1" } }, /OldImage does not hold the record's key attribute id/],
    ["with a value that is not an attribute value", { id: { S: "a" }, v: "x" }, /OldImage\.v is not an attribute value/],
    ["with an unknown type", { id: { S: "a" }, v: { X: "1" } }, /OldImage\.v is not an attribute value/],
  ])("an OldImage %s makes a REMOVE malformed under retain (not under mirror)", (_, oldImage, reason) => {
    const bad = record("5", "REMOVE", { id: { S: "a" } }, { old: oldImage });
    const batch = [insert("1", "x", "x"), bad, insert("9", "y", "y")];
    const retain = selectRecords(batch, "retain");
    expect(retain.malformed).toEqual([{ index: 1, sequenceNumber: "5", eventID: "e5", reason: expect.stringMatching(reason) }]);
    expect(retain.selected.map((r) => r.sequenceNumber)).toEqual(["1", "9"]);
    const mirror = selectRecords(batch, "mirror");
    expect(mirror.malformed).toEqual([]);
    expect(mirror.selected.map((r) => r.sequenceNumber)).toEqual(["1", "5", "9"]);
  });
});

describe("manifest names (S3's listing order is time order)", () => {
  const record = (seq: bigint, time: number, id: string): Record<string, unknown> => ({
    eventName: "MODIFY",
    eventSource: "aws:dynamodb",
    eventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/api-pagos/stream/x",
    dynamodb: { Keys: { id: { S: id } }, SequenceNumber: String(seq), ApproximateCreationDateTime: time },
  });

  test("names sort (UTF-8 binary, as S3 lists) as the batches' first records were written; a retried batch keeps its name", () => {
    let seed = 12;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let time = 1764620970;
    let seq = 10n ** 20n;
    const batches: Record<string, unknown>[][] = [];
    for (let n = 0; n < 300; n += 1) {
      // Times repeat within a second and jump; sequence numbers grow by any amount, and gain digits.
      time += random() < 0.5 ? 0 : Math.floor(random() * 100000);
      seq += BigInt(1 + Math.floor(random() * 1e6)) * (random() < 0.05 ? 10n ** 5n : 1n);
      batches.push([record(seq, time, `k${n}`), record(seq + 1n, time + 1, `j${n}`)]);
    }
    const names = batches.map((batch) => buildManifest(selectRecords(batch, "retain").selected, "changes/").key);
    const shuffled = [...names].sort(() => random() - 0.5);
    const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
    expect(shuffled.sort(byBytes)).toEqual(names);
    expect(batches.map((batch) => buildManifest(selectRecords(JSON.parse(JSON.stringify(batch)), "retain").selected, "changes/").key)).toEqual(names);
  });

  test("the order part is the one glue-job/backup_replication/manifest_format.py writes (test_manifest_listing has the same vector)", () => {
    expect(manifestOrder(1764620970.9, "123")).toBe(`20251201T202930Z-${"123".padStart(40, "0")}`);
  });
});
