"""apply-changes spread over Spark executors (spark_apply.py), run through local_spark.ProcessSparkContext:
each partition in a worker process of its own, against dynalite and s3rver. The same checks as the
single-process apply (test_apply.py): every key exact, manifests deleted only once their keys are done,
remainders for what was not, whatever the tasks do (fail, die, run out of time, run twice at once).
"""

import os
import pickle
import threading
import time
import unittest
import zlib

import local_spark
import support
import test_apply
from backup_replication import apply, aws_clients, spark_apply, table_keys
from backup_replication.manifest_format import RemovedEntry
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


class StallFirstAttempt(object):
    """On the executor: the first attempt of a task holds its first PutItem until `release` exists, then
    dies at its verification read (an attempt given up for lost that still writes, then is gone)."""

    def __init__(self, release):
        self.release = release
        self.put = False

    def __call__(self):
        return support.FlakyDynamoDB(aws_clients.dynamodb_client(),
                                     before={"put_item": self.hold, "batch_get_item": self.die_after_put})

    def hold(self, _kwargs, _number):
        if spark_apply.attempt_number() == 0:
            while not os.path.exists(self.release):
                time.sleep(0.05)
            self.put = True

    def die_after_put(self, _kwargs, _number):
        if spark_apply.attempt_number() == 0 and self.put:
            os._exit(19)


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

    def test_a_task_raising_or_dying_mid_partition_is_run_again_and_its_keys_synced_once_more_next_run(self):
        for how in ("raise", "exit"):
            with self.subTest(how=how):
                self.setUp()
                self.seed(20)
                support.put_items(self.client, self.source, [item(i, 5) for i in range(20)], self.schema)
                self.put_manifests([[key(i) for i in range(20)]])
                marker = os.path.join(support.scratch_dir(), support.unique("once"))
                factory = FlakyClientFactory({"put_item": 3}, how, once_marker=marker)
                jobs_before = len(self.sc.jobs)
                result, log = self.run_spread(self.spread(factory=factory, keys_per_chunk=2))
                self.assertEqual(self.backup_items(), self.source_items())
                job = self.sc.jobs[jobs_before]
                self.assertEqual(job["attempts"], job["tasks"] + 1)  # one task ran twice
                self.assertIn("worker process died" if how == "exit" else "injected crash", job["failures"][0])
                # The keys of the task that ran twice: applied, yet held for the next run (an attempt given
                # up for lost may still be writing); the other tasks' keys are done.
                held = log.named("keys_synced_again_next_run")[0]["keys"]
                self.assertEqual((result.keys, result.carried_keys), (20 - held, held))
                self.assertEqual(len(support.manifest_keys(self.s3, self.bucket, self.manifests_left()[0])), held)
                self.run_spread()
                self.assertEqual(self.manifests_left(), [])

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
        result, code, out, err = support.run_main(apply_changes.main, argv, spark_context=self.sc)
        self.assertEqual(code, 0, err)
        self.assertEqual(result.keys, 12)
        self.assertEqual(self.sc.jobs[jobs_before]["tasks"], 3)
        self.assertEqual(self.backup_items(), self.source_items())
        spread = [e for e in support.json_lines(out) if e["event"] == "apply_spread"]
        self.assertEqual(spread[0]["max_pass_keys"], apply.DEFAULT_MAX_PASS_KEYS)  # 3 tasks x 4 keys: the default
        _, _, out, _ = support.run_main(apply_changes.main, argv[:-4] + ["--max_tasks", "396"],
                                        spark_context=support.FakeSparkContext(2))
        spread = [e for e in support.json_lines(out) if e["event"] == "apply_spread"]
        self.assertEqual(spread[0]["max_pass_keys"], 396000)  # as much as 100 workers take at once


class SparkApplySafetyTest(SparkApplyTestCase):
    def test_an_attempt_given_up_for_lost_cannot_leave_an_older_state_once_its_run_is_over(self):
        """Run 1: the first attempt of the task holding key 0 hangs in its PutItem (state S1) and is given up
        for lost; the second attempt syncs S1. Then, still in run 1, the source changes to S2 and its manifest
        comes in. Then the left-over attempt's PutItem of S1 lands and it dies before verifying. The keys of a
        task that ran twice are held for the next run (never written again by run 1), so run 2, on a new
        cluster, brings S2. Counting them as done would delete S1's manifest and leave S1 behind S2 for good."""
        self.seed(1)
        support.put_items(self.client, self.source, [item(0, 1)], self.schema)
        self.put_manifests([[key(0)]])
        release = os.path.join(support.scratch_dir(), support.unique("release"))

        def meanwhile(_kwargs, number):  # run 1's second listing: S2 and its manifest arrive
            if number == 2:
                support.put_items(self.client, self.source, [item(0, 2)], self.schema)
                self.put_manifests([[key(0)]])

        s3 = support.FlakyDynamoDB(self.s3, before={"list_objects_v2": meanwhile})
        with local_spark.ProcessSparkContext(2, lost_after=lambda _task, attempt: 1.0 if attempt == 0 else None) as sc:
            result, log = self.run_spread(self.spread(factory=StallFirstAttempt(release), sc=sc),
                                          settings=self.settings(max_manifests_per_pass=1), s3=s3)
            self.assertEqual(len(log.named("keys_synced_again_next_run")), 1)
            self.assertEqual(result.carried_keys, 2)  # key 0 in each pass's remainder, untried by pass 2
            open(release, "w").close()  # the left-over attempt's PutItem of S1 lands now, after S2 arrived
            left_over = sc._left_over[0].process
            left_over.join(30)
            self.assertEqual(left_over.exitcode, 19)
            self.assertEqual(self.backup_items()[table_keys.key_id(key(0))], item(0, 1))  # S1, for now
        self.run_spread()  # run 2
        self.assertEqual(self.backup_items(), self.source_items())
        self.assertEqual(self.manifests_left(), [])

    def test_a_partition_stays_under_the_task_size_spark_accepts(self):
        """600 deleted keys with 300 KB last states (a 180 MB pass) are spread so that no task is over
        MAX_TASK_BYTES, each key in exactly one partition, more partitions than max_tasks if need be."""
        keys, removals = [], {}
        for i in range(600):
            kid = table_keys.key_id(key(i))
            keys.append((kid, key(i)))
            removals[kid] = RemovedEntry(key(i), 10 ** 20 + i, {"id": key(i)["id"], "payload": {"S": "x" * 300000}})
        partitions = self.spread(max_tasks=2, keys_per_task=1000).partitions(keys, removals)
        sizes = [len(pickle.dumps(p)) for p in partitions]
        self.assertLessEqual(max(sizes), spark_apply.MAX_TASK_BYTES)
        self.assertGreater(len(partitions), 5)
        self.assertEqual(sorted(kid for _, entries in partitions for kid, _, _ in entries), sorted(kid for kid, _ in keys))
        with local_spark.ProcessSparkContext(1, max_task_bytes=10 * 1024 * 1024) as sc:  # and the stand-in refuses more
            with self.assertRaisesRegex(local_spark.SparkJobFailed, "spark.rpc.message.maxSize"):
                sc.parallelize([partitions[0]], 1).mapPartitions(len).collect()

    def test_a_key_no_answer_accounts_for_stays_in_the_remainder(self):
        """The driver trusts no spread to answer for every key: what a replaced manifest still holds goes
        into the remainder; and a partition answering for other keys than it was given fails the pass."""
        self.seed(4)
        support.put_items(self.client, self.source, [item(i, 3) for i in range(4)], self.schema)
        self.put_manifests([[key(0), key(1)], [key(2), key(3)]])
        ids = dict((i, table_keys.key_id(key(i))) for i in range(4))

        class Lossy(object):
            def sync(self, keys, removals, seconds_left):
                # key 0 not started (budget); key 3 answered for by nobody
                return apply.SpreadResult([([k for k in keys if k[0] in (ids[1], ids[2])], None, None)],
                                          [k for k in keys if k[0] == ids[0]], True, {})
        self.run_apply(spread=Lossy())
        carried = [k for name in self.manifests_left() for k in support.manifest_keys(self.s3, self.bucket, name)]
        self.assertEqual(sorted(carried), sorted([ids[0], ids[3]]))
        partitions = [(0, [(ids[0], key(0), None), (ids[1], key(1), None)])]
        short = [{"partition": 0, "ended": [([ids[0]], [], {}, None)], "not_started": []}]
        with self.assertRaisesRegex(Exception, "answered for 1 keys, not the 2"):
            spark_apply._check_coverage(partitions, short)

    def test_a_pass_spark_cannot_run_is_cancelled_after_the_budget_and_fails_the_run(self):
        self.seed(2)
        self.put_manifests([[key(0), key(1)]])
        original = spark_apply.CANCEL_GRACE_SECONDS
        spark_apply.CANCEL_GRACE_SECONDS = 0.5
        release = os.path.join(support.scratch_dir(), support.unique("never"))  # never created: the task hangs
        try:
            with local_spark.ProcessSparkContext(1) as sc:
                with self.assertRaisesRegex(local_spark.SparkJobFailed, "cancelled"):
                    self.run_spread(self.spread(factory=StallFirstAttempt(release), sc=sc),
                                    settings=apply.ApplySettings(5))
        finally:
            spark_apply.CANCEL_GRACE_SECONDS = original
        left = self.manifests_left()
        self.assertEqual(len(left), 1)  # the remainder of both keys
        self.assertEqual(len(support.manifest_keys(self.s3, self.bucket, left[0])), 2)

    def test_speculative_execution_is_refused(self):
        with self.assertRaisesRegex(ValueError, "spark.speculation"):
            self.spread(sc=support.FakeSparkContext(2, {"spark.speculation": "true"}))


class SparkEntryPointTest(test_apply.ApplyTestCase):
    """The job with --spark true calls what the glueetl apply role grants: the driver's calls and the
    executors' (the partitions run in this process through support.FakeSparkContext, which pickles the
    task as Spark does, so the recording clients see every call)."""

    SURFACE = "apply-changes-spark-"
    test_calls_only_what_the_glue_role_grants = test_apply.ApplyEntryPointTest.test_calls_only_what_the_glue_role_grants
    used_by_a_run = test_apply.ApplyEntryPointTest.used_by_a_run
    argv = test_apply.ApplyEntryPointTest.argv

    def run_job(self, *extra):
        sc = support.FakeSparkContext(2)
        outcome = support.run_main_failing(apply_changes.main, self.argv(*extra, "--spark", "true", "--max_tasks", "3",
                                                                         "--keys_per_task", "1"), spark_context=sc)
        self.assertEqual(len(sc.shipped), 1)  # the one pass was spread (the hot key's remainder is held, not listed again)
        return outcome


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
