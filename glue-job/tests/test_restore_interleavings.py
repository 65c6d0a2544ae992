"""Randomized interleavings of restore-into-the-source and verify --repair racing the application and
apply-changes, on AWS's DynamoDB Local through the real entry points (restore.main, verify.main,
apply.run).

Each interleaving: a few keys live, change and are deleted in the source; the change-trigger is modelled
as the other interleaving tests do (stream records cut into batches, manifests written to S3 in batches)
and apply-changes drains them at random points. A mistake deletes some keys inside a time window. Then
either the restore runs into the source for that window or verify repairs the backup, and while it
runs, at its reads and writes, the application goes on (re-inserting and deleting the mistaken keys
among others) and the pipeline delivers and applies.

Checked:
- restore: every item it writes into the source is the state deleted by a deletion inside the window,
  and that deletion is still the key's last one when the write lands (nothing deleted on purpose comes
  back, no older state replaces a newer one). The one window no check can see is counted, not failed:
  a deliberate deletion whose stream record had not reached S3 when the restore checked the key
  (restore_guard.py, the README's runbook).
- repair: once verify ends, every backup item's content is the state apply-changes last wrote for it
  or a state the source held since verify started (a marker alone never changes content); after the
  final drain the backup is exact.

The same interleavings run again with each apply-changes run's engine a random choice: its own threads,
or its keys spread over worker processes (spark_apply.SparkSpread on local_spark.ProcessSparkContext).

RESTORE_FUZZ_SEED and RESTORE_FUZZ_INTERLEAVINGS override the seed and the count (RESTORE_FUZZ_SPREAD_INTERLEAVINGS
that of the mixed ones); both are printed.
"""

import os
import random
import time
import unittest

import support
from backup_replication import (apply, ddb_batch, manifest_format, manifest_store, replicate, restore_guard, retained,
                                table_keys)
from backup_replication.jobs import restore, verify
from backup_replication.transform import Transform

SEED = int(os.environ.get("RESTORE_FUZZ_SEED") or 20261205)
INTERLEAVINGS = int(os.environ.get("RESTORE_FUZZ_INTERLEAVINGS") or 40)
SPREAD_INTERLEAVINGS = int(os.environ.get("RESTORE_FUZZ_SPREAD_INTERLEAVINGS") or 10)
KEYS = 5
R = retained.DEFAULT_ATTRIBUTE
BASE = 1764620000  # epoch seconds of the simulated history (before the test's real time)


class Recorder(support.FlakyDynamoDB):
    """The job's client: runs the race hook before reads and writes, and logs the restore's successful
    writes into the source."""

    def __init__(self, client, world):
        support.FlakyDynamoDB.__init__(self, client)
        self.world = world

    def __getattr__(self, name):
        method = support.FlakyDynamoDB.__getattr__(self, name)
        if name not in ("batch_get_item", "put_item", "update_item"):
            return method

        def raced(**kwargs):
            self.world.race(name, kwargs)
            response = method(**kwargs)
            if name == "put_item" and kwargs.get("TableName") == self.world.source:
                self.world.log.append(("restore_write", table_keys.key_id(table_keys.extract_key(
                    kwargs["Item"], self.world.schema)), kwargs["Item"]))
            if name in ("put_item", "update_item") and kwargs.get("TableName") == self.world.backup:
                self.world.repair_wrote(table_keys.key_id(table_keys.extract_key(
                    kwargs.get("Key") or kwargs["Item"], self.world.schema)))
            return response

        return raced


class World(object):
    def __init__(self, case, rng, number, spread_runs=None):
        self.case, self.rng, self.client, self.s3, self.bucket = case, rng, case.client, case.s3, case.bucket
        self.source, self.backup = support.create_table_pair(self.client)
        self.schema = case.schema
        # Half the apply-changes runs spread over worker processes, when given (support.SpreadRuns).
        self.spread_runs = spread_runs
        self.spread_applies = 0
        label = "%s%d-%d" % ("spread-" if spread_runs else "", SEED, number)
        self.changes = "rfuzz-%s/changes/" % label
        self.quarantine = "rfuzz-%s/quarantine/" % label
        self.keys = [{"id": {"S": "k%d" % j}} for j in range(KEYS)]
        self.current = dict((table_keys.key_id(k), None) for k in self.keys)
        self.sequence = rng.randrange(10 ** 20, 10 ** 21)
        self.when = BASE
        self.unbatched = []   # (sequence, key, event, old image, when, log index of the event)
        self.log = []         # ("put", kid, item) / ("delete", kid, old item, mistake?, index) / ("delivered", ...)
        self.delivered_at = {}  # log index of a deletion -> log length when its manifest reached S3
        self.mistake = False
        self.racing = False
        self.races = 0
        self.lost = None  # a key whose deletion the backup lost (repair cases)
        self.apply_wrote = {}  # key id -> the content apply-changes last wrote (races included)
        self.repairing = None  # while verify runs: (content held at its start, states the source held since)
        self.regressions = []

    # -- the application and the change-trigger ---------------------------------------------------

    def change(self, key=None, delete=None):
        key = key or self.rng.choice(self.keys)
        kid = table_keys.key_id(key)
        old = self.current[kid]
        self.sequence += self.rng.randrange(1, 10 ** 6)
        self.when += self.rng.randrange(1, 30)
        if old is not None and (delete if delete is not None else self.rng.random() < 0.45):
            self.client.delete_item(TableName=self.source, Key=key)
            self.current[kid] = None
            self.log.append(("delete", kid, old, self.mistake, len(self.log)))
            self.unbatched.append((self.sequence, key, "REMOVE", old, self.when, len(self.log) - 1))
            return
        new = {"id": key["id"], "v": {"S": str(self.sequence)}}
        self.client.put_item(TableName=self.source, Item=new)
        self.current[kid] = new
        self.log.append(("put", kid, new))
        self.unbatched.append((self.sequence, key, "MODIFY", old, self.when, None))

    def deliver(self, everything=False):
        """The change-trigger: a batch of stream records becomes one manifest in S3."""
        if not self.unbatched:
            return
        size = len(self.unbatched) if everything else self.rng.randint(1, len(self.unbatched))
        batch, self.unbatched = self.unbatched[:size], self.unbatched[size:]
        name, body, _, _ = support.batch_manifest(batch, order=manifest_format.order_from(batch[0][4], batch[0][0]))
        self.s3.put_object(Bucket=self.bucket, Key=self.changes + name, Body=body)
        for record in batch:
            if record[5] is not None:
                self.delivered_at[record[5]] = len(self.log)
        self.log.append(("delivered", None))

    def apply(self):
        before = self.backup_items()
        self._apply()
        after = self.backup_items()
        for kid, item in after.items():
            if item != before.get(kid):
                self.apply_wrote[kid] = _content(item)

    def _apply(self):
        replicator = replicate.Replicator(self.client, self.source, self.backup, self.schema, Transform(), "retain",
                                          ddb_batch.Stats(), support.fast_retry())
        store = manifest_store.ManifestStore(self.s3, self.bucket, self.changes, "rfuzz-rejected/", self.quarantine)
        settings = apply.ApplySettings(3600, max_manifests_per_pass=self.rng.randint(1, 4))
        if self.spread_runs is None or self.rng.random() < 0.5:
            apply.run(store, replicator, settings, self.schema, log=lambda *a, **k: None)
            return
        self.spread_applies += 1
        with self.spread_runs.spread(replicator, settings, max_tasks=self.rng.randint(1, 3),
                                     keys_per_task=self.rng.randint(1, 3)) as run:
            apply.run(store, replicator, settings, self.schema, log=lambda *a, **k: None, spread=run.spread)
        self.case.assertEqual(run.task_failures(), [])

    def repair_wrote(self, kid):
        """Right after a repair write lands (a later deletion's manifest would hide it): the key's content
        is what apply-changes last wrote (or what was there at the start), or a state the source held."""
        if self.repairing is None:
            return
        held, start = self.repairing
        content = _content(self.backup_items().get(kid, {}))
        states = [support.comparable(e[2]) for e in self.log[start:] if e[0] == "put"] + held["live"]
        newest = self.apply_wrote.get(kid, held["backup"].get(kid))
        if content and content != newest and content not in states:
            self.regressions.append((kid, content, newest))

    def backup_items(self):
        return dict((kid, support.comparable(item)) for kid, item in
                    support.scan_all(self.client, self.backup, self.schema).items())

    def race(self, call, kwargs):
        """At the job's reads and writes: the application and the pipeline go on."""
        if not self.racing or self.rng.random() < 0.4:
            return
        self.racing = False  # no race inside the race
        try:
            self.races += 1
            absent = [k for k in self.keys if self.current[table_keys.key_id(k)] is None]
            # Right before a write to the backup of the key whose deletion it lost (repair marking it), or at
            # random: the key is re-created, applied and deleted again, all in one race.
            marking = (call in ("put_item", "update_item") and kwargs.get("TableName") == self.backup
                       and self.lost is not None and kwargs.get("Key", kwargs.get("Item", {})).get("id") == self.lost["id"])
            if absent and (marking or self.rng.random() < 0.3):
                key = self.lost if self.lost in absent else self.rng.choice(absent)
                self.change(key)
                self.deliver(everything=True)
                self.apply()
                self.change(key, delete=True)
                return
            for _ in range(self.rng.randint(1, 3)):
                step = self.rng.random()
                if step < 0.5:
                    self.change()
                elif step < 0.8:
                    self.deliver()
                else:
                    self.apply()
        finally:
            self.racing = True

    # -- the history before the job ---------------------------------------------------------------

    def history(self):
        for _ in range(self.rng.randint(4, 10)):
            self.change()
            if self.rng.random() < 0.4:
                self.deliver()
            if self.rng.random() < 0.3:
                self.apply()
        for key in self.keys:  # every key lives before the mistake
            if self.current[table_keys.key_id(key)] is None:
                self.change(key)
        self.window = self.when + 1
        self.mistake = True
        for key in self.rng.sample(self.keys, self.rng.randint(1, KEYS - 1)):
            self.change(key, delete=True)
        self.mistake = False
        self.window_end = self.when + 1
        for _ in range(self.rng.randint(0, 4)):  # life goes on after the mistake (deliberate deletes too)
            self.change()
        self.deliver(everything=True)  # the gate's premise: what happened before the start is in S3


class RestoreInterleavingsTest(support.OnDynamoDbLocal, support.TablePairTestCase):
    spread_runs = None
    interleavings = INTERLEAVINGS

    def test_restore_and_repair_racing_the_application_and_apply_changes(self):
        rng = random.Random(SEED)
        totals = {"restore": 0, "repair": 0, "written": 0, "races": 0, "unseen_window": 0, "spread_applies": 0}
        original_client, original_refresh = support.aws_clients.dynamodb_client, restore_guard.Unrecorded.refresh
        for number in range(self.interleavings):
            world = World(self, random.Random(rng.getrandbits(64)), number, self.spread_runs)
            world.history()
            support.aws_clients.dynamodb_client = lambda region=None, w=world: Recorder(original_client(region), w)

            def refresh(unrecorded, w=world):
                w.log.append(("checked", None))
                return original_refresh(unrecorded)

            restore_guard.Unrecorded.refresh = refresh
            try:
                if world.rng.random() < 0.6:
                    self.restore_case(world, totals)
                else:
                    self.repair_case(world, totals)
            finally:
                support.aws_clients.dynamodb_client, restore_guard.Unrecorded.refresh = original_client, original_refresh
            totals["races"] += world.races
            totals["spread_applies"] += world.spread_applies
        spread = ", %d apply-changes runs spread over worker processes" % totals["spread_applies"] if self.spread_runs else ""
        print("\nrestore interleavings: %d (seed %d): %d restores writing %d items, %d repairs, %d races; "
              "%d writes inside the delivery lag no check can see%s" % (
                  self.interleavings, SEED, totals["restore"], totals["written"], totals["repair"], totals["races"],
                  totals["unseen_window"], spread))
        if self.spread_runs:
            self.assertGreater(totals["spread_applies"], 0)

    def restore_case(self, world, totals):
        totals["restore"] += 1
        if world.rng.random() < 0.7:
            world.apply()
        now = [time.time()]

        def sleep(seconds):  # apply-changes catches up while the restore waits
            world.apply()
            now[0] += seconds

        world.racing = True
        argv = ["restore.py", "--backup_table", world.backup, "--target_table", world.source, "--source_table",
                world.source, "--allowed_targets", '["%s"]' % world.source, "--allow_source_target", "true",
                "--report_bucket", self.bucket, "--report_prefix", "rfuzz-reports/", "--include_retained", "true",
                "--deleted_after", retained.deleted_at(world.window),
                "--deleted_before", retained.deleted_at(world.window_end), "--manifest_bucket", self.bucket,
                "--manifest_prefix", world.changes, "--quarantine_prefix", world.quarantine, "--rejected_prefix",
                "rfuzz-rejected/", "--delivery_seconds", "0", "--catch_up_seconds", "60", "--poll_seconds", "10",
                "--scan_segments", str(world.rng.randint(1, 3))]
        report, code, _, err = support.run_main(restore.main, argv, spark_context=support.FakeSparkContext(2),
                                                retry=support.fast_retry(), clock=lambda: now[0], sleep=sleep)
        world.racing = False
        self.assertEqual(code, 0, err)
        totals["written"] += report["counts"]["written"]
        self.check_restore_writes(world, totals)

    def check_restore_writes(self, world, totals):
        for index, event in enumerate(world.log):
            if event[0] != "restore_write":
                continue
            kid, written = event[1], support.comparable(event[2])
            deletes = [e for e in world.log[:index] if e[0] == "delete" and e[1] == kid]
            checks = [i for i, e in enumerate(world.log[:index]) if e[0] == "checked"]
            last = deletes[-1] if deletes else None
            if last is not None and last[3] and support.comparable(last[2]) == written:
                continue
            # The write brought back something deleted on purpose, or an older state: only allowed when that
            # deletion had not reached S3 when the restore last checked its chunk.
            seen = last is not None and bool(checks) and world.delivered_at.get(last[4], len(world.log)) < checks[-1]
            self.assertFalse(seen, "restore wrote %s over the deliberate deletion %r (seed %d)" % (kid, last, SEED))
            totals["unseen_window"] += 1

    def repair_case(self, world, totals):
        totals["repair"] += 1
        world.apply()
        if world.rng.random() < 0.5:  # a lost deletion: the backup keeps the key unmarked
            for kid, state in world.current.items():
                if state is None:
                    item = world.backup_items().get(kid)
                    if item is not None:
                        plain = dict((k, v) for k, v in item.items() if k != R)
                        world.client.put_item(TableName=world.backup, Item=plain)
                        world.lost = dict(item for item in plain.items() if item[0] == "id")
                    break
        started = len(world.log)
        at_start = [support.comparable(s) for s in world.current.values() if s is not None]
        held = dict((kid, _content(item)) for kid, item in world.backup_items().items())
        world.apply_wrote = {}
        world.repairing = ({"backup": held, "live": at_start}, started)
        world.racing = True
        argv = ["verify.py", "--source_table", world.source, "--backup_table", world.backup, "--report_bucket",
                self.bucket, "--report_prefix", "rfuzz-verify/", "--settle_seconds", "0", "--repair", "true",
                "--scan_segments", str(world.rng.randint(1, 3))]
        _, code, _, err = support.run_main(verify.main, argv, spark_context=support.FakeSparkContext(2),
                                           retry=support.fast_retry())
        world.racing = False
        world.repairing = None
        self.assertEqual(code, 0, err)
        self.assertEqual(world.regressions, [], "repair wrote an older state over a newer one (seed %d)" % SEED)
        seen_states = [support.comparable(e[2]) for e in world.log[started:] if e[0] == "put"]
        seen_states += at_start
        for kid, item in world.backup_items().items():
            content = _content(item)
            newest = world.apply_wrote.get(kid, held.get(kid))  # what apply-changes last wrote, else what was there
            self.assertTrue(content == newest or content in seen_states,
                            "repair left %s as %r, older than what apply-changes wrote (%r) (seed %d)"
                            % (kid, content, newest, SEED))
        world.deliver(everything=True)
        world.apply()
        for kid, state in world.current.items():
            item = world.backup_items().get(kid)
            if state is not None:
                self.assertEqual(item, support.comparable(state), "key %s after the drain (seed %d)" % (kid, SEED))


class SpreadRestoreInterleavingsTest(support.WithSpreadRuns, RestoreInterleavingsTest):
    """The interleavings with each apply-changes run's engine drawn: threads, or worker processes."""

    interleavings = SPREAD_INTERLEAVINGS


def _content(item):
    """A backup item without the retained marker."""
    return dict((k, v) for k, v in item.items() if k != R)


if __name__ == "__main__":
    unittest.main()
