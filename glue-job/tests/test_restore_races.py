"""Restore into the source against what two adversarial reviews found, each on AWS's DynamoDB Local
through the real entry points (restore.main, apply_changes.main, apply.run): a deliberate deletion that
apply-changes sets aside after the gate (quarantined, or its manifest rejected), or replaces by a
remainder while the restore lists (before its read, or across the pages of a long listing), or that the
operator replays from quarantine between the restore's two listings, is never undone; dead letters or
a rejected manifest appearing mid-run stop the writes at once, without a wait per chunk; the window
compares deletion times as times, not text; the gate sees a pending manifest of the older hash-only
name form."""

import concurrent.futures
import threading
import time

import support
from backup_replication import (apply, aws_clients, ddb_batch, manifest_format, manifest_store, replicate, restore_guard,
                                retained, table_keys)
from backup_replication.jobs import apply_changes, restore
from backup_replication.transform import Transform
from test_verify import item, key

R = retained.DEFAULT_ATTRIBUTE
WINDOW = ("--deleted_after", "2026-03-02T09:00:00Z", "--deleted_before", "2026-03-02T11:00:00Z")


def mistaken(i):
    """The backup's record of a deletion inside WINDOW (the mistake), version 900."""
    return dict(item(i), **{R: retained.marker(900, "2026-03-02T10:00:00Z")})


def near_limit(i):
    return {"id": key(i)["id"], "payload": {"S": "x" * (400 * 1024 - 40)}}


class RestoreRacesTest(support.OnDynamoDbLocal, support.TablePairTestCase):
    def setUp(self):
        super(RestoreRacesTest, self).setUp()
        self.changes, self.rejected, self.quarantine = (support.unique(p) + "/" for p in ("changes", "rejected", "quarantine"))

    def apply(self):
        argv = ["apply_changes.py", "--JOB_RUN_ID", "jr_a", "--source_table", self.source, "--backup_table",
                self.backup, "--manifest_bucket", self.bucket, "--manifest_prefix", self.changes,
                "--rejected_prefix", self.rejected, "--quarantine_prefix", self.quarantine]
        return support.run_main_failing(apply_changes.main, argv)

    def restore(self, *extra, **hooks):
        """restore into the source; `hooks` ({"dynamodb"|"s3": {method: callable}}) run before those calls."""
        originals = aws_clients.dynamodb_client, aws_clients.s3_client
        aws_clients.dynamodb_client = lambda region=None: support.FlakyDynamoDB(originals[0](region), before=hooks.get("dynamodb"))
        aws_clients.s3_client = lambda region=None: support.FlakyDynamoDB(originals[1](region), before=hooks.get("s3"))
        try:
            argv = ["restore.py", "--JOB_RUN_ID", "jr_r", "--backup_table", self.backup, "--target_table", self.source,
                    "--source_table", self.source, "--report_bucket", self.bucket, "--report_prefix", "races/",
                    "--scan_segments", "1", "--include_retained", "true", "--allowed_targets", '["%s"]' % self.source,
                    "--allow_source_target", "true", "--manifest_bucket", self.bucket, "--manifest_prefix",
                    self.changes, "--rejected_prefix", self.rejected, "--quarantine_prefix", self.quarantine,
                    "--delivery_seconds", "0", "--catch_up_seconds", "0"] + list(extra)
            report, code, _, err = support.run_main(restore.main, argv, spark_context=support.FakeSparkContext(1),
                                                    retry=support.fast_retry())
        finally:
            aws_clients.dynamodb_client, aws_clients.s3_client = originals
        self.assertEqual(code, 0, err)
        return report

    def on_first_scan(self, action):
        """A hook for the restore's scan of the backup (after the gate): runs `action` once."""
        fired = []

        def hook(kwargs, _number):
            if not fired and kwargs.get("TableName") == self.backup:
                fired.append(True)
                action()
        return {"scan": hook}

    def deleted_again(self, i, image):
        """After the gate: the application re-creates key i and deletes it on purpose; the manifest arrives."""
        self.client.put_item(TableName=self.source, Item=image)
        self.client.delete_item(TableName=self.source, Key=key(i))
        support.put_manifest(self.s3, self.bucket, self.changes, [], event_names=["INSERT", "REMOVE"],
                             removed=[(key(i), "5000", image, int(time.time()))],
                             order=manifest_format.order_from(time.time(), 5000))

    def in_source(self, i):
        return self.client.get_item(TableName=self.source, Key=key(i), ConsistentRead=True).get("Item") is not None

    def test_a_deletion_quarantined_after_the_gate_is_never_undone(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(7))

        def app_and_pipeline():
            self.deleted_again(7, near_limit(7))
            error, _, _, _ = self.apply()  # no room for the marker: quarantined, its manifest consumed
            self.assertIsInstance(error, apply.KeysQuarantined)

        report = self.restore(*WINDOW, dynamodb=self.on_first_scan(app_and_pipeline))
        self.assertEqual((report["counts"]["written"], report["counts"]["quarantined"]), (0, 1))
        self.assertFalse(self.in_source(7))

    def test_a_deletion_whose_manifest_is_rejected_after_the_gate_is_never_undone(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(8))

        def app_and_pipeline():
            self.rejected_deletion(8)
            self.assertIsInstance(self.apply()[0], apply.ManifestsRejected)

        report = self.restore(*WINDOW, dynamodb=self.on_first_scan(app_and_pipeline))
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (0, 1))
        self.assertFalse(self.in_source(8))

    def test_a_manifest_replaced_by_a_remainder_between_the_listing_and_its_read_is_still_seen(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(7))
        replaced = []

        def apply_replaces(kwargs, _number):  # the restore listed the manifest; before it reads it, apply runs
            if replaced or not kwargs["Key"].startswith(self.changes):
                return
            replaced.append("running")  # (apply-changes' own reads come through this hook too)
            ticks = iter([0, 0, 0] + [10 ** 9] * 100)  # its time budget runs out: a remainder replaces it
            replicator = replicate.Replicator(support.ddb(), self.source, self.backup, self.schema, Transform(),
                                              "retain", ddb_batch.Stats(), support.fast_retry())
            store = manifest_store.ManifestStore(support.s3(), self.bucket, self.changes, self.rejected, self.quarantine)
            result = apply.run(store, replicator, apply.ApplySettings(), self.schema, clock=lambda: next(ticks),
                               log=lambda *a, **k: None)
            replaced[0] = result.manifests_replaced

        report = self.restore(*WINDOW, dynamodb=self.on_first_scan(lambda: self.deleted_again(7, item(7, 5))),
                              s3={"get_object": apply_replaces})
        self.assertEqual(replaced, [1])
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (0, 1))
        self.assertFalse(self.in_source(7))

    def test_the_window_compares_deletion_times_as_times(self):
        bound = 1772449200  # 2026-03-02T11:00:00Z, the window's end
        support.put_manifest(self.s3, self.bucket, self.changes, [], event_names=["REMOVE"], removed=[
            (key(1), "1000", item(1), bound + 0.5),            # half a second after the window: stays deleted
            (key(2), "1001", item(2), bound - 7200 + 0.25)])   # a quarter second into it: comes back
        self.assertEqual(self.apply()[:2], (None, 0))
        self.assertEqual(support.scan_all(self.client, self.backup, self.schema)[table_keys.key_id(key(1))][R]["M"]
                         ["deletedAt"], {"S": "2026-03-02T11:00:00.500Z"})
        report = self.restore(*WINDOW)
        self.assertEqual((report["counts"]["written"], report["counts"]["retained_skipped"]), (1, 1))
        self.assertEqual((self.in_source(1), self.in_source(2)), (False, True))

    def test_the_gate_sees_a_pending_manifest_of_the_older_name_form(self):
        name, body = manifest_format.build_manifest([key(1)])
        older = self.changes + "f" + name[1:]  # sorts after every time-ordered name
        self.s3.put_object(Bucket=self.bucket, Key=older, Body=body)
        time.sleep(1.1)
        started = time.time()
        support.put_manifest(self.s3, self.bucket, self.changes, [key(2)], order=manifest_format.order_from(started + 1, 1))
        settings = restore_guard.GuardSettings(self.bucket, self.changes, self.rejected, self.quarantine,
                                               delivery_seconds=0, catch_up_seconds=0)
        with self.assertRaises(restore_guard.BackupNotCaughtUp) as caught:
            restore_guard.check_caught_up(self.s3, None, settings, started, time.time, time.sleep, lambda *a, **k: None)
        self.assertIn(older, str(caught.exception))

    def test_a_replay_from_quarantine_between_the_two_listings_is_still_seen(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(7))
        moved = []

        def app_and_pipeline():
            self.deleted_again(7, near_limit(7))
            self.assertIsInstance(self.apply()[0], apply.KeysQuarantined)

        previous = []

        def operator_replays(kwargs, _number):  # the runbook's `aws s3 mv` back under changes/, between the
            prefix = kwargs.get("Prefix")         # listings of the two prefixes (whichever comes second)
            pair = (self.changes, self.quarantine)
            second = prefix in pair and previous and previous[-1] in pair and previous[-1] != prefix
            previous.append(prefix)
            if moved or not second:
                return
            for name in support.list_keys(self.s3, self.bucket, self.quarantine):
                self.s3.copy_object(Bucket=self.bucket, Key=self.changes + name[len(self.quarantine):],
                                    CopySource={"Bucket": self.bucket, "Key": name})
                self.s3.delete_object(Bucket=self.bucket, Key=name)
                moved.append(name)

        report = self.restore(*WINDOW, dynamodb=self.on_first_scan(app_and_pipeline),
                              s3={"list_objects_v2": operator_replays})
        self.assertEqual(len(moved), 1)
        self.assertEqual(report["counts"]["written"], 0)
        self.assertFalse(self.in_source(7))

    def test_a_remainder_written_across_the_pages_of_a_long_listing_is_still_seen(self):
        support.put_items(self.client, self.backup, [mistaken(i) for i in range(101)], self.schema)
        last = {"id": self.client.scan(TableName=self.backup)["Items"][100]["id"]}  # the second chunk's one key
        number = int(last["id"]["S"][1:])
        start, state = time.time(), {"writes": 0}
        paused, go = threading.Event(), threading.Event()
        plain_s3, plain_ddb = support.s3(), support.ddb()  # apply-changes' own clients: not the restore's hooked ones

        def app_after_gate():  # the last key re-created and deleted on purpose: manifests P (other) and O
            self.client.put_item(TableName=self.source, Item=item(number, 5))
            self.client.delete_item(TableName=self.source, Key=last)
            support.put_manifest(self.s3, self.bucket, self.changes, [{"id": {"S": "p-other"}}],
                                 order=manifest_format.order_from(start, 1))
            support.put_manifest(self.s3, self.bucket, self.changes, [], event_names=["INSERT", "REMOVE"],
                                 removed=[(last, "5000", item(number, 5), int(start))],
                                 order=manifest_format.order_from(start + 100, 5000))

        class PausedBeforeRemainder(object):  # apply-changes' S3: waits right before writing its remainder
            def __init__(self, inner):
                self.inner = inner

            def __getattr__(self, name):
                method = getattr(self.inner, name)
                if name != "put_object":
                    return method

                def put(**kwargs):
                    paused.set()
                    go.wait(60)
                    return method(**kwargs)
                return put

        def apply_replacing_p_and_o():
            ticks = iter([0, 0, 0] + [10 ** 9] * 100)  # its budget spent before its first chunk: a remainder
            replicator = replicate.Replicator(plain_ddb, self.source, self.backup, self.schema, Transform(),
                                              "retain", ddb_batch.Stats(), support.fast_retry())
            store = manifest_store.ManifestStore(PausedBeforeRemainder(plain_s3), self.bucket, self.changes, self.rejected,
                                                 self.quarantine)
            state["apply"] = apply.run(store, replicator, apply.ApplySettings(), self.schema,
                                       clock=lambda: next(ticks), log=lambda *a, **k: None)

        def count_writes(kwargs, _number):
            if kwargs.get("TableName") == self.source:
                state["writes"] += 1

        def listing(kwargs, _number):  # the second chunk's check: apply-changes runs across its pages
            if "raced" in state or state["writes"] < 100 or kwargs.get("Prefix") != self.changes:
                return
            if "ContinuationToken" not in kwargs:
                state["thread"] = threading.Thread(target=apply_replacing_p_and_o)
                state["thread"].start()
                paused.wait(60)
                with concurrent.futures.ThreadPoolExecutor(16) as pool:  # late manifests of other shards: a 2nd page
                    list(pool.map(lambda j: support.put_manifest(
                        self.s3, self.bucket, self.changes, [{"id": {"S": "late-%d" % j}}],
                        order=manifest_format.order_from(start + 10, 10 + j)), range(999)))
            else:
                state["raced"] = True
                go.set()
                state["thread"].join()

        report = self.restore(*WINDOW, dynamodb=dict(self.on_first_scan(app_after_gate), put_item=count_writes),
                              s3={"list_objects_v2": listing})
        self.assertEqual(state["apply"].manifests_replaced, 2)
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (100, 1))
        self.assertFalse(self.in_source(number))

    def test_dead_letters_or_rejected_manifests_mid_run_stop_the_writes_without_a_wait_per_chunk(self):
        support.put_items(self.client, self.backup, [mistaken(i) for i in range(500)], self.schema)  # 5 chunks

        def rejected_after_gate():
            self.s3.put_object(Bucket=self.bucket, Key=self.rejected + "x.json", Body=b"{}")

        slept = []
        original_sleep = time.sleep
        time.sleep = lambda seconds: slept.append(seconds)
        try:
            report = self.restore(*WINDOW + ("--catch_up_seconds", "30"), dynamodb=self.on_first_scan(rejected_after_gate))
        finally:
            time.sleep = original_sleep
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (0, 500))
        self.assertEqual(slept, [])
        (reason, keys), = report["not_written_because"].items()
        self.assertEqual(keys, 500)
        self.assertIn("malformed manifests wait under " + self.rejected, reason)


    def test_a_backlog_past_the_key_bound_is_dropped_from_memory_and_nothing_is_written(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(7))
        for n in range(3):  # 1,500 pending keys against a bound of 1,000
            support.put_manifest(self.s3, self.bucket, self.changes, [{"id": {"S": "p%d-%d" % (n, j)}} for j in range(500)],
                                 order=manifest_format.order_from(time.time() + 600, n + 1))
        held = []
        refresh = restore_guard.Unrecorded.refresh

        def watched(unrecorded):
            held.append(refresh(unrecorded).by_name)
            return unrecorded

        bound, restore_guard.MAX_PENDING_KEYS, restore_guard.Unrecorded.refresh = restore_guard.MAX_PENDING_KEYS, 1000, watched
        try:
            report = self.restore(*WINDOW)
        finally:
            restore_guard.MAX_PENDING_KEYS, restore_guard.Unrecorded.refresh = bound, refresh
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (0, 1))
        self.assertEqual(held, [{}])  # what it read is let go at once
        self.assertFalse(self.in_source(7))

    def rejected_deletion(self, i):
        """The application re-creates key i and deletes it on purpose; its manifest is one apply-changes rejects."""
        self.client.put_item(TableName=self.source, Item=item(i, 3))
        self.client.delete_item(TableName=self.source, Key=key(i))
        body = (b'{"version":1,"keys":[{"id":{"S":"k%05d"}}],"removed":[{"key":{"id":{"S":"k%05d"}},'
                b'"sequenceNumber":"5000","oldImage":{}}]}' % (i, i))
        self.s3.put_object(Bucket=self.bucket, Body=body,
                           Key=self.changes + manifest_format.order_from(time.time(), 5000) + "-" + "0" * 64 + ".json")

    def test_a_manifest_rejected_between_its_listing_and_its_read_is_never_taken_for_applied(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(8))
        rejected = []

        def reject_before_read(kwargs, _number):
            if rejected or not kwargs.get("Key", "").startswith(self.changes):
                return
            rejected.append(True)
            self.assertIsInstance(self.apply()[0], apply.ManifestsRejected)

        report = self.restore(*WINDOW, dynamodb=self.on_first_scan(lambda: self.rejected_deletion(8)),
                              s3={"get_object": reject_before_read})
        self.assertEqual(rejected, [True])
        self.assertEqual((report["counts"]["written"], report["counts"]["changed_since_start"]), (0, 1))
        self.assertFalse(self.in_source(8))

    def test_a_manifest_rejected_while_the_chunk_lists_is_never_undone(self):
        self.client.put_item(TableName=self.backup, Item=mistaken(8))
        fired = []

        def mid_listing(kwargs, _number):  # after rejected/ was listed, before the other prefixes
            if fired or kwargs.get("Prefix") != self.quarantine:
                return
            fired.append(True)
            self.rejected_deletion(8)
            self.assertIsInstance(self.apply()[0], apply.ManifestsRejected)

        report = self.restore(*WINDOW, s3={"list_objects_v2": mid_listing})
        self.assertEqual(fired, [True])
        self.assertEqual(report["counts"]["written"], 0)
        self.assertFalse(self.in_source(8))

    def test_a_busy_table_new_manifests_of_other_keys_never_hold_the_writes_back(self):
        support.put_items(self.client, self.backup, [mistaken(i) for i in range(3)], self.schema)
        written = [0]

        def other_shards(kwargs, _number):  # the function writes a manifest of another key at every listing
            if kwargs.get("Prefix") == self.changes and "ContinuationToken" not in kwargs:
                written[0] += 1
                support.put_manifest(self.s3, self.bucket, self.changes, [{"id": {"S": "other-%d" % written[0]}}],
                                     order=manifest_format.order_from(time.time() + 600, written[0]))

        report = self.restore(*WINDOW, s3={"list_objects_v2": other_shards})
        self.assertGreater(written[0], 2)
        self.assertEqual(report["counts"]["written"], 3)
