"""verify against DynamoDB Local through its real entry point (Spark through the fake context, as
full-copy): every class of drift is found and repaired, changes written during the run are not reported,
sampling checks a share of the segments, the report and the metrics (against a CloudWatch stand-in that
checks requests against botocore's own model), and the AWS calls the role must grant."""

import json
import time
import unittest

import support
from backup_replication import compare, ddb_batch, retained, scan_copy, table_keys
from backup_replication.jobs import verify


def item(i, version=0):
    return {"id": {"S": "k%05d" % i}, "version": {"N": str(version)}, "amount": {"N": "%d.25" % (i * 7)},
            "tags": {"SS": ["a", "b%d" % (i % 3)]}, "blob": {"B": bytes([i % 256])}}


def key(i):
    return {"id": {"S": "k%05d" % i}}


def marked(i, sequence=5, when="2020-01-01T00:00:00Z"):
    data = item(i)
    data[retained.DEFAULT_ATTRIBUTE] = retained.marker(sequence, when)
    return data


class VerifyTestCase(support.RecordedClients, support.OnDynamoDbLocal, support.TablePairTestCase):
    def setUp(self):
        super(VerifyTestCase, self).setUp()
        self.reports = support.unique("verify") + "/"

    def verify(self, *extra, **kwargs):
        argv = ["verify.py", "--JOB_ID", "j", "--JOB_RUN_ID", "jr_test", "--source_table", self.source,
                "--backup_table", self.backup, "--report_bucket", self.bucket, "--report_prefix", self.reports,
                "--settle_seconds", "0"] + list(extra)
        sc = kwargs.pop("sc", None) or support.FakeSparkContext(2)
        report, code, out, err = support.run_main(verify.main, argv, spark_context=sc, retry=support.fast_retry(), **kwargs)
        self.assertEqual(code, 0, err)
        return report, support.json_lines(out)

    def table(self, name):
        return dict((k, support.comparable(v)) for k, v in support.scan_all(self.client, name, self.schema).items())

    def seed(self, count):
        items = [item(i) for i in range(count)]
        support.put_items(self.client, self.source, items, self.schema)
        support.put_items(self.client, self.backup, items, self.schema)


class VerifyTest(VerifyTestCase):
    def drift_of_every_class(self):
        self.seed(60)
        for i in (1, 2, 3):
            self.client.delete_item(TableName=self.backup, Key=key(i))                 # missing
        for i in (4, 5, 6):
            self.client.put_item(TableName=self.backup, Item=item(i, 9))               # different
        self.client.put_item(TableName=self.backup, Item=marked(7))                    # retained, back in the source: different
        for i in (100, 101):
            self.client.put_item(TableName=self.backup, Item=item(i))                  # extra (unmarked)
        for i in (200, 201):
            self.client.put_item(TableName=self.backup, Item=marked(i))                # retained

    def test_every_class_of_drift_is_found_reported_published_and_repaired(self):
        self.drift_of_every_class()
        with support.LocalCloudWatch() as cloudwatch:
            report, log = self.verify("--scan_segments", "3", "--metrics_namespace", "Backup/Verify", "--metrics_pipeline", "p")
        counts = report["counts"]
        self.assertEqual([counts[c] for c in ("missing", "different", "extra", "retained", "in_flight")], [3, 4, 2, 2, 0])
        self.assertEqual((report["drift"], counts["match"]), (9, 53))
        self.assertEqual(sorted(k["id"]["S"] for k in report["sample_keys"]["missing"]), ["k00001", "k00002", "k00003"])
        self.assertEqual(sorted(report["sample_keys"]["extra"], key=json.dumps), [{"id": {"S": "k00100"}}, {"id": {"S": "k00101"}}])
        self.assertGreaterEqual(report["items_read"]["source"], 60)
        self.assertGreaterEqual(report["items_read"]["backup"], 61)
        # the report in S3 is the returned one
        listed = support.list_keys(self.s3, self.bucket, self.reports)
        self.assertEqual(len(listed), 1)
        self.assertTrue(listed[0].endswith("-jr_test.json"))
        stored = json.loads(self.s3.get_object(Bucket=self.bucket, Key=listed[0])["Body"].read())
        self.assertEqual((stored["counts"], stored["drift"]), (counts, 9))
        self.assertEqual(report["report"], "s3://%s/%s" % (self.bucket, listed[0]))
        # metrics: one valid PutMetricData, counts per class and Drift, by backup table
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[]])
        (body,) = cloudwatch.put_metric_data()
        self.assertEqual(body["Namespace"], "Backup/Verify")
        values = dict((d["MetricName"], d["Value"]) for d in body["MetricData"])
        self.assertEqual(values["DriftItems"], 9.0)
        self.assertEqual((values["MissingInBackup"], values["ExtraInBackup"], values["Different"], values["Retained"]),
                         (3.0, 2.0, 4.0, 2.0))
        self.assertTrue(all(d["Dimensions"] == [{"Name": "Pipeline", "Value": "p"}] for d in body["MetricData"]))
        events = [e["event"] for e in log]
        self.assertEqual(events, ["verify_start", "verify_cost_estimate", "verify_done"])

        # repaired on the driver, after the settle wait (a stand-in sleep: nothing changes meanwhile)
        repaired, _ = self.verify("--scan_segments", "3", "--repair", "true", "--settle_seconds", "5", sleep=lambda _: None)
        self.assertEqual(repaired["repaired"], {"missing": 3, "different": 4, "extra": 2})
        self.assertEqual((repaired["settle"]["deferred_keys"], repaired["drift"]), (9, 9))
        after, _ = self.verify("--scan_segments", "2")
        self.assertEqual((after["drift"], after["counts"]["retained"]), (0, 4))
        backup = self.table(self.backup)
        source = self.table(self.source)
        for kid, value in source.items():
            self.assertEqual(backup[kid], value)
        extra = backup[table_keys.key_id(key(100))]
        self.assertEqual(extra[retained.DEFAULT_ATTRIBUTE], retained.marker(0))  # version 0: any real deletion is newer
        self.assertEqual(backup[table_keys.key_id(key(200))], support.comparable(marked(200)))

    def test_under_mirror_a_marked_backup_only_item_is_drift_and_repair_deletes_extras(self):
        self.seed(20)
        self.client.put_item(TableName=self.backup, Item=marked(300))
        self.client.put_item(TableName=self.backup, Item=item(301))
        report, _ = self.verify("--scan_segments", "2", "--delete_policy", "mirror", "--repair", "true")
        self.assertEqual((report["counts"]["extra"], report["counts"]["retained"], report["drift"]), (2, 0, 2))
        self.assertEqual(self.table(self.backup), self.table(self.source))
        used = self.used()
        self.assertEqual(used, {
            ("describe_table", self.source), ("describe_table", self.backup), ("scan", self.source),
            ("scan", self.backup), ("batch_get_item", self.source), ("batch_get_item", self.backup),
            ("batch_write_item", self.backup), ("put_object", self.bucket)})
        support.record_iam_surface("verify-mirror", used, {self.source: "source", self.backup: "backup",
                                                           self.bucket: "verify-reports"})

    def test_changes_written_during_verify_are_not_reported(self):
        """While verify runs, keys change: delivered to both tables between the scan and the backup read
        (settled on the consistent re-read), changed in the source after the scan (in flight), or written
        to the source before verify and applied to the backup only while verify waits out the pipeline's
        lag (settled after settle_seconds). A key the pipeline never applies is drift."""
        self.seed(40)
        for i in (20, 21):  # stale in the backup, and changing in the source while verify looks
            self.client.put_item(TableName=self.backup, Item=item(i, 3))
        for i in (30, 31):  # written to the source just before verify; the pipeline has not applied them yet
            self.client.put_item(TableName=self.source, Item=item(i, 2))
        changed = []

        def during(kwargs, number):
            (table, request), = kwargs["RequestItems"].items()
            if changed or table != self.backup or request.get("ConsistentRead"):
                return
            ids = [int(k["id"]["S"][1:]) for k in request["Keys"]]
            delivered = [i for i in ids if i < 10]
            in_flight = [i for i in ids if i in (20, 21)]
            support.put_items(self.client, self.source, [item(i, 1) for i in delivered + in_flight], self.schema)
            support.put_items(self.client, self.backup, [item(i, 1) for i in delivered], self.schema)
            changed.extend(delivered + in_flight)

        original = support.aws_clients.dynamodb_client

        def hooked(region=None):
            proxy = original(region)
            proxy.before = {"batch_get_item": during}
            return proxy

        waits = []

        def pipeline_catches_up(seconds):  # the driver's wait: the pipeline applies key 30 (not 31) meanwhile
            waits.append(seconds)
            self.client.put_item(TableName=self.backup, Item=item(30, 2))

        support.aws_clients.dynamodb_client = hooked
        try:
            report, log = self.verify("--scan_segments", "1", "--settle_seconds", "30", sleep=pipeline_catches_up)
        finally:
            support.aws_clients.dynamodb_client = original
        self.assertEqual(sorted(changed), list(range(10)) + [20, 21])
        self.assertEqual(len(waits), 1)
        self.assertTrue(25 < waits[0] <= 30, waits)
        self.assertEqual((report["counts"]["in_flight"], report["counts"]["settled"], report["counts"]["deferred"]), (2, 11, 2))
        self.assertEqual(sorted(k["id"]["S"] for k in report["sample_keys"]["in_flight"]), ["k00020", "k00021"])
        self.assertEqual((report["drift"], report["sample_keys"]["different"]), (1, [{"id": {"S": "k00031"}}]))
        self.assertEqual(report["settle"]["deferred_keys"], 2)
        self.assertIn("verify_settling", [e["event"] for e in log])

    def test_sample_fraction_checks_a_random_share_of_the_segments_and_the_cost_is_estimated_first(self):
        self.seed(200)
        report, log = self.verify("--sample_fraction", "0.25", sc=support.FakeSparkContext(2))
        self.assertEqual(report["segments"], {"total": 32, "checked": 8, "sample_fraction": 0.25})
        scanned = set((kw["TableName"], kw["Segment"], kw["TotalSegments"]) for kw in self.calls("scan"))
        segments = sorted(set(s for _, s, _ in scanned))
        self.assertEqual(len(segments), 8)
        self.assertEqual(scanned, set((t, s, 32) for t in (self.source, self.backup) for s in segments))
        self.assertEqual(report["drift"], 0)
        self.assertLess(report["counts"]["match"], 200)
        (estimate,) = [e for e in log if e["event"] == "verify_cost_estimate"]
        self.assertEqual(estimate["sample_fraction"], 0.25)
        self.assertEqual(estimate["read_units"], report["read_cost_estimate"]["read_units"])
        self.assertIn("DescribeTable", estimate["basis"])

    def test_calls_only_what_the_verify_role_grants(self):
        """The AWS operations verify uses, repair included: the IAM surface of its role (retain)."""
        self.seed(10)
        self.client.delete_item(TableName=self.backup, Key=key(1))
        self.client.put_item(TableName=self.backup, Item=item(2, 4))
        self.client.put_item(TableName=self.backup, Item=item(50))
        self.client.put_item(TableName=self.backup, Item=marked(3))
        self.verify("--scan_segments", "2", "--repair", "true")
        used = self.used()
        self.assertEqual(used, {
            ("describe_table", self.source), ("describe_table", self.backup), ("scan", self.source),
            ("scan", self.backup), ("batch_get_item", self.source), ("batch_get_item", self.backup),
            ("put_item", self.backup), ("get_item", self.backup), ("update_item", self.backup),
            ("put_object", self.bucket)})
        support.record_iam_surface("verify-retain", used, {self.source: "source", self.backup: "backup",
                                                           self.bucket: "verify-reports"})

    def test_verify_rate_next_to_the_raw_scan_rate(self):
        """Prints verify's items/s next to a plain Scan of both tables, in the same run (no timing assertion).
        The plain Scan runs before and after verify: the first one also warms the server up."""
        count = 1000
        self.seed(count)

        def raw_scan():
            started, read = time.monotonic(), 0
            for table in (self.source, self.backup):
                kwargs = scan_copy.segment_scan(table, 0, 1)
                for chunk in scan_copy.scanned_chunks(self.client, ddb_batch.Stats(), support.fast_retry(), kwargs, 100):
                    read += len(chunk)
            return read / (time.monotonic() - started)

        before = raw_scan()
        report, _ = self.verify("--scan_segments", "2")
        after = raw_scan()
        self.assertEqual((report["drift"], report["counts"]["match"]), (0, count))
        compared = count / report["seconds"]
        print("\nverify rate (DynamoDB Local, %d items per table): verify %.0f items read/s (%.0f source keys "
              "compared/s), raw Scan %.0f items/s before and %.0f after" % (count, report["items_per_second"],
                                                                          compared, before, after))


class ClassifierTest(unittest.TestCase):
    def test_classes_by_policy(self):
        from backup_replication.transform import Transform
        marker = retained.DEFAULT_ATTRIBUTE
        rename = Transform.parse('{"rename": {"amount": "total"}}')
        retain = compare.Classifier(rename, "retain", marker)
        mirror = compare.Classifier(rename, "mirror", marker)
        source = item(1)
        copied = rename.apply(source)
        self.assertEqual(retain.classify(source, copied), compare.MATCH)
        self.assertEqual(retain.classify(source, source), compare.DIFFERENT)  # not transformed
        self.assertEqual(retain.classify(source, None), compare.MISSING)
        self.assertEqual(retain.classify(None, marked(1)), compare.RETAINED)
        self.assertEqual(mirror.classify(None, marked(1)), compare.EXTRA)
        self.assertEqual(retain.classify(None, copied), compare.EXTRA)
        self.assertEqual(retain.classify(None, None), compare.MATCH)
        reordered = dict(copied, tags={"SS": ["b1", "a"]})
        self.assertEqual(retain.classify(source, reordered), compare.MATCH)
        self.assertEqual(compare.key_json({"pk": {"N": "1"}, "sk": {"B": b"\x00\xff"}}),
                         {"pk": {"N": "1"}, "sk": {"B": "AP8="}})


if __name__ == "__main__":
    unittest.main()
