"""verify --repair and the replay of a quarantined deletion, on AWS's DynamoDB Local through the real entry
points (verify.main, apply_changes.main):
- a deleted item too large for the marker (quarantined by apply-changes, the backup keeps its older
  unmarked copy): repair reports the key as unrepaired, repairs everything else, and the report and the
  metrics are written;
- repair racing the application and apply-changes never puts the copy it read over a newer state;
- replaying a quarantine object whose key the backup already holds at a newer deletion is a no-op that
  succeeds (DynamoDB checks the item's size before the condition).
"""

import json

import support
from backup_replication import apply, aws_clients, manifest_format, retained, table_keys
from backup_replication.jobs import apply_changes, verify
from test_verify import VerifyTestCase, item, key

R = retained.DEFAULT_ATTRIBUTE
ITEM_LIMIT = 400 * 1024


def near_limit(i, sequence=None):
    """An item a few bytes under DynamoDB's 400 KB: no room left for the retained marker."""
    data = {"id": key(i)["id"], "payload": {"S": "x" * (ITEM_LIMIT - 40)}}
    if sequence is not None:
        data["n"] = {"N": str(sequence)}
    return data


class RepairTest(VerifyTestCase):
    def test_a_deleted_item_too_large_for_the_marker_is_reported_unrepaired_and_the_rest_repaired(self):
        self.seed(20)
        self.client.put_item(TableName=self.backup, Item=near_limit(50))     # its deletion was quarantined
        self.client.put_item(TableName=self.backup, Item=item(51))           # a lost deletion: markable
        self.client.delete_item(TableName=self.backup, Key=key(3))           # missing
        with support.LocalCloudWatch() as cloudwatch:
            report, log = self.verify("--repair", "true", "--metrics_namespace", "Backup/Verify",
                                      "--metrics_pipeline", "p")
        self.assertEqual((report["counts"]["extra"], report["counts"]["missing"]), (2, 1))
        self.assertEqual(report["repaired"], {"missing": 1, "different": 0, "extra": 1})
        self.assertEqual(report["unrepaired"]["count"], 1)
        (failed,) = report["unrepaired"]["sample"]
        self.assertEqual(failed["key"], key(50))
        self.assertIn("ValidationException", failed["reason"])
        self.assertEqual([e["key"] for e in log if e["event"] == "repair_failed"], [key(50)])
        self.assertTrue(cloudwatch.put_metric_data())  # the metrics were published
        written = json.loads(self.s3.get_object(Bucket=self.bucket, Key=report["report"].split("/", 3)[3])["Body"].read())
        self.assertEqual(written["unrepaired"]["count"], 1)
        backup = self.table(self.backup)
        self.assertNotIn(R, backup[table_keys.key_id(key(50))])  # left as it was, reported
        self.assertEqual(backup[table_keys.key_id(key(51))][R], support.comparable(retained.marker(0)))
        self.assertIn(table_keys.key_id(key(3)), backup)

    def test_repair_never_puts_the_copy_it_read_over_a_newer_state(self):
        """The application deletes k (its manifest still on the way), verify reads the backup's copy A, the
        application re-inserts k as B, apply-changes writes B, the application deletes B: repair's write
        lands last. The backup must hold B (the newest state), never A."""
        self.seed(5)
        self.client.delete_item(TableName=self.source, Key=key(2))           # deleted; the backup still has A
        newer = dict(item(2, 9), note={"S": "B"})
        raced = []

        def race(kwargs, _number):
            if raced or kwargs.get("TableName") != self.backup or kwargs.get("Key", kwargs.get("Item", {})).get("id") != key(2)["id"]:
                return
            raced.append(True)
            self.client.put_item(TableName=self.source, Item=newer)                 # re-inserted as B
            self.client.put_item(TableName=self.backup, Item=newer)                 # apply-changes writes B
            self.client.delete_item(TableName=self.source, Key=key(2))              # deleted again

        original = aws_clients.dynamodb_client
        aws_clients.dynamodb_client = lambda region=None: support.FlakyDynamoDB(
            original(region), before={"put_item": race, "update_item": race})
        try:
            report, _ = self.verify("--repair", "true")
        finally:
            aws_clients.dynamodb_client = original
        self.assertTrue(raced)
        self.assertEqual(report["counts"]["extra"], 1)
        stored = self.table(self.backup)[table_keys.key_id(key(2))]
        self.assertEqual(dict((k, v) for k, v in stored.items() if k != R), support.comparable(newer))
        self.assertEqual(stored[R], support.comparable(retained.marker(0)))  # B, kept as the last state


    def test_a_failed_read_after_marking_is_reported_and_the_report_still_written(self):
        self.seed(5)
        self.client.delete_item(TableName=self.source, Key=key(2))  # a lost deletion: repair marks it
        marked = []

        def throttle_source(kwargs, _number):  # the source read after the marker: throttled past the budget
            request = kwargs["RequestItems"].get(self.source)
            if marked and request and request.get("ConsistentRead") and key(2) in request["Keys"]:
                raise support.throttle_error("BatchGetItem")

        original = aws_clients.dynamodb_client
        aws_clients.dynamodb_client = lambda region=None: support.FlakyDynamoDB(original(region), before={
            "update_item": lambda *_: marked.append(True), "batch_get_item": throttle_source})
        try:
            report, _, _, err = support.run_main(verify.main, [
                "verify.py", "--JOB_RUN_ID", "jr", "--source_table", self.source, "--backup_table", self.backup,
                "--report_bucket", self.bucket, "--report_prefix", self.reports, "--settle_seconds", "0",
                "--repair", "true"], spark_context=support.FakeSparkContext(2), retry=support.fast_retry(0.3))
        finally:
            aws_clients.dynamodb_client = original
        self.assertTrue(marked)
        self.assertIsNotNone(report, err)
        (failed,) = report["unrepaired"]["sample"]
        self.assertEqual(failed["key"], key(2))
        self.assertIn("could not be read again", failed["reason"])
        self.assertEqual(len(support.list_keys(self.s3, self.bucket, self.reports)), 1)


class QuarantineReplayTest(support.OnDynamoDbLocal, support.TablePairTestCase):
    def setUp(self):
        super(QuarantineReplayTest, self).setUp()
        self.prefix = support.unique("changes") + "/"
        self.quarantine = support.unique("quarantine") + "/"

    def apply(self):
        argv = ["apply_changes.py", "--JOB_RUN_ID", "jr_q", "--source_table", self.source, "--backup_table",
                self.backup, "--manifest_bucket", self.bucket, "--manifest_prefix", self.prefix,
                "--rejected_prefix", support.unique("rejected") + "/", "--quarantine_prefix", self.quarantine]
        return support.run_main_failing(apply_changes.main, argv)

    def test_replaying_a_stale_quarantine_object_is_a_no_op_that_succeeds(self):
        # A deleted item just under 400 KB: apply-changes quarantines its deletion (no room for the marker).
        self.client.put_item(TableName=self.backup, Item=near_limit(7, 1))
        support.put_manifest(self.s3, self.bucket, self.prefix, [], event_names=["REMOVE"],
                             removed=[(key(7), "1000", near_limit(7, 2), 1764620000)])
        error, code, _, err = self.apply()
        self.assertEqual(code, 0, err)
        self.assertIsInstance(error, apply.KeysQuarantined)
        (held,) = support.list_keys(self.s3, self.bucket, self.quarantine)
        body = self.s3.get_object(Bucket=self.bucket, Key=held)["Body"].read()
        (entry,) = manifest_format.parse_manifest_document(body).removed
        self.assertEqual((entry.sequence, entry.old_image["n"]), (1000, {"N": "2"}))  # the last state, kept in S3
        # The key is re-inserted small and deleted again: the newer deletion is recorded.
        small = {"id": key(7)["id"], "n": {"N": "3"}}
        support.put_manifest(self.s3, self.bucket, self.prefix, [], event_names=["REMOVE"],
                             removed=[(key(7), "2000", small, 1764620100)])
        error, code, _, err = self.apply()
        self.assertEqual((error, code), (None, 0), err)
        newest = dict(small, **{R: retained.marker(2000, retained.deleted_at(1764620100))})
        self.assertEqual(self.backup_item(7), support.comparable(newest))
        # The runbook's replay of the old quarantine object: nothing to do, and the run succeeds.
        self.s3.copy_object(Bucket=self.bucket, Key=self.prefix + held[len(self.quarantine):],
                            CopySource={"Bucket": self.bucket, "Key": held})
        self.s3.delete_object(Bucket=self.bucket, Key=held)
        error, code, out, err = self.apply()
        self.assertEqual((error, code), (None, 0), err)
        self.assertEqual(support.list_keys(self.s3, self.bucket, self.quarantine), [])
        self.assertEqual(support.list_keys(self.s3, self.bucket, self.prefix), [])
        self.assertEqual(self.backup_item(7), support.comparable(newest))
        (done,) = [e for e in support.json_lines(out) if e["event"] == "apply_pass"]
        self.assertEqual((done["retained_skipped"], done["quarantined"]), (1, 0))

    def backup_item(self, i):
        return support.comparable(support.scan_all(self.client, self.backup, self.schema)[table_keys.key_id(key(i))])
