"""apply-changes against dynalite and s3rver: passes, manifests, failures, budget, races."""

import json
import os
import random
import subprocess
import sys
import threading
import unittest

import support
from backup_replication import (apply, aws_clients, ddb_batch, manifest_format, manifest_store, replicate, retained,
                                table_keys)
from backup_replication.jobs import apply_changes
from backup_replication.transform import Transform

RETAINED = retained.DEFAULT_ATTRIBUTE


def item(i, version=0):
    return {"id": {"S": "item-%05d" % i}, "version": {"N": str(version)}, "payload": {"S": "p%d-%d" % (i, version)},
            "tags": {"SS": ["t%d" % (i % 3), "all"]}}


def key(i):
    return {"id": {"S": "item-%05d" % i}}


def with_marker(image, sequence, deleted_at=None):
    """A retained backup item: the image plus the version attribute of its REMOVE record."""
    result = dict(image)
    result[RETAINED] = retained.marker(sequence, deleted_at)
    return result


class ApplyTestCase(support.TablePairTestCase):
    def setUp(self):
        super(ApplyTestCase, self).setUp()
        self.prefix = support.unique("changes") + "/"
        self.rejected = support.unique("rejected") + "/"
        self.quarantine = support.unique("quarantine") + "/"

    def replicator(self, client=None, delete_policy="retain", transform=None, verify=True, max_rounds=20):
        return replicate.Replicator(client or self.client, self.source, self.backup, self.schema,
                                    transform or Transform(), delete_policy, ddb_batch.Stats(), support.fast_retry(),
                                    verify=verify, max_rounds=max_rounds)

    def store(self, s3=None):
        return manifest_store.ManifestStore(s3 or self.s3, self.bucket, self.prefix, self.rejected, self.quarantine)

    def settings(self, **kwargs):
        return apply.ApplySettings(3600, **kwargs)

    def run_apply(self, replicator=None, s3=None, settings=None, **kwargs):
        log = support.LogCapture()
        result = apply.run(self.store(s3), replicator or self.replicator(), settings or self.settings(), self.schema,
                           log=log, **kwargs)
        return result, log

    def source_items(self):
        return support.scan_all(self.client, self.source, self.schema)

    def backup_items(self):
        return support.scan_all(self.client, self.backup, self.schema)

    def manifests_left(self):
        return support.list_keys(self.s3, self.bucket, self.prefix)

    def seed(self, count):
        support.put_items(self.client, self.source, [item(i) for i in range(count)], self.schema)
        support.put_items(self.client, self.backup, [item(i) for i in range(count)], self.schema)

    def put_manifests(self, key_groups):
        return [support.put_manifest(self.s3, self.bucket, self.prefix, keys) for keys in key_groups]


class ApplyTest(ApplyTestCase):
    def test_inserts_modifies_and_deletes_under_retain_then_mirror(self):
        self.seed(60)
        support.put_items(self.client, self.source, [item(i, 1) for i in range(10, 20)] +
                          [item(i) for i in range(60, 70)], self.schema)
        for i in range(20, 30):
            self.client.delete_item(TableName=self.source, Key=key(i))
        changed = list(range(10, 30)) + list(range(60, 70))
        self.put_manifests([[key(i) for i in changed[:12]], [key(i) for i in changed[8:25]],
                            [key(i) for i in changed[20:]] + [key(3)]])
        result, log = self.run_apply()
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual((result.manifests_applied, result.keys, result.stopped_by_budget), (3, 31, False))
        expected = self.source_items()
        for i in range(20, 30):  # retained: deleted in the source, kept in the backup
            expected[table_keys.key_id(key(i))] = item(i)
        self.assertEqual(self.backup_items(), expected)
        summary = log.named("apply_pass")
        self.assertEqual(len(summary), 1)
        for field in ("manifests", "keys", "puts", "deletes", "retries", "seconds"):
            self.assertIn(field, summary[0])
        self.assertEqual((summary[0]["manifests"], summary[0]["keys"], summary[0]["puts"], summary[0]["deletes"]),
                         (3, 31, 21, 0))
        self.assertEqual(len(log.named("apply_done")), 1)

        self.put_manifests([[key(i) for i in range(15, 30)]])
        result, log = self.run_apply(self.replicator(delete_policy="mirror"))
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual(log.named("apply_pass")[0]["deletes"], 10)
        self.assertEqual(self.manifests_left(), [])

    def test_manifests_are_listed_across_pages_and_passes(self):
        self.seed(10)
        support.put_items(self.client, self.source, [item(i, 2) for i in range(10)], self.schema)
        self.put_manifests([[key(i)] for i in range(7)] + [[key(7), key(8), key(9)]])
        result, log = self.run_apply(settings=self.settings(list_page_size=2, max_manifests_per_pass=5))
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual((result.passes, result.manifests_applied), (2, 8))
        self.assertEqual([p["manifests"] for p in log.named("apply_pass")], [5, 3])

    def test_malformed_manifests_are_moved_aside_and_do_not_block_others(self):
        self.seed(6)
        support.put_items(self.client, self.source, [item(i, 3) for i in range(6)], self.schema)
        good = self.put_manifests([[key(0), key(1)], [key(2)], [key(3), key(4), key(5)]])
        bad = {
            "not-json.json": b"{oops",
            "version.json": json.dumps({"version": 2, "keys": [{"id": {"S": "item-00000"}}]}).encode(),
            "empty.json": json.dumps({"version": 1, "keys": []}).encode(),
            "wrong-key.json": json.dumps({"version": 1, "keys": [{"pk": {"S": "item-00000"}}]}).encode(),
            "bad-binary.json": json.dumps({"version": 1, "keys": [{"id": {"B": "not base64!"}}]}).encode(),
        }
        for name, body in bad.items():
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        result, log = self.run_apply()
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual((result.manifests_applied, result.manifests_rejected), (len(good), len(bad)))
        self.assertEqual(support.list_keys(self.s3, self.bucket, self.rejected),
                         sorted(self.rejected + name for name in bad))
        for name, body in bad.items():
            moved = self.s3.get_object(Bucket=self.bucket, Key=self.rejected + name)
            self.assertEqual(moved["Body"].read(), body)
            self.assertTrue(moved["Metadata"].get("rejected-reason"))
        reasons = dict((e["manifest"], e["reason"]) for e in log.named("manifest_rejected"))
        self.assertIn("not JSON", reasons[self.prefix + "not-json.json"])
        self.assertIn("version", reasons[self.prefix + "version.json"])
        self.assertIn("do not match the table key", reasons[self.prefix + "wrong-key.json"])

    def test_a_manifest_is_deleted_only_after_all_its_keys_are_applied(self):
        rng = random.Random(7)
        self.seed(80)
        support.put_items(self.client, self.source, [item(i, 5) for i in range(0, 80, 2)], self.schema)
        for i in range(1, 80, 5):
            self.client.delete_item(TableName=self.source, Key=key(i))
        groups = [[key(i) for i in rng.sample(range(80), 25)] for _ in range(8)]
        names = self.put_manifests(groups)
        keys_of = dict(zip(names, groups))
        violations = []
        deleted = []
        transform = Transform({"payload": "body"}, ["tags"])

        def check_before_delete(kwargs, _number):
            if kwargs["Key"] not in keys_of:
                return
            deleted.append(kwargs["Key"])
            for k in keys_of[kwargs["Key"]]:
                src = self.client.get_item(TableName=self.source, Key=k, ConsistentRead=True).get("Item")
                bak = self.client.get_item(TableName=self.backup, Key=k, ConsistentRead=True).get("Item")
                if src is None:
                    ok = bak is None
                else:
                    ok = table_keys.items_equal(bak, transform.apply(src))
                if not ok:
                    violations.append((kwargs["Key"], k))

        s3 = support.FlakyDynamoDB(self.s3, before={"delete_object": check_before_delete})
        self.run_apply(self.replicator(delete_policy="mirror", transform=transform), s3=s3,
                       settings=self.settings(keys_per_chunk=7))
        self.assertEqual(violations, [])
        self.assertEqual(sorted(deleted), sorted(names))
        self.assertEqual(self.manifests_left(), [])

    def test_a_request_failing_mid_run_leaves_exactly_the_unfinished_keys_and_a_rerun_converges(self):
        self.seed(50)
        support.put_items(self.client, self.source, [item(i, 9) for i in range(50)], self.schema)
        names = self.put_manifests([[key(i) for i in range(start, start + 10)] for start in range(0, 50, 10)])
        # The third chunk's first write (retain writes one PutItem per item, 10 keys a chunk).
        crashing = support.FlakyDynamoDB(self.client, crash_on={"batch_write_item": 3, "put_item": 21})
        with self.assertRaises(RuntimeError):
            self.run_apply(self.replicator(client=crashing), settings=self.settings(keys_per_chunk=10, chunk_workers=1))
        # Manifests 1-2 applied and deleted; 3-5 replaced by one remainder of their 30 keys.
        (left,) = self.manifests_left()
        self.assertNotIn(left, names)
        body = self.s3.get_object(Bucket=self.bucket, Key=left)["Body"].read()
        self.assertEqual(manifest_format.parse_manifest(body), [key(i) for i in range(20, 50)])
        backup = self.backup_items()
        self.assertEqual([i for i in range(50) if backup[table_keys.key_id(key(i))]["version"] == {"N": "9"}][:20],
                         list(range(20)))
        replicator = self.replicator()
        result, _ = self.run_apply(replicator)
        self.assertEqual((self.manifests_left(), result.manifests_applied, result.keys), ([], 1, 30))  # nothing redone
        self.assertEqual(self.backup_items(), self.source_items())

    def test_injected_throttling_and_unprocessed_results_are_retried(self):
        self.seed(40)
        support.put_items(self.client, self.source, [item(i, 4) for i in range(40)], self.schema)
        self.put_manifests([[key(i) for i in range(40)]])
        # get calls 1-2 throttled, 3-4 half processed; write calls 1-3 half processed: 7 retries (mirror
        # writes with BatchWriteItem).
        flaky = support.FlakyDynamoDB(self.client, partial={"batch_write_item": 3, "batch_get_item": 4},
                                      throttle={"batch_get_item": (2, "ThrottlingException")})
        replicator = self.replicator(client=flaky, delete_policy="mirror")
        _, log = self.run_apply(replicator)
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(replicator.stats.retries, 7)
        self.assertEqual(log.named("apply_pass")[0]["retries"], 7)
        # retain writes one conditional PutItem per item: throttled ones are retried the same way.
        support.put_items(self.client, self.source, [item(i, 5) for i in range(40)], self.schema)
        self.put_manifests([[key(i) for i in range(40)]])
        flaky = support.FlakyDynamoDB(self.client, throttle={"put_item": (3, "ProvisionedThroughputExceededException")})
        replicator = self.replicator(client=flaky)
        _, log = self.run_apply(replicator)
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual((replicator.stats.retries, replicator.stats.puts, replicator.stats.write_requests), (3, 40, 40))

    def test_time_budget_exhaustion_leaves_a_remainder_of_the_unapplied_keys_for_the_next_run(self):
        self.seed(50)
        support.put_items(self.client, self.source, [item(i, 6) for i in range(50)], self.schema)
        self.put_manifests([[key(i) for i in range(start, start + 10)] for start in range(0, 50, 10)])
        now = [0.0]

        def tick(_kwargs, _number):  # two BatchGetItem per chunk (read, verify): 4 s a chunk
            now[0] += 2.0

        slow = support.FlakyDynamoDB(self.client, before={"batch_get_item": tick})
        settings = apply.ApplySettings(10, keys_per_chunk=10, chunk_workers=1)
        result, log = self.run_apply(self.replicator(client=slow), settings=settings, clock=lambda: now[0])
        self.assertTrue(result.stopped_by_budget)
        self.assertEqual((result.manifests_applied, result.manifests_replaced, result.carried_keys), (3, 2, 20))
        self.assertEqual(self.manifests_left(), result.remainders)
        self.assertEqual(len(log.named("apply_stopped")), 1)
        result, _ = self.run_apply()
        self.assertEqual((result.stopped_by_budget, result.keys), (False, 20))
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(self.backup_items(), self.source_items())

    def test_two_runs_at_once_then_one_more_leave_the_same_backup(self):
        self.seed(100)
        rng = random.Random(11)
        support.put_items(self.client, self.source, [item(i, 7) for i in range(0, 100, 3)], self.schema)
        for i in range(1, 100, 7):
            self.client.delete_item(TableName=self.source, Key=key(i))
        self.put_manifests([[key(i) for i in rng.sample(range(100), 15)] for _ in range(20)] +
                           [[key(i) for i in range(100)]])
        errors = []

        def worker():
            try:
                self.run_apply(self.replicator(client=support.ddb(), delete_policy="mirror"), s3=support.s3(),
                               settings=self.settings(keys_per_chunk=9))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.manifests_left(), [])
        after_concurrent = self.backup_items()
        self.assertEqual(after_concurrent, self.source_items())
        result, _ = self.run_apply(self.replicator(delete_policy="mirror"))
        self.assertEqual(result.passes, 0)
        self.assertEqual(self.backup_items(), after_concurrent)

    def test_verification_repairs_a_stale_write_from_a_racing_writer(self):
        for verify in (True, False):
            self.client.put_item(TableName=self.source, Item=item(1, 1))
            self.client.delete_item(TableName=self.backup, Key=key(1))
            raced = []

            def race(_kwargs, number):
                # Between run A's read (v1) and its write: the item changes to v2 and run B applies v2.
                if number == 1:
                    self.client.put_item(TableName=self.source, Item=item(1, 2))
                    self.replicator().sync_keys([key(1)])
                    raced.append(self.client.get_item(TableName=self.backup, Key=key(1))["Item"]["version"])

            replicator_a = self.replicator(client=support.FlakyDynamoDB(
                self.client, before={"batch_write_item": race, "put_item": race}), verify=verify)
            replicator_a.sync_keys([key(1)])
            self.assertEqual(raced, [{"N": "2"}])
            backup = self.client.get_item(TableName=self.backup, Key=key(1), ConsistentRead=True)["Item"]
            if verify:
                self.assertEqual(backup, item(1, 2))
                self.assertEqual(replicator_a.stats.verify_mismatches, 1)
            else:  # the race the verification exists for: A's stale v1 landed last
                self.assertEqual(backup, item(1, 1))


class RetainedDeletesTest(ApplyTestCase):
    """Manifests' "removed" entries: the last state of items deleted before a run read them."""

    transform = Transform({"payload": "body"}, ["tags"])

    def deleted_items_scenario(self):
        # Backup before the run: item 1 at v0 (then modified to v3 and deleted), item 3 at v0 (deleted
        # at v1, re-inserted at v5), item 5 at v0 (deleted, no image: an old-format manifest).
        support.put_items(self.client, self.backup, [item(1), item(3), item(5)], self.schema)
        # Source now: only item 3 (re-inserted); items 1, 2 (inserted at v4, then deleted), 4, 5 are gone.
        self.client.put_item(TableName=self.source, Item=item(3, 5))
        first = support.put_manifest(self.s3, self.bucket, self.prefix, [], event_names=["INSERT", "REMOVE"], removed=[
            (key(1), "120", item(1, 3)), (key(2), "130", item(2, 4)), (key(3), "50", item(3, 1)),
            (key(4), "99", item(4, 1))])
        # Sequence numbers compare as integers: "100" is after "99" (as strings it would sort first).
        second = support.put_manifest(self.s3, self.bucket, self.prefix, [key(5)], event_names=["REMOVE"],
                                      removed=[(key(4), "100", item(4, 2))])
        return [first, second]

    def test_retain_keeps_the_last_state_of_items_deleted_before_apply_reads_them(self):
        self.deleted_items_scenario()
        result, log = self.run_apply(self.replicator(transform=self.transform))
        self.assertEqual((result.manifests_applied, result.keys, self.manifests_left()), (2, 5, []))
        expected = dict((table_keys.key_id(key(i)), with_marker(self.transform.apply(item(i, v)), s))
                        for i, v, s in ((1, 3, 120), (2, 4, 130), (4, 2, 100)))
        expected[table_keys.key_id(key(3))] = self.transform.apply(item(3, 5))  # re-inserted: live, no marker
        expected[table_keys.key_id(key(5))] = item(5)  # no image: left alone, as before
        self.assertEqual(self.backup_items(), expected)
        self.assertEqual(log.named("apply_pass")[0]["retained_images"], 3)
        self.assertEqual(log.named("apply_pass")[0]["deletes"], 0)

    def test_mirror_ignores_removed_entries(self):
        self.deleted_items_scenario()
        result, log = self.run_apply(self.replicator(delete_policy="mirror", transform=self.transform))
        self.assertEqual((result.manifests_applied, self.manifests_left()), (2, []))
        self.assertEqual(self.backup_items(), {table_keys.key_id(key(3)): self.transform.apply(item(3, 5))})
        self.assertEqual((log.named("apply_pass")[0]["retained_images"], log.named("apply_pass")[0]["deletes"]),
                         (0, 4))

    def test_an_item_reappearing_after_its_image_was_written_is_synced_from_the_source(self):
        support.put_manifest(self.s3, self.bucket, self.prefix, [], removed=[(key(1), "10", item(1, 1))])

        def reinsert(_kwargs, number):
            if number == 1:  # after the read found it absent, before the retained image is written
                self.client.put_item(TableName=self.source, Item=item(1, 7))

        replicator = self.replicator(client=support.FlakyDynamoDB(self.client, before={"put_item": reinsert}))
        self.run_apply(replicator)
        self.assertEqual(self.backup_items(), {table_keys.key_id(key(1)): item(1, 7)})  # live again: no marker
        self.assertEqual((replicator.stats.verify_mismatches, replicator.stats.retained_images), (1, 1))
        # The live write found the retained item, saw the source had the item again, and replaced it.
        self.assertEqual((replicator.stats.condition_failures, replicator.stats.puts), (1, 2))
        self.assertEqual(self.manifests_left(), [])

    def test_an_older_removed_entry_met_in_a_later_pass_does_not_overwrite_a_newer_one(self):
        for name, sequence, version in (("a-newer.json", "200", 2), ("b-older.json", "100", 1)):
            _, body = manifest_format.build_manifest([], removed=[(key(1), sequence, item(1, version))])
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        result, log = self.run_apply(settings=self.settings(max_manifests_per_pass=1))
        self.assertEqual((result.passes, result.manifests_applied), (2, 2))
        self.assertEqual([p["retained_images"] for p in log.named("apply_pass")], [1, 0])
        self.assertEqual([p["retained_skipped"] for p in log.named("apply_pass")], [0, 1])
        self.assertEqual(self.backup_items(), {table_keys.key_id(key(1)): with_marker(item(1, 2), 200)})


class HotKeyTest(ApplyTestCase):
    def test_a_hot_key_is_held_alone_tried_once_a_run_and_nothing_else_is_redone(self):
        """A counter updated in nearly every batch. Holding was per manifest and
        forgotten at the end of the run (every run re-applied a growing pile); now only the key is held."""
        self.seed(61)
        support.put_items(self.client, self.source, [item(i, 1) for i in range(61)], self.schema)
        # 30 manifests (batches), each with the counter (key 0) and two other keys.
        names = self.put_manifests([[key(0), key(1 + 2 * n), key(2 + 2 * n)] for n in range(30)])
        versions = iter(range(100, 10 ** 6))
        reads_of_hot = []

        def churn(kwargs, _number):  # the counter changes between every read of it
            (request,) = kwargs["RequestItems"].values()
            if key(0) in request["Keys"]:
                reads_of_hot.append(1)
                self.client.put_item(TableName=self.source, Item=item(0, next(versions)))

        flaky = support.FlakyDynamoDB(self.client, before={"batch_get_item": churn})
        replicator = self.replicator(client=flaky, max_rounds=3)
        # 5 passes of 6 manifests; the counter is tried in the first, then carried untried.
        result, log = self.run_apply(replicator, settings=self.settings(max_manifests_per_pass=6, keys_per_chunk=4))
        hot = table_keys.key_id(key(0))
        self.assertEqual((result.passes, result.hot_keys, result.keys), (5, [hot], 60))
        self.assertEqual(len(log.named("keys_kept_changing")), 1)
        self.assertLessEqual(len(reads_of_hot), 3 * 2)  # rounds x (read + verify), once
        self.assertEqual(replicator.stats.puts, 60 + 3)  # every other key once; the counter once a round
        left = self.manifests_left()
        self.assertEqual(sorted(left), sorted(result.remainders))
        self.assertFalse(set(left) & set(names))  # every original manifest is gone
        for name in left:  # a remainder holds the counter alone
            self.assertEqual(manifest_format.parse_manifest(self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()),
                             [key(0)])
        backup, source = self.backup_items(), self.source_items()
        for i in range(1, 61):
            self.assertEqual(backup[table_keys.key_id(key(i))], source[table_keys.key_id(key(i))])
        # The key calms down: the next run applies the remainders, in one pass.
        result, _ = self.run_apply()
        self.assertEqual((result.passes, result.keys, result.hot_keys, self.manifests_left()), (1, 1, [], []))
        self.assertEqual(self.backup_items(), self.source_items())
        # full-copy's paths still fail loudly on such a key (KeysSetAside is a ReplicationError).
        with self.assertRaises(ddb_batch.ReplicationError) as caught:
            self.replicator(client=flaky, max_rounds=2).sync_keys([key(1), key(0)])
        self.assertIsInstance(caught.exception, replicate.KeysSetAside)
        self.assertEqual(caught.exception.keys, [key(0)])


class HotKeyOnDynamoDbLocalTest(support.OnDynamoDbLocal, HotKeyTest):
    """The same on AWS's DynamoDB Local: its item-size limit and errors decide, not dynalite's."""


class PoisonKeyTest(ApplyTestCase):
    def test_a_key_failing_with_an_error_of_its_own_is_quarantined_not_retried_run_after_run(self):
        """A write DynamoDB refuses for one item with an error that is not ValidationException (here
        ItemCollectionSizeLimitExceededException, an LSI partition over 10 GB) used to fail its chunk, stop
        the pass and come first in the next run's remainder: every run then moved a few hundred keys. Now
        the chunk is synced key by key and that key alone is quarantined; an error every key gets
        (AccessDenied) is the job's, and fails the run without quarantining anything."""
        self.seed(40)
        support.put_items(self.client, self.source, [item(i, 3) for i in range(40)], self.schema)
        self.put_manifests([[key(i) for i in range(start, start + 10)] for start in range(0, 40, 10)])
        poison = key(13)

        def refuse(kwargs, _number):
            if kwargs.get("Item", {}).get("id") == poison["id"]:
                raise support.throttle_error("PutItem", "ItemCollectionSizeLimitExceededException")

        proxy = support.FlakyDynamoDB(self.client, before={"put_item": refuse})
        result, log = self.run_apply(self.replicator(client=proxy), settings=self.settings(keys_per_chunk=10))
        kid = table_keys.key_id(poison)
        self.assertEqual(list(result.quarantined), [kid])
        self.assertIn("ItemCollectionSizeLimitExceededException", result.quarantined[kid]["reason"])
        self.assertEqual((result.keys, self.manifests_left(), result.remainders), (39, [], []))
        backup = self.backup_items()
        self.assertEqual(sorted(backup), sorted(table_keys.key_id(key(i)) for i in range(40)))  # (13: its old state)
        self.assertEqual(backup[kid]["version"], {"N": "0"})
        with self.assertRaises(apply.KeysQuarantined):
            apply.check_failures(result, log=log)

        # Systemic: every key of the chunk fails alone the same way: the run fails, nothing is quarantined.
        self.put_manifests([[key(i) for i in range(20, 25)]])

        def deny(_kwargs, _number):
            raise support.throttle_error("PutItem", "ItemCollectionSizeLimitExceededException")

        denied = support.FlakyDynamoDB(self.client, before={"put_item": deny})
        with self.assertRaises(Exception):
            self.run_apply(self.replicator(client=denied))
        self.assertEqual(len(self.manifests_left()), 1)  # kept whole (as a remainder of the same keys)
        self.assertEqual(support.list_keys(self.s3, self.bucket, self.quarantine), [result.quarantined[kid]["object"]])


class ApplyEntryPointTest(ApplyTestCase):
    SURFACE = "apply-changes-"  # the recorded IAM surfaces: apply-changes-<delete policy>.json

    def test_calls_only_what_the_glue_role_grants(self):
        """The DynamoDB and S3 operations (and where) apply-changes uses: the IAM surface of its role.

        The run holds a key that keeps changing (a remainder under the manifest prefix), quarantines an
        item the backup refuses (too large once renamed), and rejects a malformed manifest, so it ends with
        ManifestsRejected after doing everything else. Under retain it also writes a retained item and
        replaces one (key 0, re-inserted after a delete). It never calls Glue. The bucket stands in for a
        versioned one, as deployed: manifests are deleted and rejected by the version read."""
        for policy in ("mirror", "retain"):
            if policy == "retain":
                self.setUp()  # fresh tables and prefixes for the second run
            writes = ({("batch_write_item", self.backup)} if policy == "mirror"
                      else {("put_item", self.backup), ("get_item", self.backup)})
            common = {("describe_table", self.source), ("batch_get_item", self.source),
                      ("list_objects_v2", self.prefix), ("get_object", self.prefix),
                      ("delete_object[VersionId]", self.prefix), ("put_object", self.prefix),
                      ("put_object", self.quarantine), ("copy_object[CopySource.VersionId]", self.rejected)}
            with self.subTest(policy=policy):
                used = self.used_by_a_run(policy)
                self.assertEqual(used, common | writes)
                support.record_iam_surface(self.SURFACE + policy, used, {
                    self.source: "source", self.backup: "backup", self.prefix: "manifests",
                    self.rejected: "rejected", self.quarantine: "quarantine"})

    def used_by_a_run(self, policy):
        self.seed(3)
        too_large = {"id": key(4)["id"], "payload": {"S": "p" * (400 * 1024 - 200)}}
        self.client.put_item(TableName=self.source, Item=too_large)
        self.put_manifests([[key(0), key(1)], [key(2)], [key(4)]])
        self.client.put_item(TableName=self.backup, Item=with_marker(item(0, 9), 5))
        support.put_manifest(self.s3, self.bucket, self.prefix, [], removed=[(key(3), "6", item(3))])
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + "bad.json", Body=b"nope")
        versions = iter(range(100, 10 ** 6))

        def churn(kwargs, _number):  # key 2 changes between every read of it: held in a remainder
            for request in kwargs["RequestItems"].values():
                if key(2) in request["Keys"]:
                    self.client.put_item(TableName=self.source, Item=item(2, next(versions)))

        proxies = []
        originals = (aws_clients.dynamodb_client, aws_clients.s3_client)

        def recording(make, before=None, versioned_bucket=False):
            def client(region=None):
                proxies.append(support.FlakyDynamoDB(make(region), before=before, versioned_bucket=versioned_bucket))
                return proxies[-1]
            return client

        aws_clients.dynamodb_client = recording(originals[0], {"batch_get_item": churn})
        aws_clients.s3_client = recording(originals[1], versioned_bucket=True)
        rename = '{"rename": {"payload": "%s"}}' % ("a_much_longer_attribute_name_" * 8)
        try:
            error, code, _, err = self.run_job("--delete_policy", policy, "--transform", rename)
        finally:
            aws_clients.dynamodb_client, aws_clients.s3_client = originals
        self.assertEqual(code, 0, err)
        self.assertIsInstance(error, apply.ManifestsRejected)
        self.assertIn("quarantined", str(error))
        used = set()
        for proxy in proxies:
            for name, kwargs in proxy.calls:
                if "RequestItems" in kwargs:
                    where = ",".join(sorted(kwargs["RequestItems"]))
                elif "TableName" in kwargs:
                    where = kwargs["TableName"]
                else:
                    where = kwargs["Key"].split("/")[0] + "/" if "Key" in kwargs else kwargs.get("Prefix")
                used.add((support.iam_operation(name, kwargs), where))
        backup = self.backup_items()
        self.assertEqual(backup[table_keys.key_id(key(0))]["version"], item(0)["version"])  # live again
        self.assertNotIn(table_keys.key_id(key(4)), backup)
        if policy == "retain":
            self.assertEqual(backup[table_keys.key_id(key(3))][RETAINED], retained.marker(6))
        return used

    def run_job(self, *extra):
        return support.run_main_failing(apply_changes.main, self.argv(*extra))

    def argv(self, *extra):
        return ["apply_changes.py", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--JOB_NAME", "apply-changes",
                "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://tmp/t/",
                "--source_table", self.source, "--backup_table", self.backup, "--manifest_bucket", self.bucket,
                "--manifest_prefix", self.prefix, "--rejected_prefix", self.rejected,
                "--quarantine_prefix", self.quarantine, "--enable-metrics", "true"] + list(extra)

    def test_script_runs_as_glue_runs_it(self):
        self.seed(5)
        support.put_items(self.client, self.source, [item(i, 8) for i in range(5)], self.schema)
        self.put_manifests([[key(i) for i in range(5)]])
        script = os.path.join(support.GLUE_JOB, "apply_changes.py")
        done = subprocess.run([sys.executable, script] + self.argv("--delete_policy", "retain")[1:],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr.decode())
        events = support.json_lines(done.stdout.decode())
        passes = [e for e in events if e["event"] == "apply_pass"]
        self.assertEqual((len(passes), passes[0]["manifests"], passes[0]["keys"], passes[0]["puts"]), (1, 1, 5, 5))
        self.assertEqual(self.backup_items(), self.source_items())

    def test_a_rejected_manifest_fails_the_run_after_the_rest_is_done(self):
        self.seed(4)
        support.put_items(self.client, self.source, [item(i, 8) for i in range(4)], self.schema)
        self.put_manifests([[key(0), key(1)], [key(2), key(3)]])
        bad = {"broken.json": b"{", "wrong-key.json": json.dumps({"version": 1, "keys": [{"pk": {"S": "a"}}]}).encode()}
        for name, body in bad.items():
            self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        script = os.path.join(support.GLUE_JOB, "apply_changes.py")
        done = subprocess.run([sys.executable, script] + self.argv()[1:],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        stderr = done.stderr.decode()
        self.assertEqual(done.returncode, 1, stderr)
        last_line = stderr.strip().splitlines()[-1]
        self.assertTrue(last_line.startswith("backup_replication.apply.ManifestsRejected: 2 malformed manifest(s) rejected"), last_line)
        for name in bad:
            self.assertIn(self.prefix + name, last_line)
            self.assertIn(self.rejected + name, last_line)
        # Everything else was done first.
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(self.backup_items(), self.source_items())
        events = [e["event"] for e in support.json_lines(done.stdout.decode())]
        self.assertEqual(events[-3:], ["apply_done", "apply_summary", "apply_failed"])

    def test_publishes_each_pass_and_the_run_to_the_stacks_namespace(self):
        """The wiring of lib/metrics.py: pending and oldest age at each pass's start; latency per
        applied manifest (from its newest change), items applied, retained writes, quarantined items at its
        end; ApplyRunsFinished once. Checked on a CloudWatch stand-in that validates against botocore's model."""
        self.seed(4)
        support.put_items(self.client, self.source, [item(i, 2) for i in range(4)], self.schema)
        import time as time_module
        changed = time_module.time() - 30
        for group in ([key(0), key(1)], [key(2)], [key(3)]):
            support.put_manifest(self.s3, self.bucket, self.prefix, group, changed_between=(changed - 5, changed))
        support.put_manifest(self.s3, self.bucket, self.prefix, [], removed=[(key(9), "7", item(9))])  # no time: no latency
        with support.LocalCloudWatch() as cloudwatch:
            _, code, _, err = support.run_main(apply_changes.main, self.argv(
                "--metrics_namespace", "Test/Replication", "--metrics_pipeline", "p", "--delete_policy", "retain"))
        self.assertEqual(code, 0, err)
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[]] * len(cloudwatch.requests))
        datums = [d for body in cloudwatch.put_metric_data() for d in body["MetricData"]]
        self.assertTrue(all(body["Namespace"] == "Test/Replication" for body in cloudwatch.put_metric_data()))
        self.assertTrue(all(d["Dimensions"] == [{"Name": "Pipeline", "Value": "p"}] for d in datums))
        by_name = {}
        for datum in datums:
            by_name.setdefault(datum["MetricName"], []).append(datum)
        self.assertEqual([d["Value"] for d in by_name["ManifestsPending"]], [4.0])  # one pass
        self.assertEqual([d["Value"] for d in by_name["ItemsApplied"]], [5.0])
        self.assertEqual([d["Value"] for d in by_name["RetainedWrites"]], [1.0])
        self.assertEqual([d["Value"] for d in by_name["QuarantinedItems"]], [0.0])
        self.assertEqual([d["Value"] for d in by_name["ApplyRunsFinished"]], [1.0])
        (latency,) = by_name["ReplicationLatency"]
        self.assertEqual(latency["StatisticValues"]["SampleCount"], 3.0)  # the three manifests that carry a time
        self.assertGreaterEqual(latency["StatisticValues"]["Minimum"], 30.0)
        self.assertLess(latency["StatisticValues"]["Maximum"], 120.0)
        self.assertGreaterEqual(by_name["OldestPendingManifestAge"][0]["Value"], 0.0)

    def test_budget_stop_exits_zero_leaving_a_remainder_and_starts_no_run(self):
        self.seed(2)
        self.put_manifests([[key(0), key(1)]])
        ticks = iter(range(0, 10 ** 6, 100))
        env = dict(os.environ)
        os.environ["AWS_ENDPOINT_URL_GLUE"] = "http://127.0.0.1:9"  # nothing listens: a Glue call would fail
        try:
            _, code, out, err = support.run_main(apply_changes.main, self.argv("--time_budget_seconds", "50"),
                                                 clock=lambda: next(ticks))
        finally:
            os.environ.clear()
            os.environ.update(env)
        self.assertEqual(code, 0, err)
        events = support.json_lines(out)
        self.assertEqual([e["event"] for e in events][-2:], ["apply_stopped", "apply_summary"])
        self.assertEqual(len(self.manifests_left()), 1)

    def test_bad_arguments_and_key_touching_transform_are_rejected(self):
        cases = [
            (self.argv("--transform", '{"rename": {"id": "pk"}}'), "key attribute"),
            (self.argv("--transform", '{"drop": ["id"]}'), "key attribute"),
            (self.argv("--delete_policy", "sometimes"), "--delete_policy"),
            (self.argv("--retained_attribute", "id"), "--retained_attribute 'id' is a key attribute"),
            (self.argv("--transform", '{"drop": ["_deleted_from_source"]}'), "(--retained_attribute)"),
            (["apply_changes.py", "--source_table", self.source], "missing required"),
        ]
        for argv, expected in cases:
            _, code, _, err = support.run_main(apply_changes.main, argv)
            self.assertEqual(code, 2, argv)
            self.assertIn("apply-changes: error:", err)
            self.assertIn(expected, err)


if __name__ == "__main__":
    unittest.main()
