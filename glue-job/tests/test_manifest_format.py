import base64
import json
import unittest

from backup_replication import manifest_format, table_keys

SCHEMA = table_keys.KeySchema(["pk", "sk"], {"pk": "N", "sk": "S"})
BINARY = table_keys.KeySchema(["id"], {"id": "B"})


def body(document):
    return json.dumps(document).encode("utf-8")


class ManifestFormatTest(unittest.TestCase):
    def test_valid_manifest_round_trip_with_binary_keys(self):
        keys = [{"id": {"B": bytes(range(256))}}, {"id": {"B": b"\x00"}}, {"id": {"B": bytes(range(256))}}]
        name, data = manifest_format.build_manifest(keys, ["INSERT", "MODIFY", "INSERT"], "111", "222")
        self.assertRegex(name, r"^[0-9a-f]{64}\.json$")
        document = json.loads(data)
        self.assertEqual(document["version"], 1)
        self.assertEqual(document["eventNames"], ["INSERT", "MODIFY"])
        self.assertEqual(document["sequenceNumbers"], {"first": "111", "last": "222"})
        self.assertEqual(len(document["keys"]), 2)  # deduplicated
        self.assertEqual(manifest_format.parse_manifest(data, BINARY), keys[:2])

    def test_composite_keys(self):
        data = body({"version": 1, "keys": [{"pk": {"N": "1"}, "sk": {"S": "x"}}, {"sk": {"S": ""}, "pk": {"N": "2"}}]})
        with self.assertRaises(manifest_format.ManifestError):  # empty string key value
            manifest_format.parse_manifest(data, SCHEMA)
        data = body({"version": 1, "keys": [{"pk": {"N": "-1.5e3"}, "sk": {"S": "x"}}]})
        self.assertEqual(manifest_format.parse_manifest(data, SCHEMA), [{"pk": {"N": "-1.5e3"}, "sk": {"S": "x"}}])

    def test_malformed_manifests(self):
        good_key = {"pk": {"N": "1"}, "sk": {"S": "x"}}
        cases = {
            "not json": b"{not json",
            "not utf-8": b"\xff\xfe",
            "array": body([good_key]),
            "no version": body({"keys": [good_key]}),
            "version 2": body({"version": 2, "keys": [good_key]}),
            "version true": body({"version": True, "keys": [good_key]}),
            "version string": body({"version": "1", "keys": [good_key]}),
            "no keys": body({"version": 1}),
            "empty keys": body({"version": 1, "keys": []}),
            "keys object": body({"version": 1, "keys": good_key}),
            "key not object": body({"version": 1, "keys": ["a"]}),
            "empty key": body({"version": 1, "keys": [{}]}),
            "number as json number": body({"version": 1, "keys": [{"pk": {"N": 1}, "sk": {"S": "x"}}]}),
            "two types": body({"version": 1, "keys": [{"pk": {"N": "1", "S": "1"}, "sk": {"S": "x"}}]}),
            "set type": body({"version": 1, "keys": [{"pk": {"NS": ["1"]}, "sk": {"S": "x"}}]}),
            "untyped": body({"version": 1, "keys": [{"pk": "1", "sk": {"S": "x"}}]}),
            "bad number": body({"version": 1, "keys": [{"pk": {"N": "1,5"}, "sk": {"S": "x"}}]}),
            "39 digits": body({"version": 1, "keys": [{"pk": {"N": "1" * 39}, "sk": {"S": "x"}}]}),
            "bad base64": body({"version": 1, "keys": [{"pk": {"N": "1"}, "sk": {"B": "***"}}]}),
            "wrong key names": body({"version": 1, "keys": [{"id": {"S": "a"}}]}),
            "missing sort key": body({"version": 1, "keys": [{"pk": {"N": "1"}}]}),
            "wrong key type": body({"version": 1, "keys": [{"pk": {"S": "1"}, "sk": {"S": "x"}}]}),
            "one bad key among good": body({"version": 1, "keys": [good_key, {"pk": {"N": "x"}, "sk": {"S": "y"}}]}),
        }
        for label, data in cases.items():
            with self.assertRaises(manifest_format.ManifestError, msg=label) as caught:
                manifest_format.parse_manifest(data, SCHEMA)
            self.assertTrue(str(caught.exception), label)

    def test_shape_is_checked_without_schema(self):
        self.assertEqual(manifest_format.parse_manifest(body({"version": 1, "keys": [{"id": {"B": "AAE="}}]})),
                         [{"id": {"B": b"\x00\x01"}}])
        with self.assertRaises(manifest_format.ManifestError):
            manifest_format.parse_manifest(body({"version": 1, "keys": [{"id": {"BOOL": True}}]}))

    def test_removed_entries_round_trip_and_old_manifests_stay_valid(self):
        old_image = {"pk": {"N": "1"}, "sk": {"S": "x"}, "bin": {"B": bytes(range(256))}, "empty": {"B": b""},
                     "bs": {"BS": [b"\x00", b"\x01\x02"]}, "ns": {"NS": ["1", "12345678901234567890123456789012345678"]},
                     "ss": {"SS": ["a", "b"]}, "flag": {"BOOL": False}, "nothing": {"NULL": True},
                     "nested": {"M": {"l": {"L": [{"N": "-1.5e3"}, {"M": {"b": {"B": b"\xff"}}}, {"L": []}]}}}}
        # Stream sequence numbers have up to 40 digits: more than a DynamoDB number holds.
        forty = "1000000000000000000000000000000000000001"
        removed = [({"pk": {"N": "2"}, "sk": {"S": "y"}}, "99", {"pk": {"N": "2"}, "sk": {"S": "y"}}),
                   ({"pk": {"N": "1"}, "sk": {"S": "x"}}, forty, old_image, 1764620970.25)]
        _, data = manifest_format.build_manifest([{"pk": {"N": "3"}, "sk": {"S": "z"}}], ["REMOVE"], removed=removed)
        document = json.loads(data)
        encoded = [e for e in document["removed"] if e["key"]["pk"] == {"N": "1"}][0]["oldImage"]
        self.assertEqual(encoded["bin"], {"B": base64.b64encode(bytes(range(256))).decode("ascii")})
        self.assertEqual(encoded["bs"], {"BS": ["AA==", "AQI="]})
        self.assertEqual(len(document["keys"]), 3)  # removed keys are keys too
        manifest = manifest_format.parse_manifest_document(data, SCHEMA)
        self.assertEqual(len(manifest.keys), 3)
        by_sequence = dict((entry.sequence, entry) for entry in manifest.removed)
        self.assertEqual(sorted(by_sequence), [99, int(forty)])  # integers
        self.assertEqual(by_sequence[99].old_image, removed[0][2])
        self.assertEqual(by_sequence[int(forty)].old_image, old_image)  # bytes back
        # The REMOVE record's ApproximateCreationDateTime (epoch seconds) is optional: deletedAt or None.
        timed = [e for e in document["removed"] if e["key"]["pk"] == {"N": "1"}][0]
        self.assertEqual(timed["approximateCreationDateTime"], 1764620970.25)
        self.assertEqual(by_sequence[int(forty)].deleted_at, "2025-12-01T20:29:30.250Z")
        self.assertIsNone(by_sequence[99].deleted_at)
        self.assertEqual(by_sequence[99].key, removed[0][0])
        # A manifest without the field (the format before it existed) is still valid, with no entries.
        _, old = manifest_format.build_manifest([{"pk": {"N": "3"}, "sk": {"S": "z"}}])
        self.assertNotIn(b"removed", old)
        self.assertEqual(manifest_format.parse_manifest_document(old, SCHEMA).removed, [])
        self.assertEqual(manifest_format.parse_manifest(data, SCHEMA), manifest.keys)

    def test_a_time_to_live_removal_as_the_function_writes_it(self):
        # The body __tests__/change-trigger-records.test.ts builds from the AWS-authored java-libs event with
        # its REMOVE deleted by Time to Live (the function's bytes, verbatim).
        body = ('{"version":1,"keys":[{"Id":{"N":"101"}}],"eventNames":["INSERT","MODIFY","REMOVE"],'
                '"sequenceNumbers":{"first":"4421584500000000017450439091","last":"4421584500000000017450439093"},'
                '"records":3,"eventSourceArn":"arn:aws:dynamodb:eu-central-1:123456789012:table/ExampleTableWithStream/'
                'stream/2015-06-27T00:48:05.899","approximateCreationDateTime":{"earliest":1428537600,'
                '"latest":1635734407.1234567},"removed":[{"key":{"Id":{"N":"101"}},"sequenceNumber":'
                '"4421584500000000017450439093","oldImage":{"Id":{"N":"101"},"Message":{"S":"This item has changed"}},'
                '"approximateCreationDateTime":1428537600,"timeToLive":true}]}')
        (entry,) = manifest_format.parse_manifest_document(body.encode("utf-8")).removed
        self.assertTrue(entry.expired)
        self.assertIn(b'"timeToLive":true', manifest_format.encode_document([entry.key], [entry]))  # kept in remainders
        (plain,) = manifest_format.parse_manifest_document(body.replace(',"timeToLive":true', "").encode("utf-8")).removed
        self.assertFalse(plain.expired)
        self.assertNotIn(b"timeToLive", manifest_format.encode_document([plain.key], [plain]))

    def test_malformed_removed_entries_reject_the_manifest(self):
        key = {"pk": {"N": "1"}, "sk": {"S": "x"}}
        image = {"pk": {"N": "1"}, "sk": {"S": "x"}, "amount": {"N": "10"}}

        def with_removed(removed, keys=(key,)):
            return body({"version": 1, "keys": list(keys), "removed": removed})

        def entry(**changes):
            value = {"key": key, "sequenceNumber": "123", "oldImage": image}
            value.update(changes)
            return value

        def nested(levels):
            value = {"S": "x"}
            for _ in range(levels):
                value = {"M": {"a": value}}
            return value

        def image_with(**attributes):
            value = dict(image)
            value.update(attributes)
            return value

        extra = entry()
        extra["eventName"] = "REMOVE"
        missing = entry()
        del missing["oldImage"]
        cases = {
            "not a list": with_removed({"key": key}),
            "entry not object": with_removed(["x"]),
            "extra member": with_removed([extra]),
            "missing member": with_removed([missing]),
            "key untyped": with_removed([entry(key={"pk": "1", "sk": {"S": "x"}})]),
            "key wrong schema": with_removed([entry(key={"pk": {"S": "1"}, "sk": {"S": "x"}})]),
            "sequence number as number": with_removed([entry(sequenceNumber=123)]),
            "sequence number not digits": with_removed([entry(sequenceNumber="12a")]),
            "sequence number signed": with_removed([entry(sequenceNumber="-1")]),
            "sequence number empty": with_removed([entry(sequenceNumber="")]),
            "sequence number unicode digits": with_removed([entry(sequenceNumber="\u0661\u0662")]),
            "sequence number of 41 digits": with_removed([entry(sequenceNumber="1" * 41)]),
            "time as a string": with_removed([entry(approximateCreationDateTime="1764620970")]),
            "time as a boolean": with_removed([entry(approximateCreationDateTime=True)]),
            "time negative": with_removed([entry(approximateCreationDateTime=-1)]),
            "time after 9999": with_removed([entry(approximateCreationDateTime=10 ** 12)]),
            "image not object": with_removed([entry(oldImage=[image])]),
            "image empty": with_removed([entry(oldImage={})]),
            "image without key attribute": with_removed([entry(oldImage={"pk": {"N": "1"}, "amount": {"N": "1"}})]),
            "image with another key value": with_removed([entry(oldImage=image_with(sk={"S": "other"}))]),
            "image key of another type": with_removed([entry(oldImage=image_with(pk={"S": "1"}))]),
            "image key as a set": with_removed([entry(oldImage=image_with(pk={"NS": ["1"]}))]),
            "image value untyped": with_removed([entry(oldImage=image_with(amount=10))]),
            "image value two types": with_removed([entry(oldImage=image_with(amount={"N": "1", "S": "1"}))]),
            "image unknown type": with_removed([entry(oldImage=image_with(amount={"X": "1"}))]),
            "image bad number": with_removed([entry(oldImage=image_with(amount={"N": "ten"}))]),
            "image bad base64": with_removed([entry(oldImage=image_with(blob={"B": "***"}))]),
            "image empty set": with_removed([entry(oldImage=image_with(tags={"SS": []}))]),
            "image set duplicates": with_removed([entry(oldImage=image_with(nums={"NS": ["1", "1.0"]}))]),
            "image NULL false": with_removed([entry(oldImage=image_with(n={"NULL": False}))]),
            "image BOOL string": with_removed([entry(oldImage=image_with(b={"BOOL": "true"}))]),
            "image nested bad": with_removed([entry(oldImage=image_with(m={"M": {"a": {"L": [{"N": 1}]}}}))]),
            "image empty name": with_removed([entry(oldImage=image_with(**{"": {"S": "x"}}))]),
            "key not in keys": with_removed([entry()], keys=[{"pk": {"N": "2"}, "sk": {"S": "x"}}]),
            "key twice": with_removed([entry(), entry(sequenceNumber="124")]),
            "image nested deeper than DynamoDB allows": with_removed([entry(oldImage=image_with(deep=nested(33)))]),
        }
        for label, data in cases.items():
            with self.assertRaises(manifest_format.ManifestError, msg=label) as caught:
                manifest_format.parse_manifest_document(data, SCHEMA)
            self.assertIn("removed", str(caught.exception), label)
        # The same entry, well formed, is accepted (so each case above fails for its own reason).
        self.assertEqual(len(manifest_format.parse_manifest_document(with_removed([entry()]), SCHEMA).removed), 1)
        timed = manifest_format.parse_manifest_document(with_removed([entry(approximateCreationDateTime=0)]), SCHEMA)
        self.assertEqual(timed.removed[0].deleted_at, "1970-01-01T00:00:00Z")
        forty = manifest_format.parse_manifest_document(with_removed([entry(sequenceNumber="9" * 40)]), SCHEMA)
        self.assertEqual(forty.removed[0].sequence, 10 ** 40 - 1)
        deep = with_removed([entry(oldImage=image_with(deep=nested(32)))])
        self.assertEqual(manifest_format.parse_manifest_document(deep, SCHEMA).removed[0].old_image["deep"], nested(32))
        self.assertEqual(manifest_format.parse_manifest_document(with_removed([]), SCHEMA).removed, [])

    def test_key_identity(self):
        self.assertEqual(table_keys.key_id({"pk": {"N": "1"}, "sk": {"S": "a"}}),
                         table_keys.key_id({"sk": {"S": "a"}, "pk": {"N": "1.00"}}))
        self.assertNotEqual(table_keys.key_id({"id": {"S": "1"}}), table_keys.key_id({"id": {"N": "1"}}))
        self.assertEqual(table_keys.key_id({"id": {"B": b"\x01"}}), table_keys.key_id({"id": {"B": bytearray(b"\x01")}}))
        # 38 significant digits stay distinct (the default decimal context would round them to 28).
        self.assertNotEqual(table_keys.key_id({"id": {"N": "12345678901234567890123456789012345678"}}),
                            table_keys.key_id({"id": {"N": "12345678901234567890123456789012345679"}}))


if __name__ == "__main__":
    unittest.main()
