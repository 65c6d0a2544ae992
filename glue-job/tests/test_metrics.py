"""lib/metrics.py against a local CloudWatch stand-in that checks each PutMetricData request against
botocore's own CloudWatch service model (the query protocol, which the boto3 of Glue's Python shell
speaks), not against a mock of boto3."""

import contextlib
import gzip
import io
import json
import os
import re
import shutil
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

import support  # noqa: F401  (puts lib/ on the path)
import job_args
import metrics

MODEL = Loader().load_service_model("cloudwatch", "service-2")
SHAPES = MODEL["shapes"]
CONTRACT = os.path.join(support.GLUE_JOB, "..", "functions", "metrics-contract.ts")


class ModelValidator(object):
    """Decodes a query-protocol body into the operation's input structure, using the service model's
    shapes, and lists every way it breaks the model: unknown parameters, missing required members,
    strings outside their length, pattern or enum, lists outside their length, bad numbers."""

    def __init__(self, params):
        self.params = params
        # Every key and every dotted prefix of one, so that presence is one look-up.
        self.prefixes = set()
        for name in params:
            parts = name.split(".")
            self.prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
        self.used = set()
        self.problems = []

    def decode(self, shape_name, prefix):
        shape = SHAPES[shape_name]
        kind = shape["type"]
        if kind == "structure":
            value = {}
            for member, spec in shape.get("members", {}).items():
                key = prefix + "." + member if prefix else member
                if self._present(key):
                    value[member] = self.decode(spec["shape"], key)
            for member in shape.get("required", []):
                if member not in value:
                    self.problems.append("%s: required member %s missing" % (prefix or shape_name, member))
            return value
        if kind == "list":
            items = []
            index = 1
            while self._present("%s.member.%d" % (prefix, index)):
                items.append(self.decode(shape["member"]["shape"], "%s.member.%d" % (prefix, index)))
                index += 1
            self._length(prefix, len(items), shape)
            return items
        raw = self.params.get(prefix)
        if raw is None:
            self.problems.append("%s: expected a %s value" % (prefix, kind))
            return None
        self.used.add(prefix)
        if kind == "string":
            self._length(prefix, len(raw), shape)
            if "enum" in shape and raw not in shape["enum"]:
                self.problems.append("%s: %r is not one of %s" % (prefix, raw, shape["enum"]))
            if "pattern" in shape and not re.match(shape["pattern"], raw):
                self.problems.append("%s: %r does not match %s" % (prefix, raw, shape["pattern"]))
            return raw
        if kind in ("double", "integer", "long"):
            try:
                return float(raw) if kind == "double" else int(raw)
            except ValueError:
                self.problems.append("%s: %r is not a %s" % (prefix, raw, kind))
                return None
        if kind == "timestamp":
            if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", raw):
                self.problems.append("%s: %r is not an ISO 8601 timestamp" % (prefix, raw))
            return raw
        if kind == "boolean":
            if raw not in ("true", "false"):
                self.problems.append("%s: %r is not a boolean" % (prefix, raw))
            return raw == "true"
        self.problems.append("%s: unexpected shape type %s" % (prefix, kind))
        return raw

    def _present(self, key):
        return key in self.prefixes

    def _length(self, where, length, shape):
        if length < shape.get("min", 0) or ("max" in shape and length > shape["max"]):
            self.problems.append("%s: length %d outside %s..%s" % (where, length, shape.get("min", 0), shape.get("max", "")))

    def unknown(self):
        return sorted(set(self.params) - self.used - {"Action", "Version"})


class LocalCloudWatch(object):
    """Stands in for CloudWatch's PutMetricData: the query protocol on POST / (form-encoded Action,
    Version and parameters), SigV4 for the signing name `monitoring`, the input checked against the
    service model; a valid request gets the PutMetricDataResponse XML, an invalid one a 400
    InvalidParameterValue (its problems are kept in `requests`). fail_next() scripts errors."""

    def __init__(self):
        self.requests = []
        self._failures = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # botocore gzips large PutMetricData bodies (the operation's requestcompression trait).
                sent = len(data)
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                owner._answer(self, data.decode("utf-8"), sent)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status, code):
        self._failures.append((status, code))

    def _answer(self, handler, body, sent):
        problems = []
        if handler.path != "/":
            problems.append("path %s is not /" % handler.path)
        if not handler.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            problems.append("content type %s is not form-encoded" % handler.headers.get("Content-Type"))
        if "/monitoring/aws4_request" not in handler.headers.get("Authorization", ""):
            problems.append("not signed with SigV4 for monitoring")
        params = dict(parse_qsl(body, keep_blank_values=True))
        if params.get("Action") != "PutMetricData":
            problems.append("action %r is not PutMetricData" % params.get("Action"))
        if params.get("Version") != MODEL["metadata"]["apiVersion"]:
            problems.append("version %r is not %s" % (params.get("Version"), MODEL["metadata"]["apiVersion"]))
        validator = ModelValidator(params)
        decoded = validator.decode(MODEL["operations"]["PutMetricData"]["input"]["shape"], "")
        problems.extend(validator.problems)
        problems.extend("unknown parameter %s" % name for name in validator.unknown())
        # The documented request limits (PutMetricData, CloudWatch API Reference).
        if len(decoded.get("MetricData", [])) > 1000:
            problems.append("%d metrics in one request (at most 1000)" % len(decoded["MetricData"]))
        if sent > 1024 * 1024:
            problems.append("request body of %d bytes (at most 1 MB)" % sent)
        self.requests.append({"input": decoded, "problems": problems, "bytes": sent, "plain_bytes": len(body.encode("utf-8"))})
        if problems:
            return self._reply(handler, 400, self._error("InvalidParameterValue", "; ".join(problems)))
        if self._failures:
            status, code = self._failures.pop(0)
            return self._reply(handler, status, self._error(code, "scripted failure"))
        self._reply(handler, 200, '<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">'
                                  "<ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></PutMetricDataResponse>")

    @staticmethod
    def _error(code, message):
        return ('<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type>'
                "<Code>%s</Code><Message>%s</Message></Error><RequestId>local</RequestId></ErrorResponse>" % (code, message))

    @staticmethod
    def _reply(handler, status, text):
        data = text.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


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
    return [datum for request in cloudwatch.requests for datum in request["input"]["MetricData"]]


class ApplyMetricsTest(unittest.TestCase):
    def test_a_pass_and_the_run_end_are_valid_put_metric_data_with_the_contract_names(self):
        with LocalCloudWatch() as cloudwatch:
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
        self.assertEqual({r["input"]["Namespace"] for r in cloudwatch.requests}, {"DynamoDBReplication/p"})
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
        with LocalCloudWatch() as cloudwatch:
            publisher = metrics.ApplyMetrics(query_protocol_client(cloudwatch.endpoint), "DynamoDBReplication/p", {"Pipeline": "p"}, Clock())
            for _ in range(1250):
                publisher.pass_started(1, 1)
            publisher.flush()
        self.assertEqual([len(r["input"]["MetricData"]) for r in cloudwatch.requests], [1000, 1000, 500])
        self.assertEqual([r["problems"] for r in cloudwatch.requests], [[], [], []])
        self.assertTrue(all(r["bytes"] <= metrics.MAX_REQUEST_BYTES for r in cloudwatch.requests))
        # The byte bound splits too, and the estimate is never below what the query protocol sends.
        sample = metrics.ApplyMetrics(None, "n", {"Pipeline": "p"}, Clock())._datum("ItemsApplied", 0, 1)
        self.assertEqual([len(b) for b in metrics.batches([sample] * 10, max_bytes=3 * metrics.encoded_size(sample))], [3, 3, 3, 1])
        self.assertLessEqual(cloudwatch.requests[2]["plain_bytes"], 500 * metrics.encoded_size(publisher._datum("ManifestsPending", 0, 1)))

    def test_a_refused_or_unreachable_put_metric_data_is_logged_and_never_fails_the_run(self):
        with LocalCloudWatch() as cloudwatch:
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
        # Every unit is one the service model accepts.
        self.assertTrue(set(metrics.UNITS.values()) <= set(SHAPES["StandardUnit"]["enum"]))


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
