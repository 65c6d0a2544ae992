"""Randomized interleavings: inserts, modifies, deletes and re-inserts of a few keys in the real source
table (dynalite), turned into manifests as the change-trigger Lambda would (per batch: the distinct keys,
and a "removed" entry for each key whose last record is a REMOVE, with increasing sequence numbers),
delivered to S3 in random order and at random times, applied by apply-changes runs with random pass
boundaries, time-budget stops and crashes (a request failing for good: the run writes the remainder of
its unfinished keys and fails; or the worker dying: nothing more is written), with a second run
or full-copy (or more source changes) happening in the middle of a run's writes, and sometimes two runs
in threads at once.

Checked after every step that ran a job (no run going on any more), for every key:
- nothing for the key in flight (no unbatched stream record, no manifest naming it waiting to be
  delivered or left in S3) => the backup already holds what the invariant says (below);
- never older than before: a backup state older than the newest retained state seen for the key at
  an earlier point only while something for the key is in flight (the documented residual: a
  later deletion's manifest still to come; or a crashed run's stale write, repaired by its manifests,
  which stay until applied).
After draining everything (every manifest applied at least once), the invariant for every key: under
retain, present in the source => the backup equals its current state (transformed, no marker); absent
=> the image before its most recent deletion (highest sequence number) with that version; never
existed => no item. Under mirror (some interleavings): equal to the source, or absent.

The same interleavings run again with each apply run's engine a random choice: its own threads, or its
keys spread over worker processes (spark_apply.SparkSpread on local_spark.ProcessSparkContext, Spark's
retry rules), the injected hooks, crashes and time-budget jumps still the test's (support.SpreadRuns).

RETAIN_FUZZ_SEED and RETAIN_FUZZ_INTERLEAVINGS override the seed and the count; both are printed, and
RETAIN_FUZZ_SPREAD_INTERLEAVINGS the count of the mixed ones. A failure prints the interleaving's own
seed: RETAIN_FUZZ_CASE=<it> replays only that one.
"""

import os
import random
import sys
import threading
import time
import unittest

import local_spark
import support
from backup_replication import (apply, ddb_batch, manifest_format, manifest_store, replicate, retained, scan_copy,
                                spark_apply, table_keys)
from backup_replication.transform import Transform

SEED = int(os.environ.get("RETAIN_FUZZ_SEED") or 20261201)
# 80 in `npm test` (about 20 s): every path below is taken; run more by hand, e.g. 2000 (README).
INTERLEAVINGS = int(os.environ.get("RETAIN_FUZZ_INTERLEAVINGS") or 80)
# Half of their apply runs spread over worker processes: about twice the time of one of the above (0.3 to
# 0.6 s each on 2 shared cores); 60 in `npm test` take every path of the spread (400 by hand: README).
SPREAD_INTERLEAVINGS = int(os.environ.get("RETAIN_FUZZ_SPREAD_INTERLEAVINGS") or 60)
SPREAD_SHARE = 0.5
ONLY_CASE = int(os.environ.get("RETAIN_FUZZ_CASE") or 0)  # replay one interleaving by its own seed
KEYS = 3
STEPS = 7
R = retained.DEFAULT_ATTRIBUTE


class Interleaving(object):
    """One random history against a fresh table pair and manifest prefix."""

    def __init__(self, case, rng, number, totals, spread_share=0.0):
        self.case = case
        self.spread_share = spread_share
        self.rng = rng
        self.client = case.client
        self.s3 = case.s3
        self.bucket = case.bucket
        self.totals = totals
        self.source, self.backup = support.create_table_pair(self.client)
        self.schema = case.schema
        self.prefix = "fuzz-%s%d-%d/" % ("spread-" if spread_share else "", SEED, number)
        self.policy = "mirror" if rng.random() < 0.15 else "retain"
        self.transform = Transform({"pay": "importe"}) if rng.random() < 0.5 else Transform()
        self.keys = [{"id": {"S": "k%d" % j}} for j in range(KEYS)]
        self.current = dict((table_keys.key_id(k), None) for k in self.keys)
        self.last_removal = {}      # key_id -> (sequence, old image, time)
        self.unbatched = []         # stream records not yet in a manifest
        self.pending = []           # (name, body, key ids): written by the "Lambda", not yet in S3
        self.delivered = {}         # name -> key ids (in S3 until applied)
        self.newest_retained = {}   # key_id -> highest retained version seen in the backup
        self.sequence = rng.randrange(10 ** 20, 10 ** 21)  # 21 digits, like real ones
        self.trace = []             # what happened, printed when a check fails
        self.nested_runs = 0        # runs (apply or full-copy) started inside another run's writes
        self.unrepaired = set()     # keys a crashed run may have left stale with no manifest left (below)

    # -- the source and the "Lambda" -------------------------------------------------------------

    def next_sequence(self):
        if self.rng.random() < 0.03 and self.sequence < 10 ** 39:  # e.g. a much later shard: 40 digits
            self.sequence = self.rng.randrange(10 ** 39, 2 * 10 ** 39)
        self.sequence += self.rng.randrange(1, 10 ** 6)
        return self.sequence

    def source_change(self, key=None):
        key = key or self.rng.choice(self.keys)
        kid = table_keys.key_id(key)
        self.unrepaired.discard(kid)  # its new manifest will bring it in line
        old = self.current[kid]
        sequence = self.next_sequence()
        when = 1764620000 + sequence % 100000
        if old is not None and self.rng.random() < 0.45:
            self.client.delete_item(TableName=self.source, Key=key)
            self.current[kid] = None
            self.last_removal[kid] = (sequence, old, when)
            self.unbatched.append((sequence, key, "REMOVE", old, when))
            self.trace.append("delete %s @%d" % (key["id"]["S"], sequence))
            return
        new = {"id": key["id"], "v": {"S": str(sequence)}, "pay": {"S": "p%d" % self.rng.randrange(1000)}}
        self.client.put_item(TableName=self.source, Item=new)
        self.current[kid] = new
        self.unbatched.append((sequence, key, "MODIFY" if old is not None else "INSERT", old, when))
        self.trace.append("put %s v=%d" % (key["id"]["S"], sequence))

    def cut_batch(self, everything=False):
        if not self.unbatched:
            return
        size = len(self.unbatched) if everything else self.rng.randint(1, len(self.unbatched))
        batch, self.unbatched = self.unbatched[:size], self.unbatched[size:]
        # The Lambda writes removed entries only under retain.
        name, body, last, removed = support.batch_manifest(batch, retain=self.policy == "retain")
        self.pending.append((self.prefix + name, body, set(last)))
        self.trace.append("manifest %s: %s removed %s" % (name[:6], sorted(r[1]["id"]["S"] for r in batch),
                                                          [(r[0]["id"]["S"], r[1]) for r in removed]))

    def churn(self):
        """One key changes several times (deleted, re-inserted, deleted...), cut into several manifests:
        what makes older and newer last states of one item travel in different manifests."""
        key = self.rng.choice(self.keys)
        for _ in range(self.rng.randint(2, 6)):
            self.source_change(key)
            if self.rng.random() < 0.6:
                self.cut_batch(everything=True)

    def deliver(self, everything=False):
        if not self.pending:
            return
        chosen = list(self.pending) if everything else self.rng.sample(self.pending, self.rng.randint(1, len(self.pending)))
        self.rng.shuffle(chosen)
        for entry in chosen:
            self.pending.remove(entry)
            name, body, kids = entry
            self.s3.put_object(Bucket=self.bucket, Key=name, Body=body)
            self.delivered[name] = kids
            self.trace.append("deliver %s" % name[len(self.prefix):][:6])

    # -- the jobs ----------------------------------------------------------------------------------

    def store(self):
        return manifest_store.ManifestStore(self.s3, self.bucket, self.prefix, "rejected-" + self.prefix)

    def replicator(self, client):
        return replicate.Replicator(client, self.source, self.backup, self.schema, self.transform, self.policy,
                                    ddb_batch.Stats(), support.fast_retry(), write_workers=self.rng.choice([1, 4]))

    def nested(self, depth, target):
        """What happens while a run is between two of its writes (`target`: the key it is writing)."""
        if target is not None and self.rng.random() < 0.5:
            # A race on that very key: it changes (often: is deleted), the change reaches S3, and
            # another run (or full-copy) applies it before this run's write lands.
            for _ in range(self.rng.randint(1, 3)):
                self.source_change(target)
            self.cut_batch(everything=True)
            self.deliver(everything=True)
            if self.rng.random() < 0.8:
                self.apply_run(depth + 1)
            else:
                self.full_copy(depth + 1)
            return
        for _ in range(self.rng.randint(1, 3)):
            choice = self.rng.random()
            if choice < 0.4:
                self.source_change()
            elif choice < 0.55:
                self.cut_batch()
            elif choice < 0.7:
                self.deliver()
            elif choice < 0.88:
                self.apply_run(depth + 1)
            else:
                self.full_copy(depth + 1)

    def proxy(self, depth, crash=False, spend=None):
        """A client that, at random writes (and version reads), runs other things in between (depth 0 only), spends the time
        budget, or crashes."""
        writes = [0]
        nest_at = self.rng.randint(1, 3) if depth == 0 and self.rng.random() < 0.7 else None
        spend_at = self.rng.randint(1, 3) if spend is not None else None

        def before(kwargs, _number):
            writes[0] += 1
            self.trace.append("  write %d (depth %d): %s" % (writes[0], depth, kwargs.get("Item", kwargs.get("RequestItems"))))
            if writes[0] == spend_at:
                spend[0] = 10 ** 9
            if writes[0] == nest_at:
                target = kwargs.get("Item") or kwargs.get("Key")
                self.nested(depth, target and {"id": target["id"]})

        crash_on = {}
        if crash:
            crash_on = {"put_item": self.rng.randint(1, 3), "batch_write_item": self.rng.randint(1, 2)}
        # A request failing for good (the run writes its remainder, then fails) or the worker dying.
        crash_error = RuntimeError if self.rng.random() < 0.5 else support.HardCrash
        # get_item: the read of a retained item's version, before a live write replaces it.
        return support.FlakyDynamoDB(self.client, crash_on=crash_on, crash_error=crash_error,
                                     before={"put_item": before, "batch_write_item": before, "get_item": before})

    def spread_engine(self):
        """Whether an apply run spreads its keys over worker processes (no draw when none may)."""
        return self.spread_share > 0 and self.rng.random() < self.spread_share

    def apply_run(self, depth=0, calm=False):
        now = [0.0]
        crash = not calm and self.rng.random() < 0.4
        budget = not calm and self.rng.random() < 0.3
        proxy = self.client if calm else self.proxy(depth, crash, now if budget else None)
        replicator = self.replicator(proxy)
        settings = apply.ApplySettings(100, keys_per_chunk=self.rng.randint(1, 3),
                                       max_manifests_per_pass=self.rng.randint(1, 3))
        spread = self.spread_engine()
        self.trace.append("apply run (depth %d%s) starts" % (depth, ", spread" if spread else ""))
        self.nested_runs += int(depth > 0)
        nested_before = self.nested_runs
        if spread:
            self.totals["spread_nested"] += int(depth > 0)
            self.spread_apply_run(replicator, settings, lambda: now[0], budget)
        else:
            self.apply_run_here(replicator, settings, lambda: now[0], nested_before)
        self.totals["apply_runs"] += 1
        self.trace.append("apply run (depth %d) ends %s" % (depth, replicator.stats.as_dict()))
        self.totals["stats"].add(replicator.stats)

    def apply_run_here(self, replicator, settings, clock, nested_before):
        try:
            result = apply.run(self.store(), replicator, settings, self.schema, clock=clock, log=lambda *_a, **_k: None)
            self.totals["budget_stops"] += int(result.stopped_by_budget)
        except (RuntimeError, support.HardCrash) as error:
            if "injected crash" not in str(error):
                raise
            self.totals["crashes" if isinstance(error, RuntimeError) else "hard_crashes"] += 1
            if self.nested_runs != nested_before:
                # The known residual (README, Idempotency): this run's late write of a LIVE item may
                # have landed after the other run verified the key and deleted the manifests; dying
                # before its own verification, it leaves the item stale until the key changes again
                # or full-copy runs. (A retained item cannot be hit: a live write needs no marker.)
                self.unrepaired |= set(self.current)
                self.totals["crash_races"] += 1

    def spread_apply_run(self, replicator, settings, clock, budget):
        """The run with its keys spread over worker processes. A crash injected as a request failing for
        good fails its chunk on the executor, as in one process (the run writes its remainder, then fails:
        SpreadFailed). A hard one kills the task ("raise": HardCrash escapes it; "exit": its process
        dies), which Spark runs again from the start of its partition, or, once it has failed
        max_failures times, fails the job: every key of the pass goes into the remainder and the run
        raises SparkJobFailed. No stale write of a dead task is left both unverified and uncarried (its
        keys are synced again, or all carried), so the residual of one process dying between a write
        and its verification while a nested run raced it (`unrepaired`) does not arise here: not marked."""
        options = dict(hard=self.rng.choice(["raise", "exit"]), max_failures=self.rng.choice([1, 4]),
                       max_tasks=self.rng.randint(1, 4), keys_per_task=self.rng.randint(1, 3),
                       chunk_workers=self.rng.choice([1, 4]))
        self.trace.append("  spread %s" % options)
        error = None
        spread_runs = self.case.spread_runs
        with spread_runs.spread(replicator, settings, clock=clock if budget else None, **options) as run:
            try:
                result = apply.run(self.store(), replicator, settings, self.schema, clock=clock,
                                   log=lambda *_a, **_k: None, spread=run.spread)
            except RuntimeError as caught:
                error = caught
        # A task failing for a reason of its own is a bug, even when Spark's retry hid it.
        self.case.assertEqual(run.uninjected_failures(), [], "\n".join(self.trace))
        self.case.assertEqual(spread_runs.hooks.errors, [], "\n".join(self.trace))
        failures = len(run.task_failures())
        self.totals["spread_runs"] += 1
        self.totals["task_failures"] += failures
        if error is None:
            self.totals["spread_budget_stops"] += int(result.stopped_by_budget)
        elif isinstance(error, local_spark.SparkJobFailed) and failures:
            self.totals["spark_gave_up"] += 1
        elif isinstance(error, spark_apply.SpreadFailed) and "injected crash" in str(error):
            self.totals["spread_failed_requests"] += 1
        else:
            raise error

    def two_runs_at_once(self):
        errors = []
        engines = [self.spread_engine() for _ in range(2)]

        def run(spread):
            replicator = self.replicator(self.client)
            settings = apply.ApplySettings(100, keys_per_chunk=1, max_manifests_per_pass=1)
            try:
                if not spread:
                    apply.run(self.store(), replicator, settings, self.schema, log=lambda *_a, **_k: None)
                    return
                with self.case.spread_runs.spread(replicator, settings, max_tasks=2, keys_per_task=1) as spread_run:
                    apply.run(self.store(), replicator, settings, self.schema, log=lambda *_a, **_k: None,
                              spread=spread_run.spread)
                errors.extend(spread_run.task_failures())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(spread,)) for spread in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.case.assertEqual(errors, [])
        self.totals["concurrent_runs"] += 2
        if self.spread_share:
            self.totals["spread_concurrent"] += sum(engines)

    def full_copy(self, depth=0):
        proxy = self.proxy(depth)
        replicator = self.replicator(proxy)
        total = self.rng.randint(1, 3)
        self.trace.append("full-copy (depth %d) starts" % depth)
        self.nested_runs += int(depth > 0)
        for segment in range(total):
            scan_copy.copy_segment(proxy, replicator, segment, total)
        if self.policy == "mirror":
            for segment in range(total):
                scan_copy.prune_segment(proxy, replicator, segment, total)
        self.totals["full_copies"] += 1
        self.totals["stats"].add(replicator.stats)

    # -- the checks --------------------------------------------------------------------------------

    def expected(self, kid):
        item = self.current[kid]
        if item is not None:
            return self.transform.apply(item)
        if self.policy == "mirror" or kid not in self.last_removal:
            return None
        sequence, image, when = self.last_removal[kid]
        result = dict(self.transform.apply(image))
        result[R] = retained.marker(sequence, retained.deleted_at(when))
        return result

    def in_flight(self):
        kids = set(table_keys.key_id(r[1]) for r in self.unbatched)
        for _, _, ids in self.pending:
            kids |= ids
        if self.delivered:  # (one listing; applied manifests are forgotten, so most checks need none)
            left = set(support.list_keys(self.s3, self.bucket, self.prefix))
            for name in left - set(self.delivered):  # a remainder a run wrote: the keys it took over
                body = self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
                self.delivered[name] = set(table_keys.key_id(k) for k in manifest_format.parse_manifest(body))
                self.totals["remainders"] += 1
            for name in list(self.delivered):
                if name in left:
                    kids |= self.delivered[name]
                else:
                    del self.delivered[name]
        return kids

    def check(self, where):
        backup = support.scan_all(self.client, self.backup, self.schema)
        flying = self.in_flight()
        for key in self.keys:
            kid = table_keys.key_id(key)
            item = backup.get(kid)
            label = "%s %s %s policy=%s" % (where, self.prefix, kid, self.policy)
            if kid in self.unrepaired:
                continue
            if kid not in flying:
                self.case.assertEqual(item, self.expected(kid), label + ": nothing in flight, backup must be settled\n"
                                      + "\n".join(self.trace))
            if self.policy == "mirror":
                continue
            newest = self.newest_retained.get(kid)
            if newest is not None:
                self.case.assertIsNotNone(item, label + ": a retained item vanished")
                age = int(item[R]["M"]["sequenceNumber"]["S"]) if R in item else int(item["v"]["S"])
                if age < newest:
                    self.case.assertIn(kid, flying, label + ": older than a retained state seen before (%d < %d)"
                                       % (age, newest))
            if item is not None and R in item:
                version = int(item[R]["M"]["sequenceNumber"]["S"])
                self.newest_retained[kid] = max(version, newest or 0)

    def play(self):
        for step in range(STEPS):
            choice = self.rng.random()
            if choice < 0.65:
                # Only the "Lambda" side: neither the backup nor what is settled changes (a changed key
                # is in flight), so there is nothing new to check.
                if choice < 0.2:
                    for _ in range(self.rng.randint(1, 3)):
                        self.source_change()
                elif choice < 0.35:
                    self.churn()
                elif choice < 0.5:
                    self.cut_batch()
                else:
                    self.deliver()
                continue
            if choice < 0.88:
                if self.rng.random() < 0.5:
                    self.cut_batch()
                    self.deliver()
                self.apply_run()
            elif choice < 0.96:
                self.full_copy()
            else:
                self.two_runs_at_once()
            self.check("step %d" % step)
        # Drain: every change into a manifest, every manifest delivered and applied at least once.
        self.cut_batch(everything=True)
        self.deliver(everything=True)
        for _ in range(5):
            self.apply_run(calm=True)
            if not support.list_keys(self.s3, self.bucket, self.prefix):
                break
        self.case.assertEqual(self.in_flight(), set())
        if self.unrepaired:  # what repairs it in production: the scheduled full-copy
            self.unrepaired = set()
            self.full_copy(depth=1)
        self.check("drained")


class RetainedInterleavingsTest(support.TablePairTestCase):
    def test_random_interleavings_keep_the_invariant(self):
        totals = self.interleavings(INTERLEAVINGS, 0.0)
        if not ONLY_CASE:
            for name in ("crashes", "hard_crashes", "budget_stops", "concurrent_runs", "full_copies", "remainders"):
                self.assertGreater(totals[name], 0, name)

    def interleavings(self, count, spread_share):
        """Plays `count` interleavings; prints and returns the totals, having checked that the paths that
        matter were taken (else the history generator is broken, not the code right)."""
        started = time.monotonic()
        totals = {"apply_runs": 0, "full_copies": 0, "concurrent_runs": 0, "crashes": 0, "crash_races": 0,
                  "budget_stops": 0, "remainders": 0, "hard_crashes": 0, "stats": ddb_batch.Stats()}
        if spread_share:
            totals.update({"spread_runs": 0, "spread_nested": 0, "spread_concurrent": 0, "spread_failed_requests": 0,
                           "task_failures": 0, "spark_gave_up": 0, "spread_budget_stops": 0})
        rng = random.Random(SEED)
        for number in range(count):
            case_seed = rng.randrange(2 ** 31)
            if ONLY_CASE and case_seed != ONLY_CASE:
                continue
            try:
                Interleaving(self, random.Random(case_seed), number, totals, spread_share).play()
            except AssertionError:
                sys.stderr.write("\ninterleaving %d failed: RETAIN_FUZZ_SEED=%d, its own seed %d%s\n"
                                 % (number, SEED, case_seed, " (spread)" if spread_share else ""))
                raise
        stats = totals.pop("stats").as_dict()
        engine = ", half the apply runs spread over worker processes" if spread_share else ""
        sys.stderr.write("\nretained interleavings: seed %d, %d interleavings tried in %.1f s%s; %s; %s\n" % (
            SEED, count, time.monotonic() - started, engine, totals,
            dict((k, stats[k]) for k in ("puts", "retained_images", "retained_skipped", "condition_failures",
                                         "live_writes_dropped", "verify_mismatches"))))
        if not ONLY_CASE:
            for name in ("retained_images", "retained_skipped", "condition_failures", "live_writes_dropped"):
                self.assertGreater(stats[name], 0, name)
        return totals


class SpreadInterleavingsTest(support.WithSpreadRuns, RetainedInterleavingsTest):
    """The interleavings with each apply run's engine drawn: threads, or worker processes."""

    def test_random_interleavings_keep_the_invariant(self):
        totals = self.interleavings(SPREAD_INTERLEAVINGS, SPREAD_SHARE)
        if not ONLY_CASE:
            for name in ("spread_runs", "spread_nested", "spread_concurrent", "spread_failed_requests", "task_failures",
                         "spark_gave_up", "spread_budget_stops", "remainders"):
                self.assertGreater(totals[name], 0, name)


if __name__ == "__main__":
    unittest.main()
