"""apply-changes spread over Spark executors (spark_apply.py), run through local_spark.ProcessSparkContext:
each partition in a worker process of its own, against dynalite and s3rver. The same checks as the
single-process apply (test_apply.py): every key exact, manifests deleted only once their keys are done,
remainders for what was not, whatever the tasks do (fail, die, run out of time, run twice at once).
"""

import os
import threading
import unittest
import zlib

import local_spark
import support
import test_apply
from backup_replication import apply, aws_clients, spark_apply, table_keys
from backup_replication.jobs import apply_changes
from test_apply import item, key


class FlakyClientFactory(object):
    """Builds, on the executor, a DynamoDB client that fails as told (support.FlakyDynamoDB); picklable.

    crash_on: {method: N} the N-th call of the method in that worker process fails, as `how` says:
    "request" (a request failing for good: RuntimeError, which the chunk reports), "raise" (an error no
    `except Exception` catches escapes the task: support.HardCrash) or "exit" (the process dies: an
    executor lost mid-partition). once_marker: a file path; only the first failure to create the file
    happens (so the retried task goes through)."""

    def __init__(self, crash_on, how, once_marker=None):
        self.crash_on = dict(crash_on)
        self.how = how
        self.once_marker = once_marker

    def __call__(self):
        return support.FlakyDynamoDB(aws_clients.dynamodb_client(),
                                     before=dict((method, _FailAt(self, n)) for method, n in self.crash_on.items()))

    def fail(self, message):
        if self.once_marker is not None:
            try:
                os.close(os.open(self.once_marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return  # it failed once already, in this or another worker
        if self.how == "exit":
            os._exit(17)
        raise support.HardCrash(message) if self.how == "raise" else RuntimeError(message)


class _FailAt(object):
    def __init__(self, factory, number):
        self.factory = factory
        self.number = number

    def __call__(self, _kwargs, number):
        if number == self.number:
            self.factory.fail("injected crash in call %d" % number)


class SparkApplyTestCase(test_apply.ApplyTestCase):
    PROCESSES = 2

    @classmethod
    def setUpClass(cls):
        super(SparkApplyTestCase, cls).setUpClass()
        cls.sc = local_spark.ProcessSparkContext(cls.PROCESSES)

    @classmethod
    def tearDownClass(cls):
        cls.sc.stop()
        super(SparkApplyTestCase, cls).tearDownClass()

    def spread(self, replicator=None, factory=None, sc=None, max_tasks=4, keys_per_task=5, **kwargs):
        writer = spark_apply.WriterSpec.of(replicator or self.replicator(), None, factory)
        return spark_apply.SparkSpread(sc or self.sc, writer, max_tasks, keys_per_task, **kwargs)

    def run_spread(self, spread=None, settings=None, **kwargs):
        return self.run_apply(settings=settings, spread=spread or self.spread(), **kwargs)


class SparkApplyTest(SparkApplyTestCase):
    def test_partitions_hold_each_key_once_by_its_crc32_and_grow_with_the_pass(self):
        spread = self.spread(max_tasks=4, keys_per_task=10)
        keys = [(table_keys.key_id(key(i)), key(i)) for i in range(35)]
        partitions = spread.partitions(keys, {})
        self.assertEqual(len(partitions), 4)  # ceil(35 / 10), at most max_tasks
        seen = [kid for _, entries in partitions for kid, _, _ in entries]
        self.assertEqual(sorted(seen), sorted(kid for kid, _ in keys))
        for number, entries in partitions:
            for kid, _, _ in entries:
                self.assertEqual(zlib.crc32(kid.encode("utf-8")) % 4, number)
        self.assertEqual(len(spread.partitions(keys[:3], {})), 1)  # a small pass asks for one task
        self.assertEqual(len(self.spread(max_tasks=2, keys_per_task=1).partitions(keys, {})), 2)

    def test_changes_retained_deletes_and_mirror_over_worker_processes(self):
        """220 keys in overlapping manifests: modified, inserted, deleted with their last state (retained)
        or without one; every key exact, in 4 tasks of up to 50 keys each."""
        self.seed(150)
        support.put_items(self.client, self.source, [item(i, 2) for i in range(0, 200, 3)], self.schema)
        gone = list(range(1, 150, 7))
        for i in gone:
            self.client.delete_item(TableName=self.source, Key=key(i))
        removed = [(key(i), str(1000 + i), item(i, 1)) for i in gone[::2]]  # the others: no last state known
        self.put_manifests([[key(i) for i in range(start, start + 60)] for start in range(0, 200, 40)])
        support.put_manifest(self.s3, self.bucket, self.prefix, [], removed=removed)
        jobs_before = len(self.sc.jobs)
        result, _ = self.run_spread(self.spread(keys_per_task=50))
        self.assertEqual((self.manifests_left(), result.keys), ([], 220))  # 200-219 never existed: no item
        self.assertEqual(self.sc.jobs[jobs_before]["tasks"], 4)
        expected = self.source_items()
        for i in gone:
            expected[table_keys.key_id(key(i))] = item(i)  # no last state: left as it was
        for entry_key, sequence, image in removed:
            expected[table_keys.key_id(entry_key)] = test_apply.with_marker(image, sequence)
        self.assertEqual(self.backup_items(), expected)

        self.put_manifests([[key(i) for i in gone]])
        mirror = self.replicator(delete_policy="mirror")
        self.run_spread(self.spread(mirror), replicator=mirror)
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual(self.manifests_left(), [])

    def test_a_task_raising_or_dying_mid_partition_is_run_again_and_the_pass_completes(self):
        for how in ("raise", "exit"):
            with self.subTest(how=how):
                self.setUp()
                self.seed(20)
                support.put_items(self.client, self.source, [item(i, 5) for i in range(20)], self.schema)
                self.put_manifests([[key(i) for i in range(20)]])
                marker = os.path.join(support.scratch_dir(), support.unique("once"))
                factory = FlakyClientFactory({"put_item": 3}, how, once_marker=marker)
                jobs_before = len(self.sc.jobs)
                result, _ = self.run_spread(self.spread(factory=factory, keys_per_chunk=2))
                self.assertEqual(self.backup_items(), self.source_items())
                self.assertEqual(self.manifests_left(), [])
                self.assertEqual(result.keys, 20)
                job = self.sc.jobs[jobs_before]
                self.assertEqual(job["attempts"], job["tasks"] + 1)  # one task ran twice
                self.assertIn("worker process died" if how == "exit" else "injected crash", job["failures"][0])

    def test_a_task_failing_for_good_leaves_every_key_in_a_remainder_and_a_rerun_converges(self):
        for how in ("raise", "exit"):
            with self.subTest(how=how):
                self.setUp()
                self.check_failed_pass(FlakyClientFactory({"put_item": 2}, how), local_spark.SparkJobFailed)

    def test_a_request_failing_for_good_fails_the_run_after_the_remainder_as_in_one_process(self):
        self.check_failed_pass(FlakyClientFactory({"put_item": 2}, "request"), spark_apply.SpreadFailed)

    def check_failed_pass(self, factory, error):
        """A pass whose keys could not all be synced: the run fails; every manifest it read is replaced by one
        remainder holding the keys not done (all of them when Spark gave up on a task); a rerun converges."""
        self.seed(20)
        support.put_items(self.client, self.source, [item(i, 6) for i in range(20)], self.schema)
        names = self.put_manifests([[key(i) for i in range(10)], [key(i) for i in range(10, 20)]])
        with local_spark.ProcessSparkContext(2, max_failures=2) as sc:
            with self.assertRaises(error):
                self.run_spread(self.spread(factory=factory, sc=sc, keys_per_chunk=2))
        left = self.manifests_left()
        self.assertEqual(len(left), 1)  # one remainder replaced both manifests
        self.assertNotIn(left[0], names)
        carried = support.manifest_keys(self.s3, self.bucket, left[0])
        if error is local_spark.SparkJobFailed:
            self.assertEqual(sorted(carried), sorted(table_keys.key_id(key(i)) for i in range(20)))
        else:
            self.assertTrue(0 < len(carried) < 20, carried)
        result, _ = self.run_spread()
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(result.keys, len(carried))

    def test_tasks_stop_at_the_deadline_and_leave_the_rest_in_a_remainder(self):
        self.seed(30)
        support.put_items(self.client, self.source, [item(i, 7) for i in range(30)], self.schema)
        self.put_manifests([[key(i) for i in range(30)]])
        spread = self.spread(keys_per_chunk=1, chunk_workers=1, deadline=lambda _seconds: StopAfterChunks(2))
        result, log = self.run_spread(spread)
        self.assertTrue(result.stopped_by_budget)
        self.assertEqual(result.keys, 2 * 4)  # each of the 4 tasks did 2 chunks of 1 key
        left = self.manifests_left()
        self.assertEqual(len(left), 1)
        self.assertEqual(len(support.manifest_keys(self.s3, self.bucket, left[0])), 30 - 8)
        self.assertEqual(log.named("remainder_written")[0]["reason"], "time budget spent")
        self.run_spread()
        self.assertEqual(self.backup_items(), self.source_items())

    def test_two_spread_runs_at_once_then_one_more_leave_the_same_backup(self):
        self.seed(40)
        support.put_items(self.client, self.source, [item(i, 9) for i in range(40)], self.schema)
        for i in range(30, 40):
            self.client.delete_item(TableName=self.source, Key=key(i))
        self.put_manifests([[key(j) for j in range(i, i + 5)] for i in range(0, 40, 5)])
        errors = []
        contexts = [local_spark.ProcessSparkContext(2) for _ in range(2)]

        def run(sc):
            try:
                self.run_spread(self.spread(sc=sc), settings=self.settings(max_manifests_per_pass=2))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(sc,)) for sc in contexts]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for sc in contexts:
                sc.stop()
        self.assertEqual(errors, [])
        self.run_spread()
        expected = self.source_items()
        for i in range(30, 40):
            expected[table_keys.key_id(key(i))] = item(i)  # no removed entries: the backup's state stays
        self.assertEqual(self.backup_items(), expected)
        self.assertEqual(self.manifests_left(), [])

    def test_an_unwritable_key_on_an_executor_is_quarantined_by_the_driver(self):
        self.seed(3)
        too_large = {"id": key(4)["id"], "payload": {"S": "p" * (400 * 1024 - 200)}}
        self.client.put_item(TableName=self.source, Item=too_large)
        self.put_manifests([[key(0), key(1), key(4)]])
        rename = "a_much_longer_attribute_name_" * 8
        replicator = self.replicator(transform=test_apply.Transform({"payload": rename}))
        result, log = self.run_spread(self.spread(replicator), replicator=replicator)
        self.assertEqual(list(result.quarantined), [table_keys.key_id(key(4))])
        self.assertEqual(self.manifests_left(), [])
        self.assertEqual(len(log.named("key_quarantined")), 1)
        with self.assertRaises(apply.KeysQuarantined):
            apply.check_failures(result, log=support.LogCapture())

    def test_the_job_runs_spread_with_spark_true(self):
        self.seed(12)
        support.put_items(self.client, self.source, [item(i, 4) for i in range(12)], self.schema)
        self.put_manifests([[key(i) for i in range(12)]])
        argv = test_apply.ApplyEntryPointTest.argv(self, "--delete_policy", "retain", "--spark", "true",
                                         "--max_tasks", "3", "--keys_per_task", "4")
        jobs_before = len(self.sc.jobs)
        result, code, _, err = support.run_main(apply_changes.main, argv, spark_context=self.sc)
        self.assertEqual(code, 0, err)
        self.assertEqual(result.keys, 12)
        self.assertEqual(self.sc.jobs[jobs_before]["tasks"], 3)
        self.assertEqual(self.backup_items(), self.source_items())


class ProcessSparkContextTest(unittest.TestCase):
    def test_a_worker_that_dies_is_reported_with_its_exit_code(self):
        # The pipe's end of file can come before the process can be waited for: the code must not be lost
        # (it is what tells a crash the test injected from any other death).
        with local_spark.ProcessSparkContext(2, max_failures=1) as sc:
            for _ in range(4):
                with self.assertRaises(local_spark.SparkJobFailed) as caught:
                    sc.parallelize([23], 1).mapPartitions(_exit_with).collect()
                self.assertIn("worker process died (exit code 23)", str(caught.exception))


def _exit_with(codes):
    os._exit(next(iter(codes)))


class RemoteHookTest(unittest.TestCase):
    def test_a_worker_runs_the_test_process_closures_and_gets_their_errors_as_text(self):
        hooks = support.HookServer()
        seen = []

        def record(value):
            seen.append((value, os.getpid()))
            if value == "boom":
                raise ValueError("refused %s" % value)
            return value.upper()

        hook = hooks.register(record)
        try:
            with local_spark.ProcessSparkContext(1, max_failures=1) as sc:
                self.assertEqual(sc.parallelize(["a", "b"], 2).mapPartitions(_CallEach(hook)).collect(), ["A", "B"])
                with self.assertRaises(local_spark.SparkJobFailed) as caught:
                    sc.parallelize(["boom"], 1).mapPartitions(_CallEach(hook)).collect()
            self.assertIn("RemoteHookFailed: ValueError: refused boom", str(caught.exception))
            self.assertEqual(seen, [("a", os.getpid()), ("b", os.getpid()), ("boom", os.getpid())])
            self.assertEqual(len(hooks.errors), 1)
            self.assertIn("ValueError: refused boom", hooks.errors[0])
            hooks.release([hook])
            with self.assertRaises(support.RemoteHookFailed):  # a released hook no longer runs
                hook("c")
            self.assertEqual((len(seen), len(hooks.errors)), (3, 1))
        finally:
            hooks.close()


class _CallEach(object):
    def __init__(self, hook):
        self.hook = hook

    def __call__(self, values):
        return [self.hook(value) for value in values]


class StopAfterChunks(object):
    """A task deadline (spark_apply.Deadline's start()) that passes once `chunks` chunks have started."""

    def __init__(self, chunks):
        self.chunks = chunks

    def start(self):
        asked = [0]

        def out_of_time():
            asked[0] += 1
            return asked[0] > self.chunks
        return out_of_time


if __name__ == "__main__":
    unittest.main()
