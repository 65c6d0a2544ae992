"""Replication never stalls: each scenario the review reproduced, scaled to run quickly, through
the real entry points, on dynalite and on AWS's DynamoDB Local. Each one failed on the code before it:
1. a bulk delete's backlog: every pass parsed all it listed, so memory grew with the backlog;
2. a large manifest and a slow backup: each run redid the same first keys and never finished;
4. an item the backup refuses stopped every later run on the same oldest manifest.
(3, hot keys: test_apply.HotKeyTest; 6, listing cost: test_manifest_listing; 5 and liveness: the
stack's sweep, tested in __tests__/.)"""

import gc
import tracemalloc
import unittest

import support
from backup_replication import apply, table_keys
from backup_replication.jobs import apply_changes

from test_apply import ApplyTestCase, item, key


def big_item(i, size):
    return {"id": key(i)["id"], "payload": {"S": "x" * size}, "n": {"N": str(i)}}


class NeverStallTest(ApplyTestCase):
    def peak_bytes_of_a_drain(self, max_pass_bytes):
        """Peak Python heap (tracemalloc) of a run draining 12 manifests of 20 deleted 10 KB items each."""
        prefix = support.unique("changes") + "/"
        self.prefix = prefix
        for n in range(12):
            removed = [(key(20 * n + i), str(1000 + 20 * n + i), big_item(20 * n + i, 10000)) for i in range(20)]
            support.put_manifest(self.s3, self.bucket, prefix, [], event_names=["REMOVE"], removed=removed)
        gc.collect()
        tracemalloc.start()
        try:
            result, _ = self.run_apply(settings=self.settings(max_pass_bytes=max_pass_bytes))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual((result.manifests_applied, self.manifests_left()), (12, []))
        return peak, result.passes

    def test_1_a_bulk_delete_backlog_is_drained_in_bounded_memory(self):
        # The whole backlog in one pass, as every pass was before (it parsed everything it listed) ...
        unbounded, passes = self.peak_bytes_of_a_drain(10 ** 9)
        self.assertEqual(passes, 1)
        # ... and passes of about two manifests.
        bounded, passes = self.peak_bytes_of_a_drain(2 * 202 * 1024)
        self.assertEqual(passes, 6)
        print("bulk-delete drain, peak Python heap: %.1f MB in one pass, %.1f MB in passes of 2 manifests (12 of 0.2 MB)"
              % (unbounded / 1e6, bounded / 1e6))
        self.assertLess(bounded * 2.5, unbounded)
        backup = self.backup_items()
        self.assertEqual(len(backup), 240)  # every deleted item's last state

    def test_2_a_large_manifest_and_a_slow_backup_make_progress_run_after_run(self):
        keys = 2000
        support.put_items(self.client, self.source, [item(i, 3) for i in range(keys)], self.schema)
        support.put_manifest(self.s3, self.bucket, self.prefix, [key(i) for i in range(keys)])
        now = [0.0]

        def slow(_kwargs, _number):  # 0.2 s a BatchWriteItem: a run's budget covers about 900 keys
            now[0] += 0.2

        written = 0
        for run in range(1, 6):
            proxy = support.FlakyDynamoDB(self.client, before={"batch_write_item": slow})
            replicator = self.replicator(client=proxy, delete_policy="mirror")
            start = now[0]
            settings = apply.ApplySettings(7.2, chunk_workers=2)
            result, _ = self.run_apply(replicator, settings=settings, clock=lambda: now[0] - start)
            written += replicator.stats.puts
            if not self.manifests_left():
                break
            self.assertTrue(result.stopped_by_budget)
            self.assertEqual(self.manifests_left(), result.remainders)  # the rest, in one smaller manifest
        self.assertEqual(self.manifests_left(), [])
        self.assertGreater(run, 1)  # the budget did stop runs
        self.assertEqual(written, keys)  # no key written twice
        self.assertEqual(self.backup_items(), self.source_items())

    def test_4_an_item_the_backup_refuses_is_quarantined_and_replayed_after_repair(self):
        """A rename pushes an item just under 400 KB over it: BatchWriteItem (mirror) and PutItem (retain)
        refuse it. It is set aside with its error, the rest applies, the run fails, later runs flow."""
        rename = '{"rename": {"payload": "%s"}}' % ("payload_with_a_longer_name_" * 4)
        for policy in ("mirror", "retain"):
            with self.subTest(policy=policy):
                self.setUp()
                self.quarantine_then_replay(policy, rename)

    def quarantine_then_replay(self, policy, rename):
        support.put_items(self.client, self.source, [item(i, 1) for i in range(30)], self.schema)
        self.client.put_item(TableName=self.source, Item=big_item(7, 400 * 1024 - 40))
        support.put_manifest(self.s3, self.bucket, self.prefix, [key(i) for i in range(30)])
        argv = self.argv("--delete_policy", policy, "--transform", rename)
        error, code, out, err = support.run_main_failing(apply_changes.main, argv)
        self.assertEqual(code, 0, err)
        self.assertIsInstance(error, apply.KeysQuarantined)
        kid = table_keys.key_id(key(7))
        self.assertIn(kid, str(error))
        backup = self.backup_items()
        self.assertEqual(sorted(backup), sorted(table_keys.key_id(key(i)) for i in range(30) if i != 7))
        self.assertEqual(self.manifests_left(), [])
        (held,) = support.list_keys(self.s3, self.bucket, self.quarantine)
        # Later changes flow: the next run does not fail on the same item.
        self.client.put_item(TableName=self.source, Item=item(3, 2))
        support.put_manifest(self.s3, self.bucket, self.prefix, [key(3)])
        _, code, _, err = support.run_main(apply_changes.main, argv)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.backup_items()[table_keys.key_id(key(3))]["version"], {"N": "2"})
        # The runbook: repair the item, move the quarantine object back under the manifest prefix.
        self.client.put_item(TableName=self.source, Item=big_item(7, 1000))
        self.s3.copy_object(Bucket=self.bucket, Key=self.prefix + held[len(self.quarantine):],
                            CopySource={"Bucket": self.bucket, "Key": held})
        self.s3.delete_object(Bucket=self.bucket, Key=held)
        _, code, _, err = support.run_main(apply_changes.main, argv)
        self.assertEqual(code, 0, err)
        self.assertIn(kid, self.backup_items())
        self.assertEqual((self.manifests_left(), support.list_keys(self.s3, self.bucket, self.quarantine)), ([], []))

    def argv(self, *extra):
        return ["apply_changes.py", "--JOB_RUN_ID", "jr_1", "--source_table", self.source, "--backup_table", self.backup,
                "--manifest_bucket", self.bucket, "--manifest_prefix", self.prefix, "--rejected_prefix", self.rejected,
                "--quarantine_prefix", self.quarantine] + list(extra)


class NeverStallOnDynamoDbLocalTest(support.OnDynamoDbLocal, NeverStallTest):
    """The same scenarios on AWS's DynamoDB Local: its item-size limit and errors decide, not dynalite's."""




if __name__ == "__main__":
    unittest.main()
