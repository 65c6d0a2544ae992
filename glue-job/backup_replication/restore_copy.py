"""restore's per-segment work, free of Spark: scan one segment of the backup (read only, never written)
and write the planned items (restore_plan.py) into the target.

- missing-only: one conditional PutItem per item, `attribute_not_exists(<partition key>)`, through the
  item writer's thread pool: an item the target holds (written back by the application meanwhile, or
  never deleted) is left as it is (already_present);
- overwrite: BatchWriteItem puts (25 a request, retried as everywhere);
- dry run: nothing is written; missing-only reads the target (consistent BatchGetItem) to say which
  items it would write.
The scan's rate limit (Scan Limit + a limiter between chunks, scan_copy.scanned_chunks) paces the writes
too: at most max_items_per_second items per segment.

Into the source (restore_guard.py says why), only missing-only, and only items whose deletion the backup
recorded, inside the chosen window: per chunk, right before writing, the keys named by a pending manifest
and the keys whose marker changed since the scan are skipped (changed_since_start; every key of the chunk
while dead letters or rejected manifests exist), so are the keys a quarantine object holds (quarantined);
then the source is read (already_present); an unmarked backup item absent from the source is
not_recorded, an item Time to Live deleted is expired: reported, never written.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional, Sequence

from botocore.exceptions import ClientError

from . import aws_clients
from . import compare
from . import ddb_batch
from . import item_writer
from . import job_log
from . import restore_guard
from . import restore_plan
from . import retained
from . import scan_copy
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .table_keys import Item, Key, KeySchema
from .transform import Transform

WRITTEN = "written"
WOULD_WRITE = "would_write"
ALREADY_PRESENT = "already_present"
# Into the source: items never written because the backup may not hold their latest change.
NOT_RECORDED = "not_recorded"              # live in the backup, absent from the source: deletion not recorded
QUARANTINED = restore_guard.QUARANTINED    # a quarantine object holds the key
CHANGED_SINCE_START = restore_guard.CHANGED_SINCE_START  # a pending manifest names it, or its marker changed
AMBIGUOUS = (NOT_RECORDED, QUARANTINED, CHANGED_SINCE_START)
CLASSES = (WRITTEN, WOULD_WRITE, ALREADY_PRESENT, restore_plan.RETAINED_SKIPPED, restore_plan.EXPIRED) + AMBIGUOUS


@dataclasses.dataclass(frozen=True)
class RestoreSettings:
    """What every segment of one restore needs: plain values, pickled to the executors. `retry` holds
    RetryPolicy.to_dict() (its functions stay on the driver); `guard` is set into the source only."""

    backup_table: str
    target_table: str
    schema: KeySchema
    transform: Transform
    total_segments: int
    mode: str
    include_retained: bool
    deleted_after: Optional[str]
    dry_run: bool
    retained_attribute: str
    region: Optional[str]
    max_items_per_second: float
    retry: dict[str, float]
    sample_keys: int
    target_exists: bool
    deleted_before: Optional[str]
    guard: Optional[restore_guard.GuardSettings]

    @property
    def into_source(self) -> bool:
        return self.guard is not None


# A planned write: (typed key, the item to write, the backup marker's version or None for a live item).
_Entry = tuple[Key, Item, Optional[str]]


class SegmentRestore:
    def __init__(self, client: Client, settings: RestoreSettings, stats: Stats, policy: RetryPolicy,
                 tally: compare.Tally, s3: Optional[Client] = None) -> None:
        self.client = client
        self.s = settings
        self.schema = settings.schema
        self.stats = stats
        self.policy = policy
        self.tally = tally
        self.plan = restore_plan.RestorePlan(settings.transform, settings.retained_attribute, settings.include_retained,
                                             settings.deleted_after or None, settings.deleted_before or None,
                                             include_expired=not settings.into_source)
        self.writer = item_writer.ConditionalWriter(client, settings.backup_table, settings.target_table,
                                                    self.schema, self.plan.inverse, settings.retained_attribute,
                                                    policy)
        self.unrecorded: Optional[restore_guard.Unrecorded] = None
        # Why whole chunks were held back (dead letters, rejected, a backlog): keys.
        self.not_written_because: dict[str, int] = {}
        if settings.guard is not None:
            self.unrecorded = restore_guard.Unrecorded(s3, aws_clients.sqs_client(settings.region), settings.guard,
                                                       self.schema, time.time, time.sleep, job_log.log_event)

    def run(self, segment: int) -> None:
        kwargs = scan_copy.segment_scan(self.s.backup_table, segment, self.s.total_segments)
        for chunk in scan_copy.scanned_chunks(self.client, self.stats, self.policy, kwargs, ddb_batch.MAX_GET_KEYS,
                                              self.s.max_items_per_second):
            entries: list[_Entry] = []
            for backup_item in chunk:
                verdict, item, version = self.plan.item(backup_item)
                if item is None:  # restore_plan.RETAINED_SKIPPED or EXPIRED
                    self.tally.count(verdict, table_keys.extract_key(backup_item, self.schema))
                else:
                    entries.append((table_keys.extract_key(item, self.schema), item, version))
            if entries and self.unrecorded is not None:
                self._into_source(entries, self.unrecorded)
            elif entries:
                self._write([item for _, item, _ in entries])

    def _into_source(self, entries: Sequence[_Entry], unrecorded: restore_guard.Unrecorded) -> None:
        """Sort out what the backup may not have recorded, then write the rest (restore_guard.py)."""
        unrecorded.refresh()
        # Only the keys and the marker are needed: the scan already read the items.
        keys_only = list(self.schema.names)
        markers = ddb_batch.batch_get(self.client, self.s.backup_table, [k for k, _, v in entries if v],
                                      self.schema, self.stats, self.policy,
                                      projected=keys_only + [self.s.retained_attribute])
        present = ddb_batch.batch_get(self.client, self.s.target_table, [k for k, _, _ in entries],
                                      self.schema, self.stats, self.policy, projected=keys_only)
        writes: list[tuple[Key, Item]] = []
        for key, item, version in entries:
            kid = table_keys.key_id(key)
            why = unrecorded.why(kid)
            if kid in present:
                self.tally.count(ALREADY_PRESENT, key)
            elif version is None:
                self.tally.count(NOT_RECORDED, key)
            elif why is not None:
                self.tally.count(why, key)
                if unrecorded.everything is not None:
                    reason = unrecorded.everything
                    self.not_written_because[reason] = self.not_written_because.get(reason, 0) + 1
            elif retained.stored_version(markers.get(kid), self.s.retained_attribute) != version:
                self.tally.count(CHANGED_SINCE_START, key)
            else:
                writes.append((key, item))
        if self.s.dry_run:
            for key, _ in writes:
                self.tally.count(WOULD_WRITE, key)
        elif writes:
            self._put_all(writes)

    def _put_all(self, writes: Sequence[tuple[Key, Item]]) -> None:
        written, _, _ = self.writer.run([(key, self._put_if_absent, item) for key, item in writes], self.stats)
        for key, _ in writes:
            self.tally.count(WRITTEN if written[table_keys.key_id(key)] else ALREADY_PRESENT, key)

    def _write(self, items: Sequence[Item]) -> None:
        keys = [table_keys.extract_key(item, self.schema) for item in items]
        if self.s.dry_run:
            present: dict[str, Item] = {}
            if self.s.mode == "missing-only" and self.s.target_exists:
                present = ddb_batch.batch_get(self.client, self.s.target_table, keys, self.schema, self.stats,
                                              self.policy)
            for key in keys:
                self.tally.count(ALREADY_PRESENT if table_keys.key_id(key) in present else WOULD_WRITE, key)
        elif self.s.mode == "overwrite":
            ddb_batch.batch_write(self.client, self.s.target_table, [ddb_batch.put_request(i) for i in items],
                                  self.schema, self.stats, self.policy)
            for key in keys:
                self.tally.count(WRITTEN, key)
        else:
            self._put_all(list(zip(keys, items)))

    def _put_if_absent(self, key: Key, item: Item, stats: Stats) -> bool:
        stats.write_requests += 1
        try:
            ddb_batch.call(self.client.put_item, {
                "TableName": self.s.target_table, "Item": item, "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": self.schema.names[0]},
            }, stats, self.policy, "PutItem on %s" % self.s.target_table)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != item_writer.CONDITION_FAILED:
                raise
            stats.condition_failures += 1
            return False
        stats.puts += 1
        return True


class SegmentRestoreTask:
    """Picklable settings of one restore run; calling it with a segment number restores that segment. The
    restore drill's task (drill_check.py) is one, with its own WORK and what it adds to a segment's result."""

    WORK: type[SegmentRestore] = SegmentRestore

    def __init__(self, backup_table: str, target_table: str, schema: KeySchema, transform: Transform,
                 total_segments: int, mode: str, include_retained: bool, deleted_after: Optional[str], dry_run: bool,
                 retained_attribute: str, region: Optional[str] = None, max_items_per_second: float = 0,
                 retry: Optional[RetryPolicy] = None, sample_keys: int = compare.DEFAULT_SAMPLE_KEYS,
                 target_exists: bool = True, deleted_before: Optional[str] = None,
                 guard: Optional[restore_guard.GuardSettings] = None) -> None:
        # By name: a backup given by ARN may be in this account (job_args.restore_config says why).
        if table_keys.table_name(target_table) == table_keys.table_name(backup_table):
            raise ValueError("restore never writes the backup table %s" % table_keys.table_name(backup_table))
        self.settings = RestoreSettings(
            backup_table=backup_table, target_table=target_table, schema=schema, transform=transform,
            total_segments=int(total_segments), mode=mode, include_retained=bool(include_retained),
            deleted_after=deleted_after, dry_run=bool(dry_run), retained_attribute=retained_attribute, region=region,
            max_items_per_second=float(max_items_per_second), retry=(retry or RetryPolicy()).to_dict(),
            sample_keys=int(sample_keys), target_exists=bool(target_exists), deleted_before=deleted_before,
            # Into the source: where the changes the backup has not recorded yet wait (restore_guard.py).
            guard=guard,
        )

    def __call__(self, segment: int) -> scan_copy.SegmentResult:
        started = time.monotonic()
        stats = Stats()
        tally = compare.Tally(self.settings.sample_keys, classes=CLASSES, counters=())
        client = aws_clients.dynamodb_client(self.settings.region)
        s3 = aws_clients.s3_client(self.settings.region) if self.settings.into_source else None
        work = self.WORK(client, self.settings, stats, RetryPolicy.from_dict(self.settings.retry), tally, s3)
        work.run(segment)
        result: scan_copy.SegmentResult = dict(stats.as_dict())
        result.update({"segment": int(segment), "seconds": round(time.monotonic() - started, 3),
                       "tally": tally.to_dict(), "not_written_because": work.not_written_because})
        result.update(self.added(work))
        return result

    def added(self, work: SegmentRestore) -> dict[str, Any]:
        """What a kind of restore adds to a segment's result: nothing, for restore itself."""
        return {}
