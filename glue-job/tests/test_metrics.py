"""lib/metrics.py against the local CloudWatch stand-in (support.LocalCloudWatch), which checks each
PutMetricData request against botocore's own CloudWatch service model, here in the query protocol the
boto3 of Glue's Python shell speaks; not against a mock of boto3."""

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import unittest

import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

import support
from backup_replication import drill_report, job_args, metrics

MODEL = Loader().load_service_model("cloudwatch", "service-2")
SHAPES = MODEL["shapes"]
CONTRACT = os.path.join(support.GLUE_JOB, "..", "contracts", "metrics.ts")


_QUERY_MODELS = []


def query_protocol_client(endpoint):
    """A CloudWatch client speaking the query protocol, like the older boto3 of Glue's Python shell (a
    newer botocore prefers another of the protocols the model lists): the same model, with only its
    protocol list narrowed, found first by the session's loader."""
    if not _QUERY_MODELS:
        directory = tempfile.mkdtemp(prefix="cloudwatch-query-model-")
        model = json.loads(json.dumps(MODEL))
        model["metadata"]["protocol"] = "query"
        model["metadata"]["protocols"] = ["query"]
        target = os.path.join(directory, "cloudwatch", MODEL["metadata"]["apiVersion"])
        os.makedirs(target)
        with open(os.path.join(target, "service-2.json"), "w") as handle:
            json.dump(model, handle)
        _QUERY_MODELS.append(directory)
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, _QUERY_MODELS[0])
    return session.create_client("cloudwatch", region_name="us-east-1", endpoint_url=endpoint,
                                 aws_access_key_id="test", aws_secret_access_key="test",
                                 config=Config(retries={"total_max_attempts": 1}))


def tearDownModule():
    for directory in _QUERY_MODELS:
        shutil.rmtree(directory, ignore_errors=True)


class Clock(object):
    def __init__(self, now=1767225600.0):  # 2026-01-01T00:00:00Z
        self.now = now

    def __call__(self):
        return self.now


def datums(cloudwatch):
    return [datum for request in cloudwatch.requests for datum in request["body"]["MetricData"]]


class ApplyMetricsTest(unittest.TestCase):
    def test_a_pass_and_the_run_end_are_valid_put_metric_data_with_the_contract_names(self):
        with support.LocalCloudWatch() as cloudwatch:
            clock = Clock()
            publisher = metrics.ApplyMetrics(query_protocol_client(cloudwatch.endpoint), "DynamoDBReplication/p", {"Pipeline": "p"}, clock)
            publisher.pass_started(3, 120.5)
            clock.now += 30
            publisher.keys_written([1.5, 4.0])
            publisher.keys_written([2.5])
            publisher.pass_done(10, 2, 1)
            publisher.pass_started(0, None)
            publisher.pass_done(0, 0, 0)  # nothing written: no latency datum
            publisher.run_finished()
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[], [], []])
        self.assertEqual({r["body"]["Namespace"] for r in cloudwatch.requests}, {"DynamoDBReplication/p"})
        sent = datums(cloudwatch)
        for datum in sent:
            self.assertEqual(datum["Dimensions"], [{"Name": "Pipeline", "Value": "p"}])
            self.assertEqual(datum["Unit"], metrics.UNITS[datum["MetricName"]])
        simple = [(d["MetricName"], d.get("Value"), d["Timestamp"][:19]) for d in sent if "StatisticValues" not in d]
        self.assertEqual(simple, [
            ("ManifestsPending", 3.0, "2026-01-01T00:00:00"), ("OldestPendingManifestAge", 120.5, "2026-01-01T00:00:00"),
            ("ItemsApplied", 10.0, "2026-01-01T00:00:30"), ("RetainedWrites", 2.0, "2026-01-01T00:00:30"),
            ("QuarantinedItems", 1.0, "2026-01-01T00:00:30"),
            ("ManifestsPending", 0.0, "2026-01-01T00:00:30"), ("OldestPendingManifestAge", 0.0, "2026-01-01T00:00:30"),
            ("ItemsApplied", 0.0, "2026-01-01T00:00:30"), ("RetainedWrites", 0.0, "2026-01-01T00:00:30"),
            ("QuarantinedItems", 0.0, "2026-01-01T00:00:30"), ("ApplyRunsFinished", 1.0, "2026-01-01T00:00:30"),
        ])
        latency = [d for d in sent if "StatisticValues" in d]
        self.assertEqual([(d["MetricName"], d["StatisticValues"]) for d in latency],
                         [("ReplicationLatency", {"SampleCount": 3.0, "Sum": 8.0, "Minimum": 1.5, "Maximum": 4.0})])
        self.assertEqual((publisher.published, publisher.failed), (len(sent), 0))

    def test_requests_stay_within_a_thousand_metrics_and_the_payload_limit(self):
        with support.LocalCloudWatch() as cloudwatch:
            publisher = metrics.ApplyMetrics(query_protocol_client(cloudwatch.endpoint), "DynamoDBReplication/p", {"Pipeline": "p"}, Clock())
            for _ in range(1250):
                publisher.pass_started(1, 1)
            publisher.flush()
        self.assertEqual([len(r["body"]["MetricData"]) for r in cloudwatch.requests], [1000, 1000, 500])
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[], [], []])
        self.assertTrue(all(r["bytes"] <= metrics.MAX_REQUEST_BYTES for r in cloudwatch.requests))
        # The byte bound splits too, and the estimate is never below what the query protocol sends.
        sample = metrics.ApplyMetrics(None, "n", {"Pipeline": "p"}, Clock())._datum("ItemsApplied", 0, 1)
        self.assertEqual([len(b) for b in metrics.batches([sample] * 10, max_bytes=3 * metrics.encoded_size(sample))], [3, 3, 3, 1])
        self.assertLessEqual(cloudwatch.requests[2]["plain_bytes"], 500 * metrics.encoded_size(publisher._datum("ManifestsPending", 0, 1)))

    def test_a_refused_or_unreachable_put_metric_data_is_logged_and_never_fails_the_run(self):
        with support.LocalCloudWatch() as cloudwatch:
            publisher = metrics.ApplyMetrics(query_protocol_client(cloudwatch.endpoint), "DynamoDBReplication/p", {"Pipeline": "p"}, Clock())
            cloudwatch.fail_next(403, "AccessDenied")
            with contextlib.redirect_stdout(io.StringIO()) as output:
                publisher.pass_started(1, 2)
                publisher.pass_done(1, 0, 0)
                publisher.run_finished()
        self.assertEqual((publisher.failed, publisher.published), (5, 1))
        events = [json.loads(line) for line in output.getvalue().splitlines()]
        self.assertEqual([(e["event"], e["datums"]) for e in events], [("metrics_not_published", 5)])
        self.assertIn("AccessDenied", events[0]["error"])
        unreachable = metrics.ApplyMetrics(query_protocol_client("http://127.0.0.1:9"), "n", {"Pipeline": "p"}, Clock())
        with contextlib.redirect_stdout(io.StringIO()):
            unreachable.run_finished()
        self.assertEqual(unreachable.failed, 1)

    def test_ages_from_epoch_seconds_or_s3_last_modified(self):
        from datetime import datetime, timezone

        now = 1767225600.0
        self.assertEqual(metrics.seconds_since(now - 42.5, now), 42.5)
        self.assertEqual(metrics.seconds_since(datetime(2025, 12, 31, 23, 59, 0, tzinfo=timezone.utc), now), 60.0)
        self.assertEqual(metrics.seconds_since(now + 3, now), 0.0)  # clock skew never gives a negative latency
        self.assertEqual(metrics.seconds_since(None, now), 0.0)

    def test_without_a_namespace_nothing_is_created_or_sent(self):
        def no_client():
            raise AssertionError("no client without a namespace")

        publisher = metrics.apply_metrics("", "p", no_client)
        publisher.pass_started(1, 2)
        publisher.keys_written([1.0])
        publisher.pass_done(1, 0, 0)
        publisher.run_finished()
        publisher.flush()
        self.assertIsInstance(publisher, metrics.NoMetrics)
        self.assertIsInstance(metrics.apply_metrics("n", "p", lambda: object()), metrics.ApplyMetrics)

    def test_names_and_units_are_the_stacks_contract(self):
        with open(CONTRACT) as handle:
            text = handle.read()
        block = re.search(r"export const APPLY_METRICS = \{(.*?)\} as const;", text, re.S).group(1)
        contract = dict(re.findall(r"^\s*(\w+): \"(\w+)\",", block, re.M))
        self.assertEqual(contract, metrics.UNITS)
        self.assertIn('export const APPLY_DIMENSION = "%s";' % metrics.DIMENSION, text)
        block = re.search(r"export const RESTORE_DRILL_METRICS = \{(.*?)\} as const;", text, re.S).group(1)
        self.assertEqual(dict(re.findall(r"^\s*(\w+): \"([\w/]+)\",", block, re.M)), drill_report.UNITS)
        # Every unit is one the service model accepts.
        units = set(metrics.UNITS.values()) | set(drill_report.UNITS.values())
        self.assertTrue(units <= set(SHAPES["StandardUnit"]["enum"]))


class MetricsArgumentsTest(unittest.TestCase):
    REQUIRED = ["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m"]

    def test_off_by_default_and_read_when_given(self):
        config = job_args.apply_changes_config(self.REQUIRED)
        self.assertEqual((config.metrics_namespace, config.metrics_pipeline), ("", ""))
        config = job_args.apply_changes_config(self.REQUIRED + ["--metrics_namespace", "DynamoDBReplication/p", "--metrics_pipeline", "p"])
        self.assertEqual((config.metrics_namespace, config.metrics_pipeline), ("DynamoDBReplication/p", "p"))

    def test_bad_namespace_or_missing_pipeline_is_refused(self):
        for extra, message in (
            (["--metrics_namespace", "AWS/Glue", "--metrics_pipeline", "p"], "--metrics_namespace must be"),
            (["--metrics_namespace", ":x", "--metrics_pipeline", "p"], "--metrics_namespace must be"),
            (["--metrics_namespace", "n"], "--metrics_pipeline is required"),
        ):
            with self.assertRaisesRegex(job_args.ArgumentError, message):
                job_args.apply_changes_config(self.REQUIRED + extra)


if __name__ == "__main__":
    unittest.main()
