"""restore against DynamoDB Local through its real entry point (Spark through the fake context): after a
bulk delete, missing-only brings back exactly the deleted items; a new table equals the backup (inverse
transform, retained items only when asked); the backup is never written; a dry run writes nothing; the
AWS calls the role must grant."""

import time
import unittest

import support
from backup_replication import manifest_format, retained, restore_plan, table_keys
from backup_replication.jobs import apply_changes, restore
from backup_replication.transform import Transform

from test_verify import item, key, marked

TRANSFORM = '{"rename": {"amount": "total"}, "drop": ["blob"]}'


class RestoreTest(support.RecordedClients, support.OnDynamoDbLocal, support.TablePairTestCase):
    def restore(self, target, *extra, **kwargs):
        argv = ["restore.py", "--JOB_RUN_ID", "jr_r", "--backup_table", self.backup, "--target_table", target,
                "--source_table", self.source, "--report_bucket", self.bucket,
                "--report_prefix", support.unique("restore") + "/", "--scan_segments", "2"] + list(extra)
        report, code, out, err = support.run_main(restore.main, argv, spark_context=support.FakeSparkContext(2),
                                                  retry=support.fast_retry(), clock=kwargs.get("clock", time.time),
                                                  sleep=kwargs.get("sleep", time.sleep))
        if kwargs.get("code", 0) == 0:
            self.assertEqual(code, 0, err)
            return report, support.json_lines(out)
        self.assertEqual(code, kwargs["code"])
        return err, support.json_lines(out)

    def table(self, name):
        return dict((k, support.comparable(v)) for k, v in support.scan_all(self.client, name, self.schema).items())

    def into_source(self, *extra, **kwargs):
        """restore into the source, as the runbook runs it, with the pipeline's prefixes of this test."""
        return self.restore(self.source, "--include_retained", "true", "--allowed_targets", '["%s"]' % self.source,
                            "--allow_source_target", "true", "--manifest_bucket", self.bucket,
                            "--manifest_prefix", self.changes, "--rejected_prefix", self.rejected,
                            "--quarantine_prefix", self.quarantine, "--delivery_seconds", "0",
                            "--catch_up_seconds", "0", *extra, **kwargs)

    def setUp(self):
        super(RestoreTest, self).setUp()
        self.changes, self.rejected, self.quarantine = (support.unique(p) + "/" for p in ("changes", "rejected", "quarantine"))

    def test_into_the_source_only_deletions_the_backup_recorded_inside_the_window_come_back(self):
        support.put_items(self.client, self.source, [item(i) for i in range(80)], self.schema)
        support.put_items(self.client, self.backup, [item(i) for i in range(80)], self.schema)
        support.put_items(self.client, self.backup, [marked(i, 3, "2020-05-01T00:00:00Z") for i in (500, 501, 502)],
                          self.schema)  # deleted on purpose long ago
        original = self.table(self.source)
        mistake = list(range(10, 30))
        for i in mistake:  # the bulk delete, as apply-changes leaves it under retain
            self.client.delete_item(TableName=self.source, Key=key(i))
            self.client.put_item(TableName=self.backup, Item=marked(i, 900 + i, "2026-03-02T10:00:%02dZ" % (i % 60)))
        for i in (40, 41):  # changed by the application since: missing-only leaves them
            self.client.put_item(TableName=self.source, Item=item(i, 7))
        for i in (50, 51, 52):  # deleted on purpose; the backup has not recorded it (a lost or late manifest)
            self.client.delete_item(TableName=self.source, Key=key(i))
        self.client.put_item(TableName=self.backup, Item=marked(60, 990, "2026-03-02T10:00:30Z"))  # quarantined later
        self.client.delete_item(TableName=self.source, Key=key(60))
        support.put_manifest(self.s3, self.bucket, self.quarantine, [], removed=[(key(60), "995", item(60, 9))])
        self.client.put_item(TableName=self.backup, Item=marked(61, 991, "2026-03-02T10:00:31Z"))  # changed since:
        self.client.delete_item(TableName=self.source, Key=key(61))
        # Dated well after the restore's start (a margin no slow machine eats), so it reads as a change made since.
        support.put_manifest(self.s3, self.bucket, self.changes, [key(61)],  # re-inserted and deleted again
                             order=manifest_format.order_from(time.time() + 600, 1))
        self.client.put_item(TableName=self.backup, Item=marked(62, 992, "2026-03-02T11:30:00Z"))  # after the window
        self.client.delete_item(TableName=self.source, Key=key(62))
        for args, message in (((), "--deleted_after"), (("--deleted_after", "2026-03-02T09:00:00Z", "--mode", "overwrite"),
                                                         "only --mode missing-only")):
            err, _ = self.into_source(*args, code=2)
            self.assertIn(message, err)
        window = ("--deleted_after", "2026-03-02T09:00:00Z", "--deleted_before", "2026-03-02T11:00:00Z")
        dry, _ = self.into_source(*window + ("--dry_run", "true"))
        report, _ = self.into_source(*window)
        counts = dict((name, report["counts"][name]) for name in
                      ("written", "already_present", "retained_skipped", "not_recorded", "quarantined", "changed_since_start"))
        self.assertEqual(counts, {"written": 20, "already_present": 54, "retained_skipped": 4, "not_recorded": 3,
                                  "quarantined": 1, "changed_since_start": 1})
        self.assertEqual((dry["counts"]["would_write"], dry["counts"]["not_recorded"], dry["counts"]["written"]), (20, 3, 0))
        self.assertEqual(report["not_restored_ambiguous"], 5)
        expected = dict((kid, v) for kid, v in original.items()
                        if kid not in set(table_keys.key_id(key(i)) for i in (50, 51, 52, 60, 61, 62)))
        for i in (40, 41):
            expected[table_keys.key_id(key(i))] = support.comparable(item(i, 7))
        self.assertEqual(self.table(self.source), expected)
        self.assertEqual(sorted(k["id"]["S"] for k in report["sample_keys"]["written"]), ["k%05d" % i for i in mistake])
        self.assertEqual(sorted(k["id"]["S"] for k in dry["sample_keys"]["not_recorded"]), ["k00050", "k00051", "k00052"])
        used = self.used(prefixes=True)
        roles = {self.backup: "backup", self.source: "source", self.bucket: "manifests",
                 self.bucket + "/" + self.changes: "manifests", self.bucket + "/" + self.quarantine: "quarantine"}
        roles.update((where, "restore-reports") for _, where in used if where.startswith(self.bucket + "/restore-"))
        self.assertIn(("get_object", self.bucket + "/" + self.quarantine), used)
        support.record_iam_surface("restore-into-source", used, roles)

    def test_an_item_time_to_live_deleted_is_kept_marked_and_never_restored_into_the_source(self):
        when = 1772445600  # 2026-03-02T10:00:00Z, inside the window
        support.put_manifest(self.s3, self.bucket, self.changes, [], event_names=["REMOVE"], removed=[
            (key(5), "1000", item(5), when, True), (key(6), "1001", item(6), when)])
        argv = ["apply_changes.py", "--JOB_RUN_ID", "jr_t", "--source_table", self.source, "--backup_table", self.backup,
                "--manifest_bucket", self.bucket, "--manifest_prefix", self.changes, "--rejected_prefix", self.rejected,
                "--quarantine_prefix", self.quarantine]
        self.assertEqual(support.run_main(apply_changes.main, argv)[1], 0)
        backup = self.table(self.backup)
        self.assertEqual(backup[table_keys.key_id(key(5))][retained.DEFAULT_ATTRIBUTE],
                         support.comparable(retained.marker(1000, "2026-03-02T10:00:00Z", expired=True)))
        self.assertNotIn("timeToLive", backup[table_keys.key_id(key(6))][retained.DEFAULT_ATTRIBUTE]["M"])
        report, _ = self.into_source("--deleted_after", "2026-03-02T09:00:00Z")
        self.assertEqual((report["counts"]["written"], report["counts"]["expired"]), (1, 1))
        self.assertEqual(report["sample_keys"]["expired"], [key(5)])
        target = self.backup + "-restore-ttl"
        copied, _ = self.restore(target, "--create_target", "true", "--include_retained", "true")
        self.assertEqual((copied["counts"]["written"], copied["counts"]["expired"]), (2, 0))  # a copy keeps them
        with self.assertRaises(manifest_format.ManifestError):
            manifest_format.parse_manifest_document(b'{"version":1,"keys":[{"id":{"S":"a"}}],"removed":[{"key":{"id":{"S":"a"}},'
                                                    b'"sequenceNumber":"1","oldImage":{"id":{"S":"a"}},"timeToLive":false}]}')

    def test_into_the_source_a_deletion_made_while_it_runs_is_never_inside_the_window(self):
        now = time.time()
        for i, when in ((1, now - 120), (2, now), (3, now + 5)):  # the last two: made while it runs, applied
            self.client.put_item(TableName=self.backup, Item=marked(i, 900 + i, retained.deleted_at(int(when) // 60 * 60)))
        report, _ = self.into_source("--deleted_after", "2026-03-02T09:00:00Z")
        self.assertEqual((report["counts"]["written"], report["counts"]["retained_skipped"]), (1, 2))
        self.assertEqual(report["sample_keys"]["written"], [key(1)])
        err, _ = self.into_source("--deleted_after", "2026-03-02T09:00:00Z", "--deleted_before",
                                  retained.deleted_at(int(now) - 30), code=2)
        self.assertIn("at least 60 s before the restore's start", err)

    def test_into_the_source_waits_for_the_backup_to_catch_up_and_refuses_what_it_cannot_see(self):
        support.put_items(self.client, self.backup, [marked(i, 900 + i, "2026-03-02T10:00:00Z") for i in range(5)],
                          self.schema)
        window = ("--deleted_after", "2026-03-02T09:00:00Z")
        # A manifest of changes made before the restore started, still pending: it waits, then refuses ...
        pending = support.put_manifest(self.s3, self.bucket, self.changes, [key(3)],
                                       order=manifest_format.order_from(time.time() - 60, 7))
        now, slept = [time.time()], []

        def sleep(seconds):
            slept.append(seconds)
            now[0] += seconds

        err, _ = self.into_source(*window + ("--catch_up_seconds", "30", "--poll_seconds", "10"), code=2,
                                  clock=lambda: now[0], sleep=sleep)
        self.assertIn("has not caught up", err)
        self.assertIn(pending, err)
        self.assertEqual(sum(slept), 30)
        # ... and goes on once apply-changes has applied it (here: during its wait).
        def applied(seconds):
            self.s3.delete_object(Bucket=self.bucket, Key=pending)
            sleep(seconds)

        report, log = self.into_source(*window + ("--catch_up_seconds", "30", "--poll_seconds", "10"),
                                       clock=lambda: now[0], sleep=applied)
        self.assertEqual(report["counts"]["written"], 5)
        self.assertIn("restore_backup_caught_up", [e["event"] for e in log])
        # A rejected manifest, or dead letters: refused at once, saying what to do.
        rejected = support.put_manifest(self.s3, self.bucket, self.rejected, [key(1)])
        err, _ = self.into_source(*window, code=2)
        self.assertIn(rejected, err)
        self.s3.delete_object(Bucket=self.bucket, Key=rejected)
        with support.LocalSqs(messages=2) as sqs:
            err, _ = self.into_source(*window + ("--dead_letter_queue_name", "p-change-trigger-dlq"), code=2)
            self.assertIn("dead-letter queue holds 2 message(s)", err)
            sqs.messages = 0
            report, _ = self.into_source(*window + ("--dead_letter_queue_name", "p-change-trigger-dlq"))
            self.assertEqual(report["counts"]["already_present"], 5)
        queue_calls = set(("get_queue_url" if target.endswith("Url") else "get_queue_attributes", "p-change-trigger-dlq")
                          for target, _ in sqs.requests)
        used = self.used(prefixes=True) | queue_calls
        roles = {self.backup: "backup", self.source: "source", self.bucket: "manifests", "p-change-trigger-dlq": "dead-letters",
                 self.bucket + "/" + self.changes: "manifests", self.bucket + "/" + self.quarantine: "quarantine"}
        roles.update((where, "restore-reports") for _, where in used if where.startswith(self.bucket + "/restore-"))
        support.record_iam_surface("restore-into-source-queue", used, roles)
        self.assertEqual([(target.split(".")[1], body) for target, body in sqs.requests][:2], [
            ("GetQueueUrl", {"QueueName": "p-change-trigger-dlq"}),
            ("GetQueueAttributes", {"QueueUrl": sqs.endpoint + "/000000000000/p-change-trigger-dlq",
                                    "AttributeNames": ["ApproximateNumberOfMessages",
                                                       "ApproximateNumberOfMessagesNotVisible",
                                                       "ApproximateNumberOfMessagesDelayed"]})])

    def test_a_new_table_equals_the_backup_with_the_transform_inverted_and_retained_items_only_when_asked(self):
        forward = Transform.parse(TRANSFORM)
        support.put_items(self.client, self.backup, [forward.apply(item(i)) for i in range(50)], self.schema)
        support.put_items(self.client, self.backup, [forward.apply(marked(i)) for i in (60, 61)], self.schema)
        target = self.backup + "-restore-a"
        err, _ = self.restore(target, "--transform", TRANSFORM, code=2)
        self.assertIn("does not exist", err)
        report, log = self.restore(target, "--transform", TRANSFORM, "--create_target", "true")
        (notes,) = [e["notes"] for e in log if e["event"] == "restore_transform_not_invertible"]
        self.assertIn("dropped by the transform, not in the backup, not restored: blob", notes)
        self.assertEqual([e["event"] for e in log].index("restore_transform_not_invertible"), 1)  # before any copy
        self.assertEqual((report["counts"]["written"], report["counts"]["retained_skipped"]), (50, 2))
        unblobbed = dict((table_keys.key_id(key(i)), support.comparable(dict((k, v) for k, v in item(i).items() if k != "blob")))
                         for i in range(50))
        self.assertEqual(self.table(target), unblobbed)
        everything = self.backup + "-restore-b"
        self.restore(everything, "--transform", TRANSFORM, "--create_target", "true", "--include_retained", "true")
        for i in (60, 61):
            unblobbed[table_keys.key_id(key(i))] = support.comparable(dict((k, v) for k, v in item(i).items() if k != "blob"))
        self.assertEqual(self.table(everything), unblobbed)  # the marker is gone

    def test_never_writes_the_backup_a_dry_run_writes_nothing_and_the_calls_the_role_grants(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(30)], self.schema)
        before = self.table(self.backup)
        for target, message in ((self.backup, "never writes it"), ("some-other-table", "is not allowed")):
            err, _ = self.restore(target, "--mode", "overwrite", code=2)
            self.assertIn(message, err)
        target = self.backup + "-restore-c"
        report, _ = self.restore(target, "--create_target", "true", "--dry_run", "true")
        self.assertEqual(report["counts"]["would_write"], 30)
        self.assertNotIn(target, self.client.list_tables()["TableNames"])  # a dry run creates nothing either
        self.restore(target, "--create_target", "true")  # missing-only: conditional puts
        self.client.put_item(TableName=target, Item=item(3, 8))
        self.client.delete_item(TableName=target, Key=key(4))
        report, _ = self.restore(target, "--dry_run", "true")
        self.assertEqual((report["counts"]["would_write"], report["counts"]["already_present"]), (1, 29))
        self.assertEqual(report["sample_keys"]["would_write"], [{"id": {"S": "k00004"}}])
        self.assertNotIn(table_keys.key_id(key(4)), self.table(target))
        report, _ = self.restore(target, "--mode", "overwrite", "--max_items_per_second", "500")
        self.assertEqual(report["counts"]["written"], 30)
        self.assertEqual(self.table(target), before)
        self.assertEqual(self.table(self.backup), before)
        used = self.used()
        self.assertEqual(used, {
            ("describe_table", self.backup), ("scan", self.backup), ("describe_table", target), ("create_table", target),
            ("put_item", target), ("batch_get_item", target), ("batch_write_item", target),
            ("put_object", self.bucket)})
        support.record_iam_surface("restore", used, {self.backup: "backup", target: "restore-target",
                                                     self.bucket: "restore-reports"})


class RestorePlanTest(unittest.TestCase):
    def test_inverse_transform_and_retained_selection(self):
        forward = Transform.parse('{"rename": {"a": "b", "b": "a", "c": "d"}, "drop": ["x"]}')
        plan = restore_plan.RestorePlan(forward, retained.DEFAULT_ATTRIBUTE, include_retained=True,
                                        deleted_after="2026-01-01T00:00:00Z")
        source = {"id": {"S": "1"}, "a": {"N": "1"}, "b": {"N": "2"}, "c": {"S": "c"}}
        self.assertEqual(plan.item(forward.apply(source)), (restore_plan.RESTORE, source, None))
        old = dict(forward.apply(source), **{retained.DEFAULT_ATTRIBUTE: retained.marker(1, "2025-12-31T23:59:59Z")})
        new = dict(forward.apply(source), **{retained.DEFAULT_ATTRIBUTE: retained.marker(2, "2026-01-01T00:00:00Z")})
        late = dict(forward.apply(source), **{retained.DEFAULT_ATTRIBUTE: retained.marker(4, "2026-02-01T00:00:00Z")})
        unknown = dict(forward.apply(source), **{retained.DEFAULT_ATTRIBUTE: retained.marker(3)})
        self.assertEqual(plan.item(old), (restore_plan.RETAINED_SKIPPED, None, None))
        self.assertEqual(plan.item(new), (restore_plan.RESTORE, source, retained.version(2)))
        self.assertEqual(plan.item(unknown), (restore_plan.RETAINED_SKIPPED, None, None))
        window = restore_plan.RestorePlan(forward, retained.DEFAULT_ATTRIBUTE, include_retained=True,
                                          deleted_after="2026-01-01T00:00:00Z", deleted_before="2026-02-01T00:00:00Z")
        self.assertEqual([window.item(i)[0] for i in (old, new, late, unknown)],
                         [restore_plan.RETAINED_SKIPPED, restore_plan.RESTORE, restore_plan.RETAINED_SKIPPED,
                          restore_plan.RETAINED_SKIPPED])
        notes = restore_plan.lost_attributes(forward)
        self.assertEqual(notes[0], "dropped by the transform, not in the backup, not restored: x")
        self.assertEqual(restore_plan.lost_attributes(Transform.parse("{}")), [])


if __name__ == "__main__":
    unittest.main()
