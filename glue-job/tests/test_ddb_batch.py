"""Batched reads/writes against dynalite, with failures injected by a thin proxy around the real client."""

import unittest

import support
from backup_replication import ddb_batch


def item(i, payload="v"):
    return {"id": {"S": "k%04d" % i}, "n": {"N": str(i)}, "p": {"S": payload}}


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = support.ddb()

    def setUp(self):
        self.table = support.create_table(self.client, "batch")
        self.schema = support.schema_of(self.client, self.table)
        self.stats = ddb_batch.Stats()

    def write(self, client, requests, policy=None):
        ddb_batch.batch_write(client, self.table, requests, self.schema, self.stats, policy or support.fast_retry())

    def test_writes_are_chunked_by_25_and_reads_by_100_consistently(self):
        proxy = support.FlakyDynamoDB(self.client)
        self.write(proxy, [ddb_batch.put_request(item(i)) for i in range(60)])
        sizes = [len(kw["RequestItems"][self.table]) for name, kw in proxy.calls if name == "batch_write_item"]
        self.assertEqual(sizes, [25, 25, 10])
        keys = [{"id": {"S": "k%04d" % i}} for i in range(250)]
        found = ddb_batch.batch_get(proxy, self.table, keys, self.schema, self.stats, support.fast_retry())
        self.assertEqual(len(found), 60)
        gets = [kw["RequestItems"][self.table] for name, kw in proxy.calls if name == "batch_get_item"]
        self.assertEqual([len(g["Keys"]) for g in gets], [100, 100, 50])
        self.assertTrue(all(g["ConsistentRead"] is True for g in gets))
        self.assertEqual((self.stats.puts, self.stats.write_requests, self.stats.read_requests, self.stats.retries),
                         (60, 3, 3, 0))

    def test_duplicate_keys_in_one_batch_are_deduplicated_last_wins(self):
        requests = [ddb_batch.put_request(item(1, "first")), ddb_batch.put_request(item(2)),
                    ddb_batch.put_request(item(1, "second"))]
        # {"N": "5"} and {"N": "5.0"} are one DynamoDB key too.
        self.write(self.client, requests)
        stored = support.scan_all(self.client, self.table, self.schema)
        self.assertEqual(len(stored), 2)
        self.assertEqual(self.client.get_item(TableName=self.table, Key={"id": {"S": "k0001"}})["Item"]["p"],
                         {"S": "second"})
        numeric = support.create_table(self.client, "numkey", ("id", "N"))
        schema = support.schema_of(self.client, numeric)
        ddb_batch.batch_write(self.client, numeric, [
            ddb_batch.put_request({"id": {"N": "5"}, "v": {"S": "a"}}),
            ddb_batch.delete_request({"id": {"N": "5.0"}}),
            ddb_batch.put_request({"id": {"N": "50E-1"}, "v": {"S": "b"}}),
        ], schema, self.stats, support.fast_retry())
        self.assertEqual(list(support.scan_all(self.client, numeric, schema).values()), [{"id": {"N": "5"}, "v": {"S": "b"}}])

    def test_unprocessed_items_and_keys_are_retried_until_done(self):
        proxy = support.FlakyDynamoDB(self.client, partial={"batch_write_item": 4, "batch_get_item": 3})
        self.write(proxy, [ddb_batch.put_request(item(i)) for i in range(30)])
        self.assertEqual(len(support.scan_all(self.client, self.table, self.schema)), 30)
        write_retries = self.stats.retries
        self.assertEqual(write_retries, 4)
        keys = [{"id": {"S": "k%04d" % i}} for i in range(30)]
        found = ddb_batch.batch_get(proxy, self.table, keys, self.schema, self.stats, support.fast_retry())
        self.assertEqual(sorted(found), sorted(ddb_batch.table_keys.key_id(k) for k in keys))
        self.assertEqual(self.stats.retries - write_retries, 3)
        unprocessed_gets = [kw for name, kw in proxy.calls if name == "batch_get_item"]
        self.assertTrue(all(kw["RequestItems"][self.table]["ConsistentRead"] for kw in unprocessed_gets))
        self.assertEqual(self.stats.puts, 30)

    def test_throttling_errors_are_retried_and_counted(self):
        for code in sorted(ddb_batch.RETRYABLE_CODES):
            proxy = support.FlakyDynamoDB(self.client, throttle={"batch_write_item": (2, code),
                                                                 "batch_get_item": (1, code), "scan": (1, code)})
            stats = ddb_batch.Stats()
            ddb_batch.batch_write(proxy, self.table, [ddb_batch.put_request(item(7, code))], self.schema, stats,
                                  support.fast_retry())
            found = ddb_batch.batch_get(proxy, self.table, [{"id": {"S": "k0007"}}], self.schema, stats,
                                        support.fast_retry())
            self.assertEqual(list(found.values())[0]["p"], {"S": code})
            ddb_batch.call(proxy.scan, {"TableName": self.table}, stats, support.fast_retry())
            self.assertEqual(stats.retries, 4, code)

    def test_backoff_is_exponential_with_full_jitter(self):
        slept = []
        policy = ddb_batch.RetryPolicy(base_delay=0.1, max_delay=0.5, max_elapsed=60, sleep=slept.append,
                                       rand=lambda: 1.0)
        proxy = support.FlakyDynamoDB(self.client, throttle={"batch_write_item": (5, "ThrottlingException")})
        self.write(proxy, [ddb_batch.put_request(item(1))], policy)
        self.assertEqual([round(s, 6) for s in slept], [0.1, 0.2, 0.4, 0.5, 0.5])
        jitter = []
        policy = ddb_batch.RetryPolicy(base_delay=0.1, max_delay=0.5, max_elapsed=60, sleep=jitter.append,
                                       rand=lambda: 0.25)
        proxy = support.FlakyDynamoDB(self.client, throttle={"batch_write_item": (2, "ThrottlingException")})
        self.write(proxy, [ddb_batch.put_request(item(1))], policy)
        self.assertEqual([round(s, 6) for s in jitter], [0.025, 0.05])

    def test_an_item_that_cannot_be_written_fails_loudly(self):
        proxy = support.FlakyDynamoDB(self.client, stuck={"batch_write_item": 10 ** 6})
        with self.assertRaises(ddb_batch.RetryBudgetExceeded) as caught:
            self.write(proxy, [ddb_batch.put_request(item(i)) for i in range(4)], support.fast_retry(max_elapsed=0.3))
        self.assertIn("unprocessed items", str(caught.exception))
        self.assertIn(self.table, str(caught.exception))
        self.assertGreater(self.stats.retries, 3)
        for proxy in (support.FlakyDynamoDB(self.client, throttle={"batch_get_item": (10 ** 6, "ThrottlingException")}),
                      support.FlakyDynamoDB(self.client, stuck={"batch_get_item": 10 ** 6})):
            with self.assertRaises(ddb_batch.RetryBudgetExceeded):
                ddb_batch.batch_get(proxy, self.table, [{"id": {"S": "x"}}], self.schema, self.stats,
                                    support.fast_retry(max_elapsed=0.2))

    def test_other_errors_are_not_retried(self):
        proxy = support.FlakyDynamoDB(self.client)
        with self.assertRaises(ddb_batch.ClientError) as caught:
            self.write(proxy, [ddb_batch.put_request({"id": {"S": "x"}, "bad": {"SS": []}})])
        self.assertEqual(caught.exception.response["Error"]["Code"], "ValidationException")
        self.assertEqual(self.stats.retries, 0)
        self.assertEqual(proxy.counts["batch_write_item"], 1)


if __name__ == "__main__":
    unittest.main()
