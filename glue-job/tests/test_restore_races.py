"""Restore into the source against what an adversarial review found, each on AWS's DynamoDB Local
through the real entry points (restore.main, apply_changes.main, apply.run): a deliberate deletion that
apply-changes sets aside after the gate (quarantined, or its manifest rejected), or replaces by a
remainder between the restore's listing and its read, is never undone; the window compares deletion
times as times, not text; the gate sees a pending manifest of the older hash-only name form."""

import time

import support
import apply
import apply_changes
import aws_clients
import ddb_batch
import manifests
import replicate
import restore
import restore_guard
import retained
import table_keys
from transform import Transform
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
                             order=manifests.order_from(time.time(), 5000))

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
            self.client.put_item(TableName=self.source, Item=item(8, 3))
            self.client.delete_item(TableName=self.source, Key=key(8))
            body = (b'{"version":1,"keys":[{"id":{"S":"k00008"}}],"removed":[{"key":{"id":{"S":"k00008"}},'
                    b'"sequenceNumber":"5000","oldImage":{}}]}')  # one apply-changes rejects
            self.s3.put_object(Bucket=self.bucket, Body=body,
                               Key=self.changes + manifests.order_from(time.time(), 5000) + "-" + "0" * 64 + ".json")
            error, _, _, _ = self.apply()
            self.assertIsInstance(error, apply.ManifestsRejected)

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
            settings = apply.ApplySettings(self.bucket, self.changes, self.rejected, quarantine_prefix=self.quarantine)
            result = apply.run(support.s3(), replicator, settings, self.schema, clock=lambda: next(ticks),
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
        name, body = manifests.build_manifest([key(1)])
        older = self.changes + "f" + name[1:]  # sorts after every time-ordered name
        self.s3.put_object(Bucket=self.bucket, Key=older, Body=body)
        time.sleep(1.1)
        started = time.time()
        support.put_manifest(self.s3, self.bucket, self.changes, [key(2)], order=manifests.order_from(started + 1, 1))
        settings = restore_guard.GuardSettings(self.bucket, self.changes, self.rejected, self.quarantine,
                                               delivery_seconds=0, catch_up_seconds=0)
        with self.assertRaises(restore_guard.BackupNotCaughtUp) as caught:
            restore_guard.check_caught_up(self.s3, None, settings, started, time.time, time.sleep, lambda *a, **k: None)
        self.assertIn(older, str(caught.exception))
