"""Exact fidelity: after either job, the backup's GetItem response equals the source's byte for byte.

Against AWS's DynamoDB Local (DYNAMODB_LOCAL_ENDPOINT, started by `npm test`), not dynalite: the
question is what DynamoDB itself stores and returns. The jobs find it through AWS_ENDPOINT_URL_DYNAMODB,
pointed at it for this module's tests.
"""

import unittest
from decimal import Decimal

import support
from backup_replication import table_keys
from backup_replication.jobs import apply_changes, full_copy
from fidelity_items import all_types_item, big_item, deep_item


class FidelityTest(support.OnDynamoDbLocal, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        super(FidelityTest, cls).setUpClass()
        cls.client = support.ddb()
        cls.s3 = support.s3()
        cls.bucket = support.create_bucket(cls.s3)
        cls.raw_client = support.ddb()
        cls.recorder = support.RawResponses(cls.raw_client)

    def items(self):
        return [all_types_item(), deep_item(), big_item(), {"id": {"S": "key-only"}}]

    def assert_backup_equals_source(self, source, backup, keys):
        for key in keys:
            raw_source = support.raw_get_item(self.raw_client, self.recorder, source, key)
            raw_backup = support.raw_get_item(self.raw_client, self.recorder, backup, key)
            self.assertGreater(len(raw_source), 20)
            self.assertEqual(raw_backup, raw_source, "backup differs from source for %r" % key)

    def seed(self, hash_key=("id", "S"), range_key=None, items=None):
        source, backup = support.create_table_pair(self.client, hash_key, range_key)
        schema = support.schema_of(self.client, source)
        items = items or self.items()
        for item in items:
            self.client.put_item(TableName=source, Item=item)
        stored = self.client.get_item(TableName=source, Key=table_keys.extract_key(items[0], schema))["Item"]
        for name in ("s", "s_empty", "b_all_bytes", "b_empty", "ss", "bs", "list", "bool_false", "null"):
            if name in items[0]:
                self.assertTrue(table_keys.items_equal({name: stored[name]}, {name: items[0][name]}), name)
        return source, backup, [table_keys.extract_key(i, schema) for i in items]

    def test_apply_changes_copies_every_type_exactly(self):
        source, backup, keys = self.seed()
        prefix = support.unique("changes") + "/"
        support.put_manifest(self.s3, self.bucket, prefix, keys[:2])
        support.put_manifest(self.s3, self.bucket, prefix, keys[1:])
        _, code, out, err = support.run_main(apply_changes.main, [
            "apply_changes.py", "--source_table", source, "--backup_table", backup, "--manifest_bucket", self.bucket,
            "--manifest_prefix", prefix, "--rejected_prefix", "rejected-" + prefix])
        self.assertEqual(code, 0, err)
        self.assert_backup_equals_source(source, backup, keys)
        self.assertEqual(support.list_keys(self.s3, self.bucket, prefix), [])

    def test_full_copy_copies_every_type_exactly(self):
        source, backup, keys = self.seed()
        _, code, out, err = support.run_main(full_copy.main, [
            "full_copy.py", "--source_table", source, "--backup_table", backup, "--scan_segments", "3"],
            spark_context=support.FakeSparkContext())
        self.assertEqual(code, 0, err)
        self.assert_backup_equals_source(source, backup, keys)

    def test_numeric_and_binary_composite_keys(self):
        items = [{"pk": {"N": "12345678901234567890123456789012345678"}, "sk": {"B": bytes(range(256))},
                  "v": {"S": "a"}},
                 {"pk": {"N": "-1E-130"}, "sk": {"B": b"\x00"}, "v": {"NS": ["1", "2"]}},
                 {"pk": {"N": "12345678901234567890123456789012345679"}, "sk": {"B": bytes(range(256))},
                  "v": {"S": "b"}}]
        source, backup, keys = self.seed(("pk", "N"), ("sk", "B"), items)
        prefix = support.unique("changes") + "/"
        support.put_manifest(self.s3, self.bucket, prefix, keys)
        _, code, _, err = support.run_main(apply_changes.main, [
            "x", "--source_table", source, "--backup_table", backup, "--manifest_bucket", self.bucket,
            "--manifest_prefix", prefix, "--rejected_prefix", "rejected-" + prefix])
        self.assertEqual(code, 0, err)
        self.assert_backup_equals_source(source, backup, keys)
        self.assertEqual(len(support.scan_all(self.client, backup, support.schema_of(self.client, backup))), 3)
        copy_backup = support.create_table(self.client, "bak", ("pk", "N"), ("sk", "B"))
        _, code, _, err = support.run_main(full_copy.main, [
            "x", "--source_table", source, "--backup_table", copy_backup, "--scan_segments", "2"],
            spark_context=support.FakeSparkContext())
        self.assertEqual(code, 0, err)
        self.assert_backup_equals_source(source, copy_backup, keys)

    def test_numbers_update_item_left_unnormalized_are_copied_normalized(self):
        # A DynamoDB Local quirk: UpdateItem SET stores '1E+2' and '7.50' as written (DynamoDB stores
        # every number normalized). The jobs copy with PutItem, which normalizes: the backup holds the
        # same numbers in DynamoDB's own form; verification compares the source with itself, so the run
        # ends. (On DynamoDB both tables hold the normalized form: byte for byte equal.)
        source, backup = support.create_table_pair(self.client)
        key = {"id": {"S": "quirk"}}
        self.client.update_item(TableName=source, Key=key, UpdateExpression="SET a = :a, b = :b",
                                ExpressionAttributeValues={":a": {"N": "1E+2"}, ":b": {"N": "7.50"}})
        self.assertEqual(self.client.get_item(TableName=source, Key=key)["Item"]["a"], {"N": "1E+2"})
        prefix = support.unique("changes") + "/"
        support.put_manifest(self.s3, self.bucket, prefix, [key])
        _, code, out, err = support.run_main(apply_changes.main, [
            "x", "--source_table", source, "--backup_table", backup, "--manifest_bucket", self.bucket,
            "--manifest_prefix", prefix, "--rejected_prefix", "rejected-" + prefix])
        self.assertEqual(code, 0, err)
        copy = self.client.get_item(TableName=backup, Key=key, ConsistentRead=True)["Item"]
        self.assertEqual((copy["a"], copy["b"]), ({"N": "100"}, {"N": "7.5"}))
        stored = self.client.get_item(TableName=source, Key=key)["Item"]
        self.assertEqual([Decimal(copy[n]["N"]) for n in "ab"], [Decimal(stored[n]["N"]) for n in "ab"])
        self.assertEqual(support.list_keys(self.s3, self.bucket, prefix), [])


if __name__ == "__main__":
    unittest.main()
