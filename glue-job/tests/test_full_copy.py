"""full-copy: the Spark wiring (with a fake context that runs partitions in-process), the segment copy,
mirror deletes, rate limiting, and the 10,000-item full copy + apply scenario."""

import random
import unittest

import support
from backup_replication import aws_clients, ddb_batch, replicate, retained, scan_copy, spark_segments, table_keys
from backup_replication.jobs import apply_changes, full_copy
from backup_replication.transform import Transform


class RecordingTask(object):
    """A picklable stand-in for the segment copier."""

    def __call__(self, segment):
        return {"segment": segment, "scanned": 1, "puts": segment}


class SparkWiringTest(unittest.TestCase):
    def test_segment_count_is_derived_from_the_cluster(self):
        self.assertEqual(spark_segments.derive_total_segments(support.FakeSparkContext(3)), 12)
        glue_g1x_10_workers = support.FakeSparkContext(36, {"spark.executor.instances": "9", "spark.executor.cores": "4"})
        self.assertEqual(spark_segments.derive_total_segments(glue_g1x_10_workers), 144)
        self.assertEqual(spark_segments.derive_total_segments(support.FakeSparkContext(0)), 1)
        huge = support.FakeSparkContext(1, {"spark.executor.instances": "100000", "spark.executor.cores": "16"})
        self.assertEqual(spark_segments.derive_total_segments(huge), 1000000)

    def test_every_segment_runs_exactly_once_in_its_own_partition(self):
        for total in (1, 7, 64):
            sc = support.FakeSparkContext(4)
            totals, results = spark_segments.run_segments(sc, total, RecordingTask())
            self.assertEqual(sc.parallelize_calls, [(list(range(total)), total)])
            self.assertEqual(sorted(r["segment"] for r in results), list(range(total)))
            self.assertEqual(totals.scanned, total)
            self.assertEqual(totals.puts, sum(range(total)))
            self.assertEqual(len(sc.shipped), 1)
            self.assertIsInstance(sc.shipped[0].task, RecordingTask)

    def test_a_lost_segment_fails_the_run(self):
        class Dropping(support.FakeSparkContext):
            def parallelize(self, data, numSlices=None):
                rdd = support.FakeSparkContext.parallelize(self, data, numSlices)
                rdd.partitions = rdd.partitions[:-1]
                return rdd

        with self.assertRaises(ddb_batch.ReplicationError):
            spark_segments.run_segments(Dropping(2), 4, RecordingTask())

    def test_rate_limiter_spaces_items(self):
        now = [100.0]
        slept = []

        def sleep(seconds):
            slept.append(seconds)
            now[0] += seconds

        limiter = scan_copy.RateLimiter(50, clock=lambda: now[0], sleep=sleep)
        for _ in range(4):
            limiter.acquire(100)
        self.assertEqual(slept, [2.0, 2.0, 2.0])
        self.assertEqual(now[0], 106.0)


def item(i, version=0, rng=None):
    """Small items: the 3,000-item scenario is about counts; fidelity of every type is test_fidelity's."""
    rng = rng or random.Random(i)
    return {"id": {"S": "user#%06d" % i}, "version": {"N": str(version)},
            "amount": {"N": "%d.%02d" % (rng.randint(0, 10 ** 9), rng.randint(0, 99))},
            "note": {"S": "x" * rng.randint(0, 60)}, "raw": {"B": bytes([i % 256, version])},
            "flags": {"SS": ["a", "b%d" % (i % 5)]}}


def key(i):
    return {"id": {"S": "user#%06d" % i}}


class FullCopyTest(support.TablePairTestCase):
    def setUp(self):
        super(FullCopyTest, self).setUp()
        self.proxies = []
        self._original_client = aws_clients.dynamodb_client

        def recording_client(region=None):
            proxy = support.FlakyDynamoDB(self._original_client(region))
            self.proxies.append(proxy)
            return proxy

        aws_clients.dynamodb_client = recording_client

    def tearDown(self):
        aws_clients.dynamodb_client = self._original_client

    def calls(self, name):
        return [kw for proxy in self.proxies for n, kw in proxy.calls if n == name]

    def full_copy(self, *extra, **kwargs):
        argv = ["full_copy.py", "--JOB_ID", "j", "--JOB_RUN_ID", "jr", "--JOB_NAME", "full-copy",
                "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://t/",
                "--source_table", self.source, "--backup_table", self.backup] + list(extra)
        sc = kwargs.pop("sc", None) or support.FakeSparkContext(2)
        summary, code, out, err = support.run_main(full_copy.main, argv, spark_context=sc, **kwargs)
        self.assertEqual(code, 0, err)
        return summary, sc, out

    def apply(self, prefix, *extra):
        argv = ["apply_changes.py", "--source_table", self.source, "--backup_table", self.backup,
                "--manifest_bucket", self.bucket, "--manifest_prefix", prefix,
                "--rejected_prefix", "rejected-" + prefix] + list(extra)
        result, code, out, err = support.run_main(apply_changes.main, argv)
        self.assertEqual(code, 0, err)
        return result, out

    def table(self, name):
        return support.scan_all(self.client, name, self.schema)

    def test_each_segment_goes_to_the_shared_copier(self):
        support.put_items(self.client, self.source, [item(i) for i in range(300)], self.schema)
        seen = []
        original = scan_copy.copy_segment

        def spy(client, replicator, segment, total_segments, **kwargs):
            self.assertIsInstance(replicator, replicate.Replicator)
            seen.append((segment, total_segments))
            return original(client, replicator, segment, total_segments, **kwargs)

        scan_copy.copy_segment = spy
        try:
            summary, sc, out = self.full_copy("--scan_segments", "0", sc=support.FakeSparkContext(2))
        finally:
            scan_copy.copy_segment = original
        self.assertEqual(sorted(seen), [(s, 8) for s in range(8)])
        self.assertEqual(sc.parallelize_calls, [(list(range(8)), 8)])
        self.assertIsInstance(sc.shipped[0].task, scan_copy.SegmentCopyTask)
        scans = self.calls("scan")
        self.assertEqual(sorted(set((kw["Segment"], kw["TotalSegments"]) for kw in scans)), [(s, 8) for s in range(8)])
        self.assertTrue(all(kw["ConsistentRead"] is False for kw in scans))
        self.assertEqual((summary["segments"], summary["copy"]["scanned"], summary["copy"]["puts"]), (8, 300, 300))
        self.assertEqual(self.table(self.backup), self.table(self.source))
        events = [e["event"] for e in support.json_lines(out)]
        self.assertEqual(events, ["full_copy_start", "full_copy_copied", "full_copy_done"])

    def test_consistent_scan_rate_limit_and_throttled_scans(self):
        support.put_items(self.client, self.source, [item(i) for i in range(120)], self.schema)
        original = aws_clients.dynamodb_client

        def throttled(region=None):
            proxy = original(region)
            proxy.throttle = {"scan": (1, "ProvisionedThroughputExceededException")}
            return proxy

        aws_clients.dynamodb_client = throttled
        summary, _, _ = self.full_copy("--scan_segments", "3", "--consistent_scan", "true",
                                       "--max_items_per_second", "2000", retry=support.fast_retry())
        scans = self.calls("scan")
        self.assertTrue(scans and all(kw["ConsistentRead"] is True and kw["Limit"] == 1000 for kw in scans))
        self.assertGreaterEqual(summary["copy"]["retries"], 3)  # one throttled scan per segment's client
        self.assertEqual(self.table(self.backup), self.table(self.source))

    def test_mirror_deletes_removes_backup_items_absent_from_the_source(self):
        support.put_items(self.client, self.source, [item(i) for i in range(100)], self.schema)
        support.put_items(self.client, self.backup, [item(i, 9) for i in range(50, 180)], self.schema)
        summary, _, out = self.full_copy("--scan_segments", "4", "--mirror_deletes", "true",
                                         "--delete_policy", "mirror")
        self.assertEqual(self.table(self.backup), self.table(self.source))
        self.assertEqual(summary["mirror_deletes"]["deletes"], 80)
        prune_scans = [kw for kw in self.calls("scan") if kw["TableName"] == self.backup]
        self.assertEqual(len(set(kw["Segment"] for kw in prune_scans)), 4)
        self.assertTrue(all(kw["ProjectionExpression"] == "#k0" and kw["ExpressionAttributeNames"] == {"#k0": "id"}
                            for kw in prune_scans))
        # retain (the default) never deletes
        support.put_items(self.client, self.backup, [item(500)], self.schema)
        self.full_copy("--scan_segments", "2")
        self.assertIn(table_keys.key_id(key(500)), self.table(self.backup))

    def test_transform_is_applied_identically_by_both_jobs(self):
        transform = '{"rename": {"amount": "total", "note": "comment"}, "drop": ["raw", "missing"]}'
        support.put_items(self.client, self.source, [item(i) for i in range(60)], self.schema)
        self.full_copy("--scan_segments", "3", "--transform", transform)
        copied = self.table(self.backup)
        expected = dict((k, Transform.parse(transform).apply(v)) for k, v in self.table(self.source).items())
        self.assertEqual(copied, expected)
        sample = copied[table_keys.key_id(key(1))]
        self.assertEqual(sorted(sample), ["comment", "flags", "id", "total", "version"])
        applied_backup = support.create_table(self.client, "bak")
        prefix = support.unique("changes") + "/"
        support.put_manifest(self.s3, self.bucket, prefix, [key(i) for i in range(60)])
        _, code, _, err = support.run_main(apply_changes.main, [
            "x", "--source_table", self.source, "--backup_table", applied_backup, "--manifest_bucket", self.bucket,
            "--manifest_prefix", prefix, "--rejected_prefix", "r-" + prefix, "--transform", transform])
        self.assertEqual(code, 0, err)
        self.assertEqual(support.scan_all(self.client, applied_backup, self.schema), copied)

    def test_key_touching_transform_is_rejected(self):
        for transform in ('{"rename": {"id": "key"}}', '{"drop": ["id"]}', '{"rename": {"note": "id"}}'):
            argv = ["x", "--source_table", self.source, "--backup_table", self.backup, "--transform", transform]
            sc = support.FakeSparkContext(2)
            _, code, _, err = support.run_main(full_copy.main, argv, spark_context=sc)
            self.assertEqual(code, 2)
            self.assertIn("full-copy: error:", err)
            self.assertIn("key attribute", err)
            self.assertEqual(sc.parallelize_calls, [])

    def used_operations(self):
        used = set()
        for kwargs_name, kwargs in [(n, kw) for proxy in self.proxies for n, kw in proxy.calls]:
            where = ",".join(sorted(kwargs["RequestItems"])) if "RequestItems" in kwargs else kwargs["TableName"]
            used.add((kwargs_name, where))
        return used

    def test_calls_only_what_the_glue_role_grants(self):
        """The DynamoDB operations (and tables) full-copy uses: the IAM surface of its role, per delete policy.

        Under retain one key of the source is a retained item in the backup (deleted, then re-inserted),
        so the copy also takes the path that replaces a retained item (GetItem of its version)."""
        support.put_items(self.client, self.source, [item(i) for i in range(30)], self.schema)
        support.put_items(self.client, self.backup, [item(i) for i in range(100, 110)], self.schema)
        marked = dict(item(3, 1))
        marked[retained.DEFAULT_ATTRIBUTE] = retained.marker(77)
        self.client.put_item(TableName=self.backup, Item=marked)
        self.full_copy("--scan_segments", "2")
        retain = {("describe_table", self.source), ("describe_table", self.backup), ("scan", self.source),
                  ("batch_get_item", self.source),  # write verification, and the re-read of a replaced retained item
                  ("put_item", self.backup), ("get_item", self.backup)}
        self.assertEqual(self.used_operations(), retain)
        self.assertEqual(self.table(self.backup)[table_keys.key_id(key(3))], item(3))
        roles = {self.source: "source", self.backup: "backup"}
        support.record_iam_surface("full-copy-retain", retain, roles)
        del self.proxies[:]
        self.full_copy("--scan_segments", "2", "--delete_policy", "mirror", "--mirror_deletes", "true")
        mirror = {("describe_table", self.source), ("describe_table", self.backup), ("scan", self.source),
                  ("scan", self.backup), ("batch_get_item", self.source), ("batch_write_item", self.backup)}
        self.assertEqual(self.used_operations(), mirror)
        support.record_iam_surface("full-copy-mirror", self.used_operations(), roles)
        del self.proxies[:]
        self.full_copy("--scan_segments", "2", "--verify_writes", "false")
        self.assertEqual(self.used_operations(), retain - {("batch_get_item", self.source), ("get_item", self.backup)})

    def test_backup_with_a_different_key_is_rejected(self):
        other = support.create_table(self.client, "bak", ("id", "S"), ("sk", "S"))
        argv = ["x", "--source_table", self.source, "--backup_table", other]
        _, code, _, err = support.run_main(full_copy.main, argv, spark_context=support.FakeSparkContext(2))
        self.assertEqual(code, 2)
        self.assertIn("full-copy: error:", err)
        self.assertIn("has key", err)

    def test_three_thousand_items_full_copy_then_changes_via_manifests(self):
        rng = random.Random(20240601)
        count = 3000
        support.put_items(self.client, self.source, [item(i) for i in range(count)], self.schema)
        summary, sc, _ = self.full_copy("--scan_segments", "0", sc=support.FakeSparkContext(2))
        self.assertEqual(summary["segments"], 8)
        self.assertEqual(summary["copy"]["scanned"], count)
        original = self.table(self.source)
        self.assertEqual(len(original), count)
        self.assertEqual(self.table(self.backup), original)

        existing = rng.sample(range(count), 450)
        modified, deleted = existing[:270], existing[270:]
        inserted = list(range(count, count + 210))
        stats = ddb_batch.Stats()
        ddb_batch.batch_write(self.client, self.source,
                              [ddb_batch.put_request(item(i, 1, rng)) for i in modified + inserted] +
                              [ddb_batch.delete_request(key(i)) for i in deleted],
                              self.schema, stats, support.fast_retry())
        changed = modified + deleted + inserted
        rng.shuffle(changed)
        prefix = support.unique("changes") + "/"
        for start in range(0, len(changed), 40):
            group = changed[start:start + 40] + rng.sample(changed, 8)  # overlaps between manifests
            support.put_manifest(self.s3, self.bucket, prefix, [key(i) for i in group])
        result, out = self.apply(prefix)
        self.assertEqual(support.list_keys(self.s3, self.bucket, prefix), [])
        self.assertEqual(result.keys, len(changed))
        expected = self.table(self.source)
        for i in deleted:  # retained under the default policy, as they were
            expected[table_keys.key_id(key(i))] = original[table_keys.key_id(key(i))]
        self.assertEqual(self.table(self.backup), expected)

        support.put_manifest(self.s3, self.bucket, prefix, [key(i) for i in deleted])
        result, _ = self.apply(prefix, "--delete_policy", "mirror")
        self.assertEqual(result.keys, len(deleted))
        self.assertEqual(self.table(self.backup), self.table(self.source))


if __name__ == "__main__":
    unittest.main()
