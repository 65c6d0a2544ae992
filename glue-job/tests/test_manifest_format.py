import json
import unittest

import support  # noqa: F401
import manifests
import table_keys

SCHEMA = table_keys.KeySchema(["pk", "sk"], {"pk": "N", "sk": "S"})
BINARY = table_keys.KeySchema(["id"], {"id": "B"})


def body(document):
    return json.dumps(document).encode("utf-8")


class ManifestFormatTest(unittest.TestCase):
    def test_valid_manifest_round_trip_with_binary_keys(self):
        keys = [{"id": {"B": bytes(range(256))}}, {"id": {"B": b"\x00"}}, {"id": {"B": bytes(range(256))}}]
        name, data = manifests.build_manifest(keys, ["INSERT", "MODIFY", "INSERT"], "111", "222")
        self.assertRegex(name, r"^[0-9a-f]{64}\.json$")
        document = json.loads(data)
        self.assertEqual(document["version"], 1)
        self.assertEqual(document["eventNames"], ["INSERT", "MODIFY"])
        self.assertEqual(document["sequenceNumbers"], {"first": "111", "last": "222"})
        self.assertEqual(len(document["keys"]), 2)  # deduplicated
        self.assertEqual(manifests.parse_manifest(data, BINARY), keys[:2])

    def test_composite_keys(self):
        data = body({"version": 1, "keys": [{"pk": {"N": "1"}, "sk": {"S": "x"}}, {"sk": {"S": ""}, "pk": {"N": "2"}}]})
        with self.assertRaises(manifests.ManifestError):  # empty string key value
            manifests.parse_manifest(data, SCHEMA)
        data = body({"version": 1, "keys": [{"pk": {"N": "-1.5e3"}, "sk": {"S": "x"}}]})
        self.assertEqual(manifests.parse_manifest(data, SCHEMA), [{"pk": {"N": "-1.5e3"}, "sk": {"S": "x"}}])

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
            with self.assertRaises(manifests.ManifestError, msg=label) as caught:
                manifests.parse_manifest(data, SCHEMA)
            self.assertTrue(str(caught.exception), label)

    def test_shape_is_checked_without_schema(self):
        self.assertEqual(manifests.parse_manifest(body({"version": 1, "keys": [{"id": {"B": "AAE="}}]})),
                         [{"id": {"B": b"\x00\x01"}}])
        with self.assertRaises(manifests.ManifestError):
            manifests.parse_manifest(body({"version": 1, "keys": [{"id": {"BOOL": True}}]}))

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
