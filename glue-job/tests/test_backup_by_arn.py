"""A backup in another account and region, named by its ARN (`--backup_table arn:aws:dynamodb:eu-west-1:
222222222222:table/<name>`) while `--region` is us-east-1: every job through its real entry point
(apply-changes under retain and mirror, in one process and spread; full-copy; verify with repair;
restore; the restore drill) reads and writes the backup by its ARN, in the backup's region, and
everything else (the source, restore targets, the drill's table) by name in us-east-1. And
BatchGetItem / BatchWriteItem answers keyed by the table's name or by the ARN the request used are read
alike.

Against AWS's DynamoDB Local, which runs with -sharedDb -inMemory: it takes a table ARN as TableName (and
as a RequestItems key) and ignores the ARN's account and region, finding the table by its name in its
one database; it answers BatchGetItem keyed by the plain name. So the server cannot tell a request sent
to the wrong region: what proves the routing is the region each request was signed for (the SigV4
credential scope), which a recording proxy between the jobs and DynamoDB Local keeps for every request
(SigningRecorder), with the operation and the tables it named. dynalite refuses an ARN as a table name.
"""

import json
import re
import threading
import time
import unittest
from http.client import HTTPConnection
from urllib.parse import urlsplit

import support
from backup_replication import aws_clients, ddb_batch, item_writer, job_args, retained, table_keys
from backup_replication.jobs import apply_changes, full_copy, restore, restore_drill, verify

from test_verify import item, key, marked

HOME = "us-east-1"
AWAY = "eu-west-1"
ACCOUNT = "222222222222"
_SCOPE = re.compile(r"Credential=[^/]+/[0-9]{8}/([^/]+)/dynamodb/aws4_request")


def arn_of(name, region=AWAY):
    return "arn:aws:dynamodb:%s:%s:table/%s" % (region, ACCOUNT, name)


class SigningRecorder(support._StandIn):
    """Forwards every DynamoDB request to `upstream` unchanged and keeps (signing region, operation, tables
    named) of each in `requests`. As a context manager it is AWS_ENDPOINT_URL_DYNAMODB while open."""

    ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
    PASSED_BACK = ("Content-Type", "x-amz-crc32", "x-amzn-RequestId")

    def __init__(self, upstream):
        self.upstream = urlsplit(upstream)
        self.requests = []
        # {operation: seconds}: how long the recorder holds each such request before forwarding it, so
        # that the requests a job keeps in flight at once show in `most_in_flight`.
        self.held = {}
        self.in_flight = {}
        self.most_in_flight = {}  # {(signing region, operation): the most at once}
        self._lock = threading.Lock()
        self._serve()

    def _respond(self, path, headers, raw):
        scope = _SCOPE.search(headers.get("Authorization", ""))
        body = json.loads(raw or b"{}")
        tables = sorted(body["RequestItems"]) if "RequestItems" in body else [body.get("TableName")]
        operation = headers.get("X-Amz-Target", "").split(".")[-1]
        kind = (scope.group(1) if scope else None, operation)
        with self._lock:
            self.requests.append(kind + (tables,))
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
            self.most_in_flight[kind] = max(self.most_in_flight.get(kind, 0), self.in_flight[kind])
        try:
            time.sleep(self.held.get(operation, 0))
            return self._forward(path, headers, raw)
        finally:
            with self._lock:
                self.in_flight[kind] -= 1

    def _forward(self, path, headers, raw):
        connection = HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.request("POST", path, raw, dict((name, value) for name, value in headers.items()
                                                       if name.lower() not in ("host", "content-length", "connection")))
            response = connection.getresponse()
            return (response.status, dict((name, response.getheader(name)) for name in self.PASSED_BACK
                                          if response.getheader(name) is not None), response.read())
        finally:
            connection.close()


class BackupByArnTest(support.OnDynamoDbLocal, support.TablePairTestCase):
    def setUp(self):
        super(BackupByArnTest, self).setUp()
        self.arn = arn_of(self.backup)
        self.recorder = SigningRecorder(support.dynamodb_local_endpoint())
        self.recorder.__enter__()
        self.addCleanup(self.recorder.close)

    def table(self, name):
        return dict((k, support.comparable(v)) for k, v in support.scan_all(self.client, name, self.schema).items())

    def assert_routed(self, backup_operations, home_tables=None):
        """Every request naming the backup named it by ARN alone and was signed for its region; every other
        one for the job's; the backup was called with `backup_operations` (at least); `home_tables`: the
        tables the other requests named (the source, by default)."""
        requests = list(self.recorder.requests)
        self.assertTrue(requests)
        away = [r for r in requests if r[2] == [self.arn]]
        home = [r for r in requests if r[2] != [self.arn]]
        self.assertEqual(sorted(set(region for region, _, _ in away)), [AWAY])
        self.assertEqual(sorted(set(region for region, _, _ in home)), [HOME])
        self.assertTrue(set(backup_operations) <= set(operation for _, operation, _ in away),
                        sorted(set(operation for _, operation, _ in away)))
        named = set(table for _, _, tables in home for table in tables)
        self.assertEqual(named, set(home_tables or [self.source]))

    def seed(self, count):
        items = [item(i) for i in range(count)]
        support.put_items(self.client, self.source, items, self.schema)
        support.put_items(self.client, self.backup, items, self.schema)

    def test_apply_changes_writes_the_backup_by_arn_in_its_region_under_retain_and_mirror_in_one_process_and_spread(self):
        for policy, spread in (("retain", False), ("mirror", False), ("retain", True)):
            with self.subTest(policy=policy, spread=spread):
                if policy != "retain" or spread:
                    self.setUp()
                support.put_items(self.client, self.source, [item(i, 1) for i in range(30)], self.schema)
                self.client.put_item(TableName=self.backup, Item=item(40))  # deleted from the source since
                prefix = support.unique("changes") + "/"
                support.put_manifest(self.s3, self.bucket, prefix, [key(i) for i in range(30)])
                support.put_manifest(self.s3, self.bucket, prefix, [], removed=[(key(40), "7", item(40))])
                argv = ["apply_changes.py", "--JOB_RUN_ID", "jr_arn", "--source_table", self.source, "--backup_table",
                        self.arn, "--region", HOME, "--delete_policy", policy, "--manifest_bucket", self.bucket,
                        "--manifest_prefix", prefix, "--rejected_prefix", "rejected-" + prefix,
                        "--quarantine_prefix", "quarantine-" + prefix]
                if spread:
                    argv += ["--spark", "true", "--max_tasks", "2", "--keys_per_task", "10"]
                result, code, _, err = support.run_main(apply_changes.main, argv, retry=support.fast_retry(),
                                                        spark_context=support.FakeSparkContext(2))
                self.assertEqual((code, result.keys), (0, 31), err)
                expected = dict((table_keys.key_id(key(i)), support.comparable(item(i, 1))) for i in range(30))
                if policy == "retain":
                    expected[table_keys.key_id(key(40))] = support.comparable(
                        dict(item(40), **{retained.DEFAULT_ATTRIBUTE: retained.marker(7)}))
                self.assertEqual(self.table(self.backup), expected)
                self.assertEqual(support.list_keys(self.s3, self.bucket, prefix), [])
                self.assert_routed(["PutItem"] if policy == "retain" else ["BatchWriteItem"])

    def test_full_copy_copies_and_prunes_the_backup_by_arn_in_its_region(self):
        support.put_items(self.client, self.source, [item(i) for i in range(40)], self.schema)
        support.put_items(self.client, self.backup, [item(i) for i in range(100, 105)], self.schema)  # extra
        _, code, _, err = support.run_main(full_copy.main, [
            "full_copy.py", "--source_table", self.source, "--backup_table", self.arn, "--region", HOME,
            "--delete_policy", "mirror", "--mirror_deletes", "true", "--scan_segments", "3"],
            spark_context=support.FakeSparkContext(2))
        self.assertEqual(code, 0, err)
        self.assertEqual(self.table(self.backup), self.table(self.source))
        self.assert_routed(["DescribeTable", "BatchWriteItem", "Scan"])

    def test_full_copy_keeps_more_writes_in_flight_to_a_backup_in_another_region(self):
        """Each write waits a round trip: in another region 70 ms instead of a few, so full-copy's writer keeps
        50 writes of such a backup in flight (item_writer.REMOTE_WORKERS), the job's 8 in its own region
        (by name or by an ARN of that region). The recorder holds every PutItem 0.2 s so that the writes in
        flight at once show; one segment, so one writer."""
        self.assertLessEqual(item_writer.REMOTE_WORKERS, aws_clients.dynamodb_config().max_pool_connections)
        support.put_items(self.client, self.source, [item(i) for i in range(100)], self.schema)
        self.recorder.held["PutItem"] = 0.2
        near, far = (1, item_writer.DEFAULT_WORKERS), (item_writer.DEFAULT_WORKERS + 1, item_writer.REMOTE_WORKERS)
        # `--region ""` is the SDK's default region (AWS_REGION: HOME here): an ARN of it is the job's own.
        rounds = ((self.arn, AWAY, HOME, far), (arn_of(self.backup, HOME), HOME, HOME, near),
                  (self.backup, HOME, HOME, near), (arn_of(self.backup, HOME), HOME, "", near))
        for backup, region, job_region, most in rounds:
            with self.subTest(backup=backup, job_region=job_region):
                # Each round copies into an empty backup.
                for k in support.scan_all(self.client, self.backup, self.schema).values():
                    self.client.delete_item(TableName=self.backup, Key=table_keys.extract_key(k, self.schema))
                self.recorder.most_in_flight.clear()
                _, code, _, err = support.run_main(full_copy.main, [
                    "full_copy.py", "--source_table", self.source, "--backup_table", backup, "--region", job_region,
                    "--scan_segments", "1"], spark_context=support.FakeSparkContext(1))
                self.assertEqual(code, 0, err)
                self.assertEqual(self.table(self.backup), self.table(self.source))
                at_once = self.recorder.most_in_flight.get((region, "PutItem"), 0)
                self.assertTrue(most[0] <= at_once <= most[1],
                                "%d PutItems at once, not %d to %d" % ((at_once,) + most))

    def test_verify_reads_and_repairs_the_backup_by_arn_in_its_region(self):
        self.seed(30)
        self.client.delete_item(TableName=self.backup, Key=key(1))               # missing
        self.client.put_item(TableName=self.backup, Item=item(2, 9))             # different
        self.client.put_item(TableName=self.backup, Item=item(100))              # extra
        self.client.put_item(TableName=self.backup, Item=marked(200))            # retained
        report, code, _, err = support.run_main(verify.main, [
            "verify.py", "--JOB_RUN_ID", "jr_arn", "--source_table", self.source, "--backup_table", self.arn,
            "--region", HOME, "--report_bucket", self.bucket, "--report_prefix", support.unique("verify") + "/",
            "--settle_seconds", "0", "--scan_segments", "2", "--repair", "true"],
            spark_context=support.FakeSparkContext(2), retry=support.fast_retry())
        self.assertEqual(code, 0, err)
        counts = report["counts"]
        self.assertEqual([counts[c] for c in ("missing", "different", "extra", "retained")], [1, 1, 1, 1])
        self.assertEqual(report["backup_table"], self.arn)
        backup = self.table(self.backup)
        for i in range(30):
            self.assertEqual(backup[table_keys.key_id(key(i))], support.comparable(item(i)))
        self.assert_routed(["DescribeTable", "Scan", "BatchGetItem", "PutItem"])

    def test_restore_reads_the_backup_by_arn_in_its_region_and_writes_a_target_named_after_its_name_here(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(25)] + [marked(50)], self.schema)
        target = self.backup + "-restore-arn"
        argv = ["restore.py", "--JOB_RUN_ID", "jr_arn", "--backup_table", self.arn, "--target_table", target,
                "--source_table", self.source, "--region", HOME, "--report_bucket", self.bucket,
                "--report_prefix", support.unique("restore") + "/", "--scan_segments", "2"]
        _, code, _, err = support.run_main(restore.main, [self.backup if a == target else a for a in argv],
                                           spark_context=support.FakeSparkContext(2))
        self.assertEqual(code, 2)
        self.assertIn("is the backup's name (%s)" % self.backup, err)  # by name, whatever the ARN's account
        report, code, _, err = support.run_main(restore.main, argv + ["--create_target", "true"],
                                                spark_context=support.FakeSparkContext(2), retry=support.fast_retry())
        self.assertEqual(code, 0, err)
        self.assertEqual((report["counts"]["written"], report["counts"]["retained_skipped"]), (25, 1))
        self.assertEqual(self.table(target), dict((table_keys.key_id(key(i)), support.comparable(item(i)))
                                                  for i in range(25)))
        self.assert_routed(["DescribeTable", "Scan"], home_tables=[target])
        self.assertIn((HOME, "CreateTable", [target]), self.recorder.requests)

    def test_the_restore_drill_reads_the_backup_by_arn_in_its_region_and_makes_its_table_here(self):
        support.put_items(self.client, self.backup, [item(i) for i in range(40)], self.schema)
        argv = ["restore_drill.py", "--JOB_RUN_ID", "jr_arn", "--backup_table", self.arn, "--region", HOME,
                "--report_bucket", self.bucket, "--report_prefix", support.unique("restore-drill") + "/",
                "--scan_segments", "4", "--sample_fraction", "1"]
        report, code, _, err = support.run_main(restore_drill.main, argv, spark_context=support.FakeSparkContext(2),
                                                retry=support.fast_retry())
        self.assertEqual(code, 0, err)
        drill = self.backup + job_args.RESTORE_DRILL_INFIX + "jr_arn"
        self.assertTrue(report["passed"], report)
        self.assertEqual(report["drill_table"], {"name": drill, "created": True, "deleted": True, "existed": True})
        self.assertEqual((report["restore"]["items_restored"], report["check"]["mismatches"]), (40, 0))
        self.assertNotIn(drill, self.client.list_tables()["TableNames"])
        self.assert_routed(["DescribeTable", "Scan"], home_tables=[drill])
        self.assertIn((HOME, "DeleteTable", [drill]), self.recorder.requests)


class KeyedBy(object):
    """A thin wrapper around a real client that re-keys BatchGetItem / BatchWriteItem answers (Responses,
    UnprocessedKeys, UnprocessedItems) by the table name or ARN the request used, whatever the server did."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if name not in ("batch_get_item", "batch_write_item"):
            return method

        def call(**kwargs):
            (asked,) = kwargs["RequestItems"]
            response = method(**kwargs)
            for part in ("Responses", "UnprocessedKeys", "UnprocessedItems"):
                if response.get(part):
                    (answered,) = response[part].values()
                    response[part] = {asked: answered}
            return response
        return call


class BatchAnswersTest(support.OnDynamoDbLocal, unittest.TestCase):
    """ddb_batch reads a batch answer keyed by the table's name (as DynamoDB Local answers) or by the ARN
    the request used (the wrapper), unprocessed entries included (support.FlakyDynamoDB's partial answers:
    the rest keyed as requested), and refuses one keyed by another table."""

    def setUp(self):
        self.client = support.ddb()
        self.name = support.create_table(self.client, "arnbatch")
        self.arn = arn_of(self.name)
        self.schema = support.schema_of(self.client, self.name)

    def write_and_read(self, client):
        stats = ddb_batch.Stats()
        proxy = support.FlakyDynamoDB(client, partial={"batch_write_item": 2, "batch_get_item": 2})
        ddb_batch.batch_write(proxy, self.arn, [ddb_batch.put_request(item(i)) for i in range(60)], self.schema, stats,
                              support.fast_retry())
        found = ddb_batch.batch_get(proxy, self.arn, [key(i) for i in range(70)], self.schema, stats,
                                    support.fast_retry())
        self.assertEqual(sorted(found), sorted(table_keys.key_id(key(i)) for i in range(60)))
        self.assertGreater(stats.retries, 0)  # the partial answers' rest was read and sent again
        return proxy

    def test_answers_keyed_by_the_name_as_dynamodb_local_gives_them(self):
        answered = []
        self.client.client_for({"TableName": self.arn}).meta.events.register(
            "after-call.dynamodb.BatchGetItem", lambda parsed=None, **_: answered.append(sorted(parsed["Responses"])))
        self.write_and_read(self.client)
        self.assertEqual(set(map(tuple, answered)), {(self.name,)})

    def test_answers_keyed_by_the_arn_the_request_used(self):
        proxy = self.write_and_read(KeyedBy(self.client))
        self.assertEqual(set(name for _, kwargs in proxy.calls for name in kwargs["RequestItems"]), {self.arn})

    def test_an_answer_keyed_by_another_table_is_refused_not_read_as_empty(self):
        class Elsewhere(object):
            def batch_get_item(self, RequestItems):
                return {"Responses": {"other-table": []}, "UnprocessedKeys": {}}

            def batch_write_item(self, RequestItems):
                return {"UnprocessedItems": {"other-table": list(RequestItems.values())[0]}}

        with self.assertRaisesRegex(ddb_batch.ReplicationError, "Responses .* keyed by other-table"):
            ddb_batch.batch_get(Elsewhere(), self.arn, [key(1)], self.schema, ddb_batch.Stats(), support.fast_retry())
        with self.assertRaisesRegex(ddb_batch.ReplicationError, "UnprocessedItems .* keyed by other-table"):
            ddb_batch.batch_write(Elsewhere(), self.arn, [ddb_batch.put_request(item(1))], self.schema,
                                  ddb_batch.Stats(), support.fast_retry())


class RegionalClientTest(support.OnDynamoDbLocal, unittest.TestCase):
    def test_one_request_may_not_name_tables_of_two_regions_and_the_rest_is_the_default_clients(self):
        name = support.create_table(support.ddb(), "regional")
        with SigningRecorder(support.dynamodb_local_endpoint()) as recorder:
            client = aws_clients.dynamodb_client(HOME)
            client.get_waiter("table_exists").wait(TableName=arn_of(name), WaiterConfig={"Delay": 1, "MaxAttempts": 2})
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
        self.assertEqual(recorder.requests, [(AWAY, "DescribeTable", [arn_of(name)]), (HOME, "DescribeTable", [name])])
        with self.assertRaisesRegex(ValueError, "tables of two regions"):
            client.batch_get_item(RequestItems={name: {"Keys": [key(1)]}, arn_of(name): {"Keys": [key(1)]}})
        # An ARN of the job's own region is its own client's, as a plain name is.
        same = {name: {"Keys": [key(1)]}, arn_of(name, HOME): {"Keys": [key(2)]}}
        self.assertEqual(client.client_for({"RequestItems": same}), client.client_for({"TableName": name}))
        self.assertEqual(client.client_for({"TableName": arn_of(name)}).meta.region_name, AWAY)
        self.assertEqual(client.meta.region_name, HOME)
        self.assertIs(client.exceptions, client.client_for({}).exceptions)


if __name__ == "__main__":
    unittest.main()
