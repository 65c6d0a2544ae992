"""verify's per-segment work, free of Spark (run on the executors through spark_segments, like full-copy).

Segment s is checked in two passes:
1. source segment s (Scan): each chunk of 100 items is compared with the backup's items for those keys
   (BatchGetItem, eventually consistent): finds missing and different;
2. backup segment s (Scan of the key attributes and the retained attribute): the keys are looked up in
   the source (BatchGetItem, eventually consistent); the absent ones are extra or retained.
(Segments of two tables do not hold the same keys; each pass checks its own table's keys, so together
they cover both tables.)

Every mismatch is read again from both tables with consistent reads before it is counted: a key that
matches then was being written while we looked (counted as settled); one whose source item changed
between the first read and the re-read is counted in_flight (the pipeline is delivering it), not as drift.
A key still mismatched then may be a change the pipeline has not applied yet (it lags the source by its
batching window plus an apply run): with settle_seconds, such keys are deferred (up to DEFER_CAP per
segment; beyond that they are counted at once) and returned to the driver, which waits until
settle_seconds have passed since the last of them was seen and reads them all again, consistently
(SegmentVerifyTask.settle): only what still differs, with an unchanged source item, is drift.

With repair, the drift of each chunk is fixed by the shared writer (replicate.Replicator, as full-copy):
missing and different keys are synced from the source (conditional writes under "retain", so a retained
item is only replaced by a newer state); extra keys are deleted under "mirror"; under "retain" an unmarked
extra item is marked retained at version 0 (its deletion is unknown, so any recorded deletion is newer)
by writing the marker alone (item_writer.mark_deleted: the content the backup holds when the marker lands
stays, so a newer state written meanwhile is never replaced by the copy verify read), after which the
source is read again and the key synced if it has come back.

A key repair cannot settle (DynamoDB refuses the marker or the item, the key keeps changing, a request
fails for good) is counted and sampled as unrepaired with its reason; every other key is repaired and the
run goes on, so the report and the metrics are always written.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from botocore.exceptions import ClientError

from . import aws_clients
from . import compare
from . import ddb_batch
from . import replicate
from . import scan_copy
from . import table_keys
from .aws_clients import Client
from .table_keys import Item, Key, KeySchema

# A key verify deferred: (typed key, fingerprint of the source item, time.time() it was seen).
Deferred = tuple[Key, Optional[str], float]
# Drift found by a recheck, by class: [(typed key, the backup's item or None)].
Drift = dict[str, list[tuple[Key, Optional[Item]]]]

CHUNK = ddb_batch.MAX_GET_KEYS
DEFER_CAP = 10000


class SegmentVerify:
    def __init__(self, client: Client, replicator: replicate.Replicator, classifier: compare.Classifier,
                 tally: compare.Tally, repair: bool = False, max_items_per_second: float = 0,
                 settle: bool = False) -> None:
        self.client = client
        self.replicator = replicator
        self.classifier = classifier
        self.tally = tally
        self.repair = repair
        self.max_items_per_second = max_items_per_second
        self.repaired: dict[str, int] = dict((name, 0) for name in compare.DRIFT)
        self.unrepaired: list[tuple[Key, str]] = []  # [(typed key, reason)]
        self.items_read: dict[str, int] = {"source": 0, "backup": 0}
        self.settle = settle
        self.deferred: list[Deferred] = []

    @property
    def schema(self) -> KeySchema:
        return self.replicator.schema

    def _get(self, table: str, keys: Sequence[Key], consistent: bool, side: str) -> dict[str, Item]:
        found = ddb_batch.batch_get(self.client, table, keys, self.schema, self.replicator.stats,
                                    self.replicator.policy, consistent=consistent)
        self.items_read[side] += len(found)
        return found

    def _chunks(self, table: str, segment: int, total: int,
                projected: Optional[Sequence[str]] = None) -> Iterator[list[Item]]:
        kwargs = scan_copy.segment_scan(table, segment, total, projected)
        stats = self.replicator.stats
        before = stats.scanned
        for chunk in scan_copy.scanned_chunks(self.client, stats, self.replicator.policy, kwargs, CHUNK,
                                              self.max_items_per_second):
            yield chunk
        side = "source" if table == self.replicator.source_table else "backup"
        self.items_read[side] += stats.scanned - before

    def run(self, segment: int, total: int) -> None:
        r = self.replicator
        for chunk in self._chunks(r.source_table, segment, total):
            keys = [table_keys.extract_key(item, self.schema) for item in chunk]
            first = dict((table_keys.key_id(k), item) for k, item in zip(keys, chunk))
            backup = self._get(r.backup_table, keys, False, "backup")
            self._settle(keys, first, backup)
        projected = list(self.schema.names) + [r.retained_attribute]
        for chunk in self._chunks(r.backup_table, segment, total, projected):
            keys = [table_keys.extract_key(item, self.schema) for item in chunk]
            present = self._get(r.source_table, keys, False, "source")
            absent = [k for k in keys if table_keys.key_id(k) not in present]  # present: pass 1's
            self._recheck(absent, lambda kid, now: now is not None)

    def _settle(self, keys: Sequence[Key], first: Mapping[str, Item], backup: Mapping[str, Item]) -> None:
        mismatched: list[Key] = []
        for key in keys:
            kid = table_keys.key_id(key)
            if self.classifier.classify(first.get(kid), backup.get(kid)) == compare.MATCH:
                self.tally.count(compare.MATCH)
            else:
                mismatched.append(key)
        self._recheck(mismatched, lambda kid, now: not table_keys.items_equal(now, first.get(kid)))

    def recheck_deferred(self, deferred: Sequence[Deferred]) -> None:
        """The driver's last look at deferred keys: counted now, whatever they show."""
        prints = dict((table_keys.key_id(key), fingerprint) for key, fingerprint, _ in deferred)
        keys = [key for key, _, _ in deferred]
        for start in range(0, len(keys), CHUNK):
            self._recheck(keys[start:start + CHUNK], lambda kid, now: compare.fingerprint(now) != prints[kid])

    def _recheck(self, keys: Sequence[Key], changed: Callable[[str, Optional[Item]], bool]) -> None:
        """Classify `keys` on consistent reads of both tables; changed(key_id, source item now) tells
        whether the source changed since it was first read."""
        if not keys:
            return
        r = self.replicator
        source = self._get(r.source_table, keys, True, "source")
        backup = self._get(r.backup_table, keys, True, "backup")
        drift: Drift = dict((name, []) for name in compare.DRIFT)
        for key in keys:
            kid = table_keys.key_id(key)
            self.tally.count("rechecked")
            kind = self.classifier.classify(source.get(kid), backup.get(kid))
            if kind == compare.MATCH:
                self.tally.count("settled")
                continue
            if changed(kid, source.get(kid)):
                kind = compare.IN_FLIGHT
            elif kind in drift and self.settle and len(self.deferred) < DEFER_CAP:
                self.tally.count("deferred")
                self.deferred.append((key, compare.fingerprint(source.get(kid)), time.time()))
                continue
            self.tally.count(kind, key)
            if kind in drift:
                drift[kind].append((key, backup.get(kid)))
        if self.repair:
            self._repair(drift)

    def _repair(self, drift: Drift) -> None:
        r = self.replicator
        failed: dict[str, tuple[Key, str]] = {}  # key_id -> (typed key, reason)
        stale = [key for key, _ in drift[compare.MISSING] + drift[compare.DIFFERENT]]
        if r.delete_policy == "mirror":
            stale += [key for key, _ in drift[compare.EXTRA]]  # absent from the source: sync_keys deletes them
        else:
            stale += self._mark_deleted([key for key, _ in drift[compare.EXTRA]], failed)
        if stale:
            self._sync(stale, failed)
        for name in compare.DRIFT:
            self.repaired[name] += len([k for k, _ in drift[name] if table_keys.key_id(k) not in failed])
        self.unrepaired.extend(failed.values())

    def _sync(self, keys: Sequence[Key], failed: dict[str, tuple[Key, str]]) -> None:
        try:
            self.replicator.sync_keys(keys)
        except replicate.KeysSetAside as error:
            for key in error.hot:
                failed[table_keys.key_id(key)] = (key, "kept changing in the source while it was repaired")
            for key in error.keys:
                kid = table_keys.key_id(key)
                if kid in error.unwritable:
                    failed[kid] = (key, error.unwritable[kid])
        except (ClientError, ddb_batch.ReplicationError) as error:
            _fail_all(keys, failed, "%s: %s" % (type(error).__name__, error))

    def _mark_deleted(self, keys: Sequence[Key], failed: dict[str, tuple[Key, str]]) -> list[Key]:
        """Mark unmarked extra backup items retained at version 0; returns the keys back in the source."""
        if not keys:
            return []
        r = self.replicator
        try:
            _, _, refused = r.writer.run([(key, r.writer.mark_deleted, None) for key in keys], r.stats)
        except (ClientError, ddb_batch.ReplicationError) as error:
            _fail_all(keys, failed, "%s: %s" % (type(error).__name__, error))
            return []
        for key in keys:
            if table_keys.key_id(key) in refused:
                failed[table_keys.key_id(key)] = (key, refused[table_keys.key_id(key)])
        # A live write may have landed before the marker: the source decides (sync_keys replaces a
        # version-0 item with the live state).
        marked = [key for key in keys if table_keys.key_id(key) not in failed]
        try:
            present = self._get(r.source_table, marked, True, "source")
        except (ClientError, ddb_batch.ReplicationError) as error:
            _fail_all(marked, failed, "marked deleted, but the source could not be read again to see whether it "
                                      "came back: %s: %s" % (type(error).__name__, error))
            return []
        return [key for key in marked if table_keys.key_id(key) in present]


def _fail_all(keys: Sequence[Key], failed: dict[str, tuple[Key, str]], reason: str) -> None:
    for key in keys:
        failed[table_keys.key_id(key)] = (key, reason)


class SegmentVerifyTask(scan_copy._SegmentTask):
    """Picklable settings of one verify run; calling it with a segment number checks that segment."""

    def __init__(self, repair: bool = False, sample_keys: int = compare.DEFAULT_SAMPLE_KEYS,
                 settle_seconds: float = 0, **common: Any) -> None:
        """`common`: scan_copy._SegmentTask's arguments (source_table, backup_table, schema, ...)."""
        scan_copy._SegmentTask.__init__(self, **common)
        self.repair = bool(repair)
        self.sample_keys = int(sample_keys)
        self.settle_seconds = float(settle_seconds)

    def _work(self, client: Client, replicator: replicate.Replicator, tally: compare.Tally,
              settle: bool) -> SegmentVerify:
        classifier = compare.Classifier(replicator.transform, replicator.delete_policy, replicator.retained_attribute)
        return SegmentVerify(client, replicator, classifier, tally, self.repair, self.settings.max_items_per_second,
                             settle)

    def run(self, client: Client, replicator: replicate.Replicator, segment: int) -> dict[str, Any]:
        tally = compare.Tally(self.sample_keys)
        work = self._work(client, replicator, tally, self.settle_seconds > 0)
        work.run(segment, self.settings.total_segments)
        return {"tally": tally.to_dict(), "repaired": work.repaired, "items_read": work.items_read,
                "deferred": work.deferred, "unrepaired": work.unrepaired}

    def settle(self, deferred: Sequence[Deferred], tally: compare.Tally, sleep: Callable[[float], Any] = time.sleep,
               clock: Callable[[], float] = time.time) -> tuple[SegmentVerify, ddb_batch.Stats, float]:
        """On the driver: wait until settle_seconds have passed since the last deferred key was seen, then
        count every deferred key on consistent reads (repairing drift when asked). Returns the work
        (repaired, items_read) and the seconds waited."""
        wait = max(seen for _, _, seen in deferred) + self.settle_seconds - clock()
        if wait > 0:
            sleep(wait)
        client = aws_clients.dynamodb_client(self.settings.region)
        replicator = self._replicator(client)
        work = self._work(client, replicator, tally, False)
        work.recheck_deferred(deferred)
        return work, replicator.stats, max(0.0, wait)
