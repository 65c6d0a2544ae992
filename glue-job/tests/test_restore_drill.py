"""The restore drill against DynamoDB Local through its real entry point (Spark through the fake context, as
restore's tests): a share of the backup's segments restored into a table of the drill's own, which holds
exactly what restore would write (inverse transform, retained items skipped), compared, counted, measured,
reported, published and deleted; the backup never written; a mismatch (a write corrupted, an item lost)
fails the run after it reported, published and deleted its table; a slow drill's estimate passes the
threshold; the AWS calls the role must grant. The datums of the runs are recorded for the jest side, which
evaluates the stack's alarm on them."""

import json
import math
import random
import subprocess
import sys
import unittest

from botocore.utils import parse_timestamp

import support
from backup_replication import drill_report, job_args, restore_plan, retained, scan_copy, spark_segments, table_keys
from backup_replication.jobs import restore_drill
from backup_replication.transform import Transform

from test_verify import item, key, marked

TRANSFORM = '{"rename": {"amount": "total"}, "drop": ["blob"]}'
PIPELINE = "api-pagos-replication"
NAMESPACE = "DynamoDBReplication/" + PIPELINE


def alarm_datums(bodies):
    """PutMetricData bodies as __tests__/helpers/alarm-evaluation.ts's Datum (whatever protocol sent them:
    its timestamp a number, a datetime or ISO 8601 text)."""
    return [{"namespace": body["Namespace"], "metricName": datum["MetricName"],
             "dimensions": dict((d["Name"], d["Value"]) for d in datum["Dimensions"]),
             "timestamp": int(round(parse_timestamp(datum["Timestamp"]).timestamp() * 1000)), "value": datum["Value"]}
            for body in bodies for datum in body["MetricData"]]


def refused(operation, code):
    """A hook (support.FlakyDynamoDB's `before`) that answers every call with the error `code`, unsent."""
    def refuse(kwargs, number):
        raise support.throttle_error(operation, code)
    return refuse


class RestoreDrillTest(support.RecordedClients, support.OnDynamoDbLocal, support.TablePairTestCase):
    def setUp(self):
        super(RestoreDrillTest, self).setUp()
        self.reports = support.unique("restore-drill") + "/"
        self.before = {}       # DynamoDB hooks by method (support.FlakyDynamoDB's `before`)
        self.at_delete = []    # the drill's table as the drill was about to delete it: (description, items)
        recorded = support.aws_clients.dynamodb_client

        def hooked(region=None):
            proxy = recorded(region)
            proxy.before.update(self.before)
            return proxy

        support.aws_clients.dynamodb_client = hooked
        self.before["delete_table"] = lambda kwargs, _: self.at_delete.append(
            (self.client.describe_table(TableName=kwargs["TableName"])["Table"], self.table(kwargs["TableName"])))

    def drill(self, *extra, **kwargs):
        argv = ["restore_drill.py", "--JOB_RUN_ID", "jr_drill", "--backup_table", self.backup, "--report_bucket",
                self.bucket, "--report_prefix", self.reports, "--metrics_namespace", NAMESPACE,
                "--metrics_pipeline", PIPELINE] + list(extra)
        run = support.run_main_failing if kwargs.get("fails") else support.run_main
        with support.LocalCloudWatch() as cloudwatch:
            outcome, code, out, err = run(restore_drill.main, argv, spark_context=support.FakeSparkContext(2),
                                          retry=support.fast_retry(), rng=random.Random(kwargs.get("seed", 7)))
        self.assertEqual(code, 0, err)
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[]] * len(cloudwatch.requests))
        return outcome, support.json_lines(out), cloudwatch.put_metric_data()

    def table(self, name):
        return dict((k, support.comparable(v)) for k, v in support.scan_all(self.client, name, self.schema).items())

    def stored_report(self, url):
        bucket, name = url[len("s3://"):].split("/", 1)
        return json.loads(self.s3.get_object(Bucket=bucket, Key=name)["Body"].read())

    def expected(self, total, segments, transform="{}", include_retained=False):
        """What restore makes of the backup's items in those segments of `total`: {key id: item}."""
        plan = restore_plan.RestorePlan(Transform.parse(transform), retained.DEFAULT_ATTRIBUTE, include_retained)
        result = {}
        for segment in segments:
            response = self.client.scan(**scan_copy.segment_scan(self.backup, segment, total))
            self.assertNotIn("LastEvaluatedKey", response)
            for backup_item in response["Items"]:
                restored = plan.item(backup_item)[1]
                if restored is not None:
                    result[table_keys.key_id(table_keys.extract_key(restored, self.schema))] = support.comparable(restored)
        return result

    def drill_tables(self):
        return [name for name in self.client.list_tables()["TableNames"]
                if name.startswith(self.backup + job_args.RESTORE_DRILL_INFIX)]

    def test_a_sample_restored_as_restore_would_is_checked_measured_reported_and_its_table_deleted(self):
        forward = Transform.parse(TRANSFORM)
        support.put_items(self.client, self.backup, [forward.apply(item(i)) for i in range(240)], self.schema)
        support.put_items(self.client, self.backup, [forward.apply(marked(i)) for i in range(300, 330)], self.schema)
        before = self.table(self.backup)
        report, log, bodies = self.drill("--scan_segments", "8", "--sample_fraction", "0.5", "--transform", TRANSFORM)
        _, chosen = spark_segments.sampled_segments(8, 0.5, True, random.Random(7))
        table = self.backup + "-restore-drill-jr_drill"
        expected = self.expected(8, chosen, TRANSFORM)
        self.assertTrue(20 < len(expected) < 220, len(expected))
        # The table held exactly what restore writes into a new table: renames undone, the dropped attribute
        # absent, retained items left out; on demand, with the backup's key schema. Then it was deleted.
        ((description, held),) = self.at_delete
        self.assertEqual(held, expected)
        self.assertEqual(description["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(table_keys.describe_key_schema({"Table": description}), self.schema)
        self.assertEqual(self.drill_tables(), [])
        self.assertEqual(self.table(self.backup), before)  # never written
        # The report: what was restored, the check, the estimate and its arithmetic, the table's fate.
        self.assertTrue(report["passed"])
        stored = self.stored_report(report["report"])
        self.assertEqual(stored, json.loads(json.dumps(dict((k, v) for k, v in report.items() if k != "report"))))
        self.assertTrue(report["report"].endswith("-jr_drill.json"))
        self.assertEqual(report["drill_table"], {"name": table, "created": True, "deleted": True, "existed": True})
        self.assertEqual(report["segments"], {"total": 8, "restored": 4, "sample_fraction": 0.5})
        restored = report["restore"]
        self.assertEqual(restored["items_restored"], len(expected))
        self.assertEqual(restored["counts"]["written"] + restored["counts"]["retained_skipped"], restored["items_read"])
        check = report["check"]
        self.assertEqual((check["items_compared"], check["table_items"], check["expected_items"]), (len(expected),) * 3)
        self.assertEqual((check["mismatches"], check["counts"]["match"], check["count_matches"]), (0, len(expected), True))
        estimate = report["estimate"]
        self.assertEqual(estimate["backup_item_count"], 270)
        rate = restored["items_restored"] / restored["copy_seconds"]
        self.assertAlmostEqual(estimate["items_per_second"], rate, delta=rate * 0.01)
        self.assertAlmostEqual(estimate["seconds"], restored["create_seconds"] + 270 / rate, delta=0.2)
        self.assertIn("items / ", estimate["arithmetic"])
        self.assertFalse(estimate["exceeds_max"])
        self.assertEqual(report["transform_notes"][0], "dropped by the transform, not in the backup, not restored: blob")
        events = [e["event"] for e in log]
        self.assertEqual(events, ["restore_drill_start", "restore_transform_not_invertible", "restore_drill_table_created",
                                  "restore_drill_restored", "restore_drill_table_deleted", "restore_drill_done"])
        # The metrics: one PutMetricData in the stack's namespace, names and units as contracts/metrics.ts.
        (body,) = bodies
        self.assertEqual(body["Namespace"], NAMESPACE)
        values = dict((d["MetricName"], (d["Value"], d["Unit"])) for d in body["MetricData"])
        self.assertEqual(values, {
            drill_report.DURATION: (restored["seconds"], "Seconds"),
            drill_report.ITEMS_RESTORED: (float(len(expected)), "Count"),
            drill_report.ITEMS_PER_SECOND: (estimate["items_per_second"], "Count/Second"),
            drill_report.ESTIMATED_FULL_RESTORE_TIME: (estimate["seconds"], "Seconds"),
            drill_report.MISMATCHES: (0.0, "Count"),
        })
        self.assertTrue(all(d["Dimensions"] == [{"Name": "Pipeline", "Value": PIPELINE}] for d in body["MetricData"]))
        used = self.used()
        self.assertEqual(used, {
            ("describe_table", self.backup), ("scan", self.backup), ("create_table", table), ("describe_table", table),
            ("put_item", table), ("batch_get_item", table), ("scan", table), ("delete_table", table),
            ("put_object", self.bucket)})
        support.record_iam_surface("restore-drill", used, {self.backup: "backup", table: "restore-drill-table",
                                                           self.bucket: "restore-drill-reports"})

    def test_a_mismatch_fails_the_run_after_it_reported_published_and_deleted_its_table(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(120)], self.schema)
        support.put_items(self.client, self.backup, [marked(i) for i in (200, 201)], self.schema)
        lost = []

        def corrupt(kwargs, _):  # one write lands with another amount
            if kwargs["Item"]["id"] == key(5)["id"]:
                kwargs["Item"] = dict(kwargs["Item"], amount={"N": "-1"})

        def lose(kwargs, _):  # an item vanishes from the drill's table before the read-back sees it
            (table, request), = kwargs["RequestItems"].items()
            if not lost:
                lost.append([k for k in request["Keys"] if k != key(5)][-1])
                self.client.delete_item(TableName=table, Key=lost[0])

        self.before.update(put_item=corrupt, batch_get_item=lose)
        error, log, bodies = self.drill("--scan_segments", "4", "--sample_fraction", "1", "--include_retained", "true",
                                        fails=True)
        self.assertIsInstance(error, restore_drill.RestoreDrillFailed)
        self.assertIn("2 item(s) restored did not match the backup (missing 1, different 1", str(error))
        self.assertEqual(self.drill_tables(), [])  # deleted all the same
        self.assertEqual(len(self.at_delete), 1)
        (done,) = [e for e in log if e["event"] == "restore_drill_done"]
        report = self.stored_report(done["report"])
        self.assertIn(done["report"], str(error))
        self.assertFalse(report["passed"])
        self.assertEqual(report["drill_table"]["deleted"], True)
        check = report["check"]
        self.assertEqual((check["counts"]["missing"], check["counts"]["different"], check["counts"]["match"]), (1, 1, 120))
        self.assertEqual((check["expected_items"], check["table_items"], check["unexpected_items"]), (122, 121, 0))
        self.assertEqual(check["sample_keys"]["missing"], lost)
        self.assertEqual(len(check["sample_keys"]["different"]), 1)
        self.assertEqual(report["restore"]["counts"]["written"], 122)  # retained items too, with --include_retained
        values = dict((d["MetricName"], d["Value"]) for body in bodies for d in body["MetricData"])
        self.assertEqual(values[drill_report.MISMATCHES], 2.0)
        support.record_result("restore-drill-mismatch-metrics", alarm_datums(bodies))

    def test_a_slow_drill_estimates_past_the_threshold_and_says_so(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(300)], self.schema)
        report, _, bodies = self.drill("--scan_segments", "30", "--sample_fraction", "0.034", "--max_items_per_second",
                                       "2", "--max_restore_minutes", "1")
        self.assertEqual(report["segments"]["restored"], 1)
        estimate = report["estimate"]
        self.assertGreater(report["restore"]["items_restored"], 3)
        self.assertLess(estimate["items_per_second"], 4)
        self.assertGreater(estimate["seconds"], 60)
        self.assertTrue(estimate["exceeds_max"])
        self.assertTrue(report["passed"])  # slow is the alarm's to say; the restore itself was right
        values = dict((d["MetricName"], d["Value"]) for body in bodies for d in body["MetricData"])
        self.assertEqual(values[drill_report.ESTIMATED_FULL_RESTORE_TIME], estimate["seconds"])
        support.record_result("restore-drill-slow-metrics", alarm_datums(bodies))

    def test_an_empty_sample_gives_no_estimate_and_an_empty_backup_a_trivial_one(self):
        support.put_items(self.client, self.backup, [item(1)], self.schema)
        report, _, bodies = self.drill("--scan_segments", "64", "--sample_fraction", "0.016", seed=1)
        if report["restore"]["items_read"]:  # the one segment sampled held the item: the other seed's
            report, _, bodies = self.drill("--scan_segments", "64", "--sample_fraction", "0.016", seed=2)
        self.assertEqual((report["restore"]["items_restored"], report["estimate"]["seconds"]), (0, None))
        self.assertIn("no rate to estimate from", report["estimate"]["arithmetic"])
        names = [d["MetricName"] for body in bodies for d in body["MetricData"]]
        self.assertNotIn(drill_report.ESTIMATED_FULL_RESTORE_TIME, names)
        self.client.delete_item(TableName=self.backup, Key=key(1))
        report, _, _ = self.drill("--scan_segments", "2")
        self.assertAlmostEqual(report["estimate"]["seconds"], report["estimate"]["create_seconds"], delta=0.051)
        self.assertEqual(self.drill_tables(), [])

    def test_a_run_that_breaks_off_still_deletes_its_table_and_reports_how_far_it_got(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(30)], self.schema)
        self.before["scan"] = refused("Scan", "ValidationException")
        error, log, bodies = self.drill("--scan_segments", "2", "--sample_fraction", "1", fails=True)
        self.assertIn("ValidationException", str(error))
        self.assertEqual(self.drill_tables(), [])
        (done,) = [e for e in log if e["event"] == "restore_drill_done"]
        report = self.stored_report(done["report"])
        self.assertEqual((report["passed"], report["drill_table"]["created"], report["drill_table"]["deleted"]),
                         (False, True, True))
        self.assertIn("ValidationException", report["error"])
        self.assertEqual(bodies, [])  # nothing measured: nothing published

    def test_a_table_it_cannot_delete_fails_the_run_naming_the_table(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(10)], self.schema)
        self.before["delete_table"] = refused("DeleteTable", "AccessDeniedException")
        error, log, _ = self.drill("--scan_segments", "2", "--sample_fraction", "1", fails=True)
        table = self.backup + "-restore-drill-jr_drill"
        self.assertIn("its table %s was left behind: delete it (aws dynamodb delete-table --table-name %s)"
                      % (table, table), str(error))
        (left,) = [e for e in log if e["event"] == "restore_drill_table_left"]
        self.assertEqual(left["table"], table)
        self.assertEqual(self.drill_tables(), [table])
        self.client.delete_table(TableName=table)

    def test_the_entry_point_runs_as_a_process_and_a_bad_argument_exits_2(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(20)], self.schema)
        script = support.os.path.join(support.HERE, "local_spark_job.py")
        common = [sys.executable, script, "restore_drill", "--backup_table", self.backup, "--report_bucket", self.bucket,
                  "--report_prefix", self.reports, "--scan_segments", "2"]
        ran = subprocess.run(common + ["--sample_fraction", "1"], capture_output=True, text=True, timeout=120)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        done = [line for line in support.json_lines(ran.stdout) if line["event"] == "restore_drill_done"][0]
        self.assertTrue(done["passed"])
        self.assertTrue(done["drill_table"]["name"].startswith(self.backup + "-restore-drill-manual-"))
        self.assertEqual(self.drill_tables(), [])
        bad = subprocess.run(common + ["--sample_fraction", "0"], capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("restore-drill: error: --sample_fraction must be > 0", bad.stderr)


class RestoreDrillArgumentsTest(unittest.TestCase):
    def test_the_table_is_named_after_the_backup_and_the_run_within_dynamodbs_limit(self):
        self.assertEqual(job_args.restore_drill_table("api-pos-backup", "jr_1"), "api-pos-backup-restore-drill-jr_1")
        with self.assertRaises(job_args.ArgumentError) as raised:
            job_args.restore_drill_table("b" * 200, "jr_" + "0" * 64)
        self.assertIn("longer than DynamoDB's 255 characters", str(raised.exception))

    def test_the_estimate_is_the_creation_plus_the_items_at_the_measured_rate(self):
        described = {"Table": {"ItemCount": 1000000}}
        estimate = drill_report.estimate(described, 5000, 12.0, 10.0, 60)
        self.assertEqual((estimate["items_per_second"], estimate["seconds"], estimate["minutes"]), (500.0, 2012.0, 33.5))
        self.assertEqual(estimate["arithmetic"], "12.0 s to create the table + 1000000 items / 500.0 items/s = 2012.0 s = "
                                                 "33.5 min")
        self.assertFalse(estimate["exceeds_max"])
        self.assertTrue(drill_report.estimate(described, 5000, 12.0, 10.0, 33)["exceeds_max"])
        self.assertTrue(math.isclose(drill_report.estimate(described, 1, 0, 1.5, 1)["seconds"], 1500000))


if __name__ == "__main__":
    unittest.main()
