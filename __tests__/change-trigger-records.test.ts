/** change-trigger's pure parts: configuration, record selection, key dedupe, manifest bytes. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { canonicalJson } from "../functions/change-trigger/canonical-json";
import { loadConfig } from "../functions/change-trigger/config";
import { buildManifest } from "../functions/change-trigger/manifest";
import { distinctKeys, selectRecords } from "../functions/change-trigger/records";

const EVENTS_DIR = path.resolve(__dirname, "..", "..", "shared", "reference", "ddb-stream-events");
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
  test.each(FIXTURES)("%s: every record is well formed; REMOVE selected only when mirrored", (name) => {
    const { Records } = readEvent(name);
    const removes = Records.filter((r) => r.eventName === "REMOVE").length;
    const retain = selectRecords(Records, "retain");
    expect(retain.malformed).toEqual([]);
    expect(retain.selected).toHaveLength(Records.length - removes);
    expect(retain.skipped).toBe(removes);
    const mirror = selectRecords(Records, "mirror");
    expect(mirror.malformed).toEqual([]);
    expect(mirror.selected.map((r) => r.index)).toEqual(Records.map((_, i) => i));
    expect(mirror.skipped).toBe(0);
  });

  test("the AWS documentation example gives the documented manifest", () => {
    const { Records } = readEvent("aws-docs-example.json");
    const manifest = buildManifest(selectRecords(Records, "retain").selected, "changes/");
    const body =
      '{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY"],' +
      '"sequenceNumbers":{"first":"111","last":"222"},"records":2,' +
      '"eventSourceArn":"arn:aws:dynamodb:us-east-2:123456789012:table/my-table/stream/2024-06-10T19:26:16.525"}';
    expect(manifest.body).toBe(body);
    expect(manifest.key).toBe(`changes/${createHash("sha256").update(body).digest("hex")}.json`);
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
