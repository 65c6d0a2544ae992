import unittest

from backup_replication.transform import Transform, TransformError


class TransformTest(unittest.TestCase):
    ITEM = {"id": {"S": "k"}, "a": {"N": "1"}, "b": {"SS": ["x"]}, "c": {"B": b"\x00"}, "d": {"NULL": True}}

    def test_default_is_identity(self):
        t = Transform.parse("{}")
        self.assertTrue(t.is_identity)
        self.assertIs(t.apply(self.ITEM), self.ITEM)
        self.assertTrue(Transform.parse("").is_identity)

    def test_rename_and_drop_move_typed_values(self):
        t = Transform.parse('{"rename": {"a": "amount", "b": "tags"}, "drop": ["c"]}')
        out = t.apply(self.ITEM)
        self.assertEqual(out, {"id": {"S": "k"}, "amount": {"N": "1"}, "tags": {"SS": ["x"]}, "d": {"NULL": True}})
        self.assertIs(out["amount"], self.ITEM["a"])
        self.assertEqual(self.ITEM["a"], {"N": "1"})  # input untouched
        self.assertEqual(list(out), ["id", "amount", "tags", "d"])

    def test_rename_replaces_existing_target_and_swaps(self):
        self.assertEqual(Transform({"a": "d"}).apply(self.ITEM)["d"], {"N": "1"})
        self.assertNotIn("a", Transform({"a": "d"}).apply(self.ITEM))
        swapped = Transform({"a": "b", "b": "a"}).apply(self.ITEM)
        self.assertEqual((swapped["a"], swapped["b"]), ({"SS": ["x"]}, {"N": "1"}))
        self.assertEqual(Transform({"zz": "a"}).apply(self.ITEM), self.ITEM)  # absent source: no change

    def test_invalid_configs(self):
        for text in ['[]', '{"rename": []}', '{"drop": "a"}', '{"drop": [""]}', '{"rename": {"a": 1}}',
                     '{"renames": {}}', '{"rename": {"a": "x", "b": "x"}}', '{"rename": {"a": "b"}, "drop": ["b"]}',
                     '{"rename": {"a": "a"}}', 'nope']:
            with self.assertRaises(TransformError, msg=text):
                Transform.parse(text)

    def test_key_attributes_cannot_be_touched(self):
        for config in ({"rename": {"id": "x"}}, {"rename": {"x": "id"}}, {"drop": ["sk"]}):
            with self.assertRaises(TransformError) as caught:
                Transform.parse(config).check_key_names(("id", "sk"))
            self.assertIn("key attribute", str(caught.exception))
        Transform.parse({"rename": {"a": "b"}, "drop": ["c"]}).check_key_names(("id", "sk"))


if __name__ == "__main__":
    unittest.main()
