"""Retained items (delete policy "retain") keep a deleted payment's NEWEST last state, whatever order the
writes land in: a pass stopped by the budget or by a crash, manifests listed newest first, full-copy
racing apply-changes, two apply runs at once, re-inserts and repeated deletes.

Every scenario here left an older last state in the backup before retained items were versioned."""

import threading
import unittest

import local_spark
import support
from backup_replication import apply, manifest_format, retained, scan_copy, table_keys
from test_apply import ApplyTestCase, item, key, with_marker


R = retained.DEFAULT_ATTRIBUTE


class RetainedVersionsTest(ApplyTestCase):
    def named_manifest(self, name, keys, removed):
        _, body = manifest_format.build_manifest(keys, event_names=["REMOVE"], removed=removed)
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        return self.prefix + name

    def assertQuarantined(self, result, typed_key, reason):
        """The key's quarantine object: a manifest of it alone (replayable as it is), with the reason in its
        body and metadata; returns its removed entry (None without one)."""
        kid = table_keys.key_id(typed_key)
        self.assertIn(reason, result.quarantined[kid]["reason"])
        name = result.quarantined[kid]["object"]
        self.assertTrue(name.startswith(self.quarantine))
        self.assertIn(name, support.list_keys(self.s3, self.bucket, self.quarantine))
        obj = self.s3.get_object(Bucket=self.bucket, Key=name)
        self.assertIn(reason[:20], obj["Metadata"]["quarantine-reason"])
        manifest = manifest_format.parse_manifest_document(obj["Body"].read(), self.schema)
        self.assertEqual(manifest.keys, [typed_key])
        return manifest.removed[0] if manifest.removed else None

    def remainder_keys(self, name):
        return manifest_format.parse_manifest(self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read())

    def assertSameItem(self, actual, expected):
        self.assertEqual(support.comparable(actual), support.comparable(expected))

    def backup_item(self, i):
        return self.client.get_item(TableName=self.backup, Key=key(i), ConsistentRead=True).get("Item")

    def budget_spent_at_first_write(self):
        """(DynamoDB proxy, clock): the clock jumps past any budget at the first backup write."""
        now = [0.0]

        def spend(_kwargs, _number):
            now[0] = 10 ** 6

        proxy = support.FlakyDynamoDB(self.client, before={"put_item": spend, "batch_write_item": spend})
        return proxy, lambda: now[0]

    def older_and_newer_deletion(self):
        """Item 1 was deleted at 100 (last state v1), re-inserted and deleted again at 200 (v2); its older
        manifest also holds item 2 (present), so that manifest straddles a one-key chunk boundary."""
        self.client.put_item(TableName=self.source, Item=item(2, 1))
        self.named_manifest("a-old.json", [key(1), key(2)], [(key(1), "100", item(1, 1))])
        self.named_manifest("b-new.json", [key(1)], [(key(1), "200", item(1, 2))])

    def test_a_pass_stopped_by_the_time_budget_keeps_the_newest_retained_image(self):
        self.older_and_newer_deletion()
        proxy, clock = self.budget_spent_at_first_write()
        settings = apply.ApplySettings(60, keys_per_chunk=1, chunk_workers=1)
        result, _ = self.run_apply(self.replicator(client=proxy), settings=settings, clock=clock)
        self.assertTrue(result.stopped_by_budget)
        # The newer manifest was fully applied and deleted; the older one is replaced by a remainder
        # holding item 2 alone (item 1 is done: it is not redone).
        self.assertEqual(self.manifests_left(), result.remainders)
        self.assertEqual(self.remainder_keys(result.remainders[0]), [key(2)])
        self.assertSameItem(self.backup_item(1)["version"], {"N": "2"})
        replicator = self.replicator()
        self.run_apply(replicator)  # the next run sees only the remainder
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 2), 200))
        self.assertSameItem(self.backup_item(2), item(2, 1))
        self.assertEqual((replicator.stats.retained_images, replicator.stats.puts, self.manifests_left()), (0, 1, []))

    def test_a_pass_stopped_by_a_crash_keeps_the_newest_retained_image(self):
        self.older_and_newer_deletion()
        crashing = support.FlakyDynamoDB(self.client, crash_on={"put_item": 2, "batch_write_item": 2})
        with self.assertRaises(RuntimeError):  # item 2's write, after item 1's
            self.run_apply(self.replicator(client=crashing), settings=self.settings(keys_per_chunk=1, chunk_workers=1))
        (left,) = self.manifests_left()  # the older manifest, replaced by a remainder of item 2
        self.assertEqual(self.remainder_keys(left), [key(2)])
        self.run_apply()
        self.assertSameItem(self.backup_item(1)["version"], {"N": "2"})
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 2), 200))
        self.assertSameItem(self.backup_item(2), item(2, 1))

    def test_a_newer_manifest_listed_first_then_an_older_one_in_a_later_run(self):
        # LastModified has one-second resolution: written within a second, manifests list by name.
        self.named_manifest("a-new.json", [], [(key(1), "200", item(1, 2))])
        self.named_manifest("b-old.json", [], [(key(1), "100", item(1, 1))])
        proxy, clock = self.budget_spent_at_first_write()
        result, _ = self.run_apply(self.replicator(client=proxy), settings=self.settings(max_manifests_per_pass=1),
                                   clock=clock)
        self.assertEqual((result.passes, result.stopped_by_budget), (1, True))
        self.assertEqual(self.manifests_left(), [self.prefix + "b-old.json"])
        replicator = self.replicator()
        self.run_apply(replicator)
        self.assertSameItem(self.backup_item(1)["version"], {"N": "2"})
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 2), 200))
        self.assertEqual((replicator.stats.retained_images, replicator.stats.retained_skipped), (0, 1))

    def test_full_copy_racing_apply_does_not_replace_a_newer_retained_image(self):
        self.client.put_item(TableName=self.source, Item=item(1, 1))
        raced = []

        def race(_kwargs, number):
            # full-copy scanned v1; its write was throttled once; before the retry lands, the item
            # becomes v2, is deleted (sequence 300) and apply-changes writes the retained v2.
            if number != 2:
                return
            self.client.put_item(TableName=self.source, Item=item(1, 2))
            self.client.delete_item(TableName=self.source, Key=key(1))
            support.put_manifest(self.s3, self.bucket, self.prefix, [], event_names=["REMOVE"],
                                 removed=[(key(1), "300", item(1, 2), 1764620970)])
            self.run_apply()
            raced.append(self.backup_item(1))

        throttled = {"put_item": (1, "ProvisionedThroughputExceededException"),
                     "batch_write_item": (1, "ProvisionedThroughputExceededException")}
        proxy = support.FlakyDynamoDB(self.client, throttle=throttled, before={"put_item": race, "batch_write_item": race})
        copier = self.replicator(client=proxy)
        scan_copy.copy_segment(proxy, copier, 0, 1)
        expected = with_marker(item(1, 2), 300, "2025-12-01T20:29:30Z")
        self.assertSameItem(self.backup_item(1)["version"], {"N": "2"})
        self.assertEqual(support.comparable(raced), support.comparable([expected]))
        self.assertSameItem(self.backup_item(1), expected)
        self.assertEqual((copier.stats.live_writes_dropped, copier.stats.retries), (1, 1))

    def test_two_apply_runs_at_once_the_slower_holding_the_older_image(self):
        self.named_manifest("a-old.json", [], [(key(1), "100", item(1, 1))])
        ready, done = threading.Event(), threading.Event()
        errors = []

        def hold(_kwargs, number):  # run A read "absent" and is about to write v1 @100
            if number == 1:
                ready.set()
                done.wait(60)

        def run(replicator):
            try:
                self.run_apply(replicator, s3=support.s3())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        slow = support.FlakyDynamoDB(support.ddb(), before={"put_item": hold, "batch_write_item": hold})
        run_a = threading.Thread(target=run, args=(self.replicator(client=slow),))
        run_a.start()
        self.assertTrue(ready.wait(60))
        # Meanwhile the item was re-inserted and deleted again at 200; run B takes both manifests.
        self.named_manifest("b-new.json", [], [(key(1), "200", item(1, 2))])
        run_b = threading.Thread(target=run, args=(self.replicator(client=support.ddb()),))
        run_b.start()
        run_b.join()
        done.set()
        run_a.join()
        self.assertEqual(errors, [])
        self.assertSameItem(self.backup_item(1)["version"], {"N": "2"})
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 2), 200))
        self.assertEqual(self.manifests_left(), [])

    def test_re_insert_after_a_retained_write_then_delete_again(self):
        self.named_manifest("1.json", [], [(key(1), "100", item(1, 1))])
        self.run_apply()
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 1), 100))
        # Re-inserted: the live state replaces the retained one, byte for byte (no marker).
        self.client.put_item(TableName=self.source, Item=item(1, 5))
        self.put_manifests([[key(1)]])
        replicator = self.replicator()
        self.run_apply(replicator)
        self.assertSameItem(self.backup_item(1), item(1, 5))
        self.assertEqual((replicator.stats.condition_failures, replicator.stats.puts), (1, 1))
        # Modified and deleted again at 300: the newest last state is retained.
        self.client.put_item(TableName=self.source, Item=item(1, 6))
        self.client.delete_item(TableName=self.source, Key=key(1))
        self.named_manifest("2.json", [key(1)], [(key(1), "300", item(1, 6))])
        self.run_apply()
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 6), 300))
        # The first deletion's manifest again, late (e.g. rebuilt from the stream): nothing changes.
        self.named_manifest("3.json", [], [(key(1), "100", item(1, 1), 1764620000)])
        replicator = self.replicator()
        self.run_apply(replicator)
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 6), 300))
        self.assertEqual(replicator.stats.retained_skipped, 1)

    def test_a_deletion_between_the_version_read_and_the_source_read_is_not_undone(self):
        # The backup holds item 1 deleted at 100; it was re-inserted (v5), and a run's live write of v5
        # finds the retained item. Just then v5 is deleted at 300 and another run writes its retained v5.
        self.client.put_item(TableName=self.backup, Item=with_marker(item(1, 1), 100))
        self.client.put_item(TableName=self.source, Item=item(1, 5))

        def delete_again(_kwargs, number):
            if number == 1:
                self.client.delete_item(TableName=self.source, Key=key(1))
                self.named_manifest("300.json", [], [(key(1), "300", item(1, 5))])
                self.run_apply()

        # The version is read before the source: had the source been read first (v5) and then the
        # version (300), v5 would be written as live over the retained v5 @300, its marker lost.
        replicator = self.replicator(client=support.FlakyDynamoDB(self.client, before={"get_item": delete_again}))
        replicator.sync_keys([key(1)])
        self.assertSameItem(self.backup_item(1), with_marker(item(1, 5), 300))
        self.assertEqual(replicator.stats.live_writes_dropped, 1)

    def test_versions_compare_as_numbers_across_runs(self):
        # 99 < 100 as numbers but not as unpadded strings; 40-digit numbers too (DynamoDB's N holds 38).
        for first, second, kept in (("100", "99", 100), ("9" * 39, "1" + "0" * 39, int("1" + "0" * 39))):
            self.named_manifest("first.json", [], [(key(1), first, item(1, 1))])
            self.run_apply()
            self.named_manifest("second.json", [], [(key(1), second, item(1, 2))])
            self.run_apply()
            self.assertSameItem(self.backup_item(1)[retained.DEFAULT_ATTRIBUTE]["M"]["sequenceNumber"],
                             {"S": retained.version(kept)})
            self.assertEqual(len(retained.version(kept)), 40)

    def test_a_source_item_carrying_the_retained_attribute_is_set_aside_and_the_run_fails_naming_it(self):
        bad = dict(item(1, 1))
        bad[retained.DEFAULT_ATTRIBUTE] = {"S": "payment data that happens to use the name"}
        self.client.put_item(TableName=self.source, Item=item(2, 1))
        for where in ("source", "removed entry"):
            if where == "source":
                self.client.put_item(TableName=self.source, Item=bad)
                name = self.put_manifests([[key(1), key(2)]])[0]
            else:
                self.client.delete_item(TableName=self.source, Key=key(1))
                name = self.named_manifest("removed.json", [key(2)], [(key(1), "100", bad)])
            result, _ = self.run_apply()
            with self.assertRaises(apply.KeysQuarantined) as caught:
                apply.check_failures(result, log=support.LogCapture())
            message = str(caught.exception)
            self.assertIn(table_keys.key_id(key(1)), message)
            self.assertIn("retainedAttribute", message)
            self.assertIn(retained.DEFAULT_ATTRIBUTE, message)
            self.assertIsNone(self.backup_item(1))
            self.assertSameItem(self.backup_item(2), item(2, 1))  # the other key still replicates
            self.assertEqual(self.manifests_left(), [])  # consumed: the key is set aside, nothing is lost
            self.assertQuarantined(result, key(1), "retainedAttribute")

    def test_another_retained_attribute_name_and_mirror_unchanged(self):
        replicator = self.replicator()
        custom = type(replicator)(self.client, self.source, self.backup, self.schema, replicator.transform, "retain",
                                  replicator.stats, replicator.policy, retained_attribute="gone")
        self.named_manifest("1.json", [], [(key(1), "7", item(1, 1))])
        self.run_apply(custom)
        expected = dict(item(1, 1))
        expected["gone"] = retained.marker(7)
        self.assertSameItem(self.backup_item(1), expected)
        with self.assertRaises(ValueError):  # under retain a backup item absent from the source is kept
            replicator.prune([key(1)])
        # mirror: no versions, absent => deleted
        self.put_manifests([[key(1)]])
        self.run_apply(self.replicator(delete_policy="mirror"))
        self.assertIsNone(self.backup_item(1))

    def test_a_deleted_item_too_large_with_the_marker_is_set_aside_and_the_run_fails_naming_it(self):
        # Under 400 KB in the source; the retained marker (about 100 bytes) makes it too large to write.
        big = {"id": key(1)["id"], "payload": {"S": "p" * (400 * 1024 - 12 - 7 - 40)}}
        self.client.put_item(TableName=self.source, Item=big)
        self.client.delete_item(TableName=self.source, Key=key(1))
        self.client.put_item(TableName=self.source, Item=item(2, 1))
        self.client.put_item(TableName=self.source, Item=item(3, 1))
        self.named_manifest("a-big.json", [key(1), key(2)], [(key(1), "100", big)])
        self.named_manifest("b-other.json", [key(3)], [])
        result, log = self.run_apply()
        kid = table_keys.key_id(key(1))
        self.assertEqual(list(result.quarantined), [kid])
        self.assertIsNone(self.backup_item(1))
        self.assertSameItem(self.backup_item(2), item(2, 1))  # the rest of its manifest, and the others, applied
        self.assertSameItem(self.backup_item(3), item(3, 1))
        self.assertEqual((self.manifests_left(), result.hot_keys, result.remainders), ([], [], []))
        self.assertEqual([e["key"] for e in log.events if e["event"] == "key_quarantined"], [kid])
        entry = self.assertQuarantined(result, key(1), "ValidationException")
        self.assertEqual((entry.sequence, entry.old_image), (100, big))  # its last state, to replay
        with self.assertRaises(apply.KeysQuarantined) as caught:
            apply.check_failures(result, log=log)
        self.assertIn(kid, str(caught.exception))

    def test_a_backup_item_whose_marker_is_no_version_is_set_aside_not_retried_forever(self):
        self.client.put_item(TableName=self.source, Item=item(1, 2))
        self.client.put_item(TableName=self.source, Item=item(2, 1))
        malformed = dict(item(1, 1))
        malformed[R] = {"S": "not a version"}  # e.g. written by another tool, or a renamed retainedAttribute
        self.client.put_item(TableName=self.backup, Item=malformed)
        self.put_manifests([[key(1), key(2)]])
        result, _ = self.run_apply()
        kid = table_keys.key_id(key(1))
        self.assertEqual(list(result.quarantined), [kid])
        self.assertEqual(result.hot_keys, [])
        self.assertSameItem(self.backup_item(1), malformed)
        self.assertSameItem(self.backup_item(2), item(2, 1))
        self.assertEqual(self.manifests_left(), [])
        self.assertQuarantined(result, key(1), "not as a version")


class RetainedVersionsOnDynamoDbLocalTest(support.OnDynamoDbLocal, RetainedVersionsTest):
    """The same scenarios on AWS's DynamoDB Local: its condition expressions decide, not dynalite's."""


class SpreadRetainedVersionsTest(support.WithSpreadRuns, RetainedVersionsTest):
    """The same scenarios with every apply run's keys synced in worker processes (spark_apply.SparkSpread on
    local_spark.ProcessSparkContext), in one task so that its chunks go in the order the scenario counts
    writes by. What the scenarios do mid-write (spend the budget, crash, hold a run while another goes,
    start another run) still runs in the test, reached through support.SpreadRuns."""

    def test_a_task_dying_mid_pass_keeps_the_newest_retained_image(self):
        """Item 2's write kills its task (HardCrash escaping it, or its process dying) after item 1's retained
        v2 @200 landed. Spark runs the task again (max_failures 4) and the pass completes, holding the task's
        keys for the next run (an attempt given up for lost may still write); or it gives up (1): the run
        fails leaving every key of the pass in one remainder. Either way item 1 keeps its newest entry."""
        for hard, death in (("raise", "HardCrash: injected crash"), ("exit", "exit code %d" % support.HARD_EXIT_CODE)):
            for max_failures in (1, 4):
                with self.subTest(hard=hard, max_failures=max_failures):
                    self.setUp()
                    self.older_and_newer_deletion()
                    crashing = support.FlakyDynamoDB(self.client, crash_on={"put_item": 2, "batch_write_item": 2},
                                                     crash_error=support.HardCrash)
                    settings = self.settings(keys_per_chunk=1, chunk_workers=1)
                    if max_failures == 4:
                        result, _ = self.run_apply(self.replicator(client=crashing), settings=settings, hard=hard)
                        self.assertEqual((result.keys, result.carried_keys), (0, 2))
                        (left,) = self.manifests_left()
                        document = manifest_format.parse_manifest_document(
                            self.s3.get_object(Bucket=self.bucket, Key=left)["Body"].read(), self.schema)
                        self.assertEqual([(e.key, e.sequence) for e in document.removed], [(key(1), 200)])
                    else:
                        with self.assertRaises(local_spark.SparkJobFailed):
                            self.run_apply(self.replicator(client=crashing), settings=settings, hard=hard,
                                           max_failures=1)
                        (left,) = self.manifests_left()
                        document = manifest_format.parse_manifest_document(
                            self.s3.get_object(Bucket=self.bucket, Key=left)["Body"].read(), self.schema)
                        self.assertEqual(document.keys, [key(1), key(2)])
                        self.assertEqual([(e.key, e.sequence) for e in document.removed], [(key(1), 200)])
                    (failure,) = self.last_spread.task_failures()
                    self.assertIn(death, failure)
                    self.run_apply()
                    self.assertSameItem(self.backup_item(1), with_marker(item(1, 2), 200))
                    self.assertSameItem(self.backup_item(2), item(2, 1))
                    self.assertEqual(self.manifests_left(), [])

    def run_apply(self, replicator=None, s3=None, settings=None, hard="raise", max_failures=4, **kwargs):
        replicator = replicator or self.replicator()
        settings = settings or self.settings()
        error = None
        with self.spread_runs.spread(replicator, settings, clock=kwargs.get("clock"), hard=hard,
                                     max_failures=max_failures) as run:
            try:
                return_value = RetainedVersionsTest.run_apply(self, replicator, s3, settings, spread=run.spread, **kwargs)
            except Exception as caught:  # noqa: BLE001 - raised below, after the checks of the tasks
                error = caught
        self.last_spread = run
        self.assertEqual(run.uninjected_failures(), [])
        self.assertEqual(self.spread_runs.hooks.errors, [])
        if error is not None:
            raise error
        if return_value[0].keys:
            self.assertGreater(len(run.jobs), 0)  # synced in the worker processes, not here
        return return_value


if __name__ == "__main__":
    unittest.main()
