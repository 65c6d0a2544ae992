"""full-copy's per-segment work, free of Spark so that it runs (and is tested) anywhere.

copy_segment: Scan one parallel-scan segment of the source (Segment/TotalSegments, paginated) and copy
its items with the shared Replicator (same transform, verified writes), optionally rate limited.
prune_segment: Scan one segment of the backup, key attributes only (ProjectionExpression), and delete
the keys absent from the source (Replicator.prune; only under delete policy "mirror", never "retain",
where such keys are retained last states).

SegmentCopyTask / SegmentPruneTask are what Spark ships to the executors: plain, picklable settings;
each call builds its own boto3 client on the executor and returns the segment's counters as a dict.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from . import aws_clients
from . import ddb_batch
from . import item_writer
from . import replicate
from . import retained
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .table_keys import Item, KeySchema
from .transform import Transform

WRITE_CHUNK = ddb_batch.MAX_GET_KEYS  # items handed to the Replicator at a time (verify reads 100 keys)
# What a segment task returns to the driver: its Stats counters (as_dict) plus "segment", "seconds" and
# whatever the task adds (verify's tally, restore's reasons).
SegmentResult = dict[str, Any]


@dataclasses.dataclass(eq=False)
class RateLimiter:
    """At most `rate` items per second on average (the first chunk goes at once)."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Any] = time.sleep
    next_free: Optional[float] = dataclasses.field(default=None, init=False)

    def acquire(self, count: int) -> None:
        now = self.clock()
        if self.next_free is None or self.next_free < now:
            self.next_free = now
        elif self.next_free > now:
            self.sleep(self.next_free - now)
        self.next_free += count / self.rate


def scan_responses(client: Client, kwargs: Mapping[str, Any], stats: Stats, policy: RetryPolicy) -> Iterator[dict[str, Any]]:
    """Scan's responses page by page (also the restore drill's Select COUNT scans, which return no Items)."""
    request = dict(kwargs)
    while True:
        stats.scan_requests += 1
        response = ddb_batch.call(client.scan, request, stats, policy, "Scan on %s" % request["TableName"])
        yield response
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def _scan_pages(client: Client, kwargs: Mapping[str, Any], stats: Stats, policy: RetryPolicy) -> Iterator[list[Item]]:
    for response in scan_responses(client, kwargs, stats, policy):
        yield response.get("Items", [])


def scanned_chunks(client: Client, stats: Stats, policy: RetryPolicy, kwargs: dict[str, Any], chunk_size: int,
                   max_items_per_second: float = 0, limiter: Optional[RateLimiter] = None) -> Iterator[list[Item]]:
    """Scans with `kwargs` page by page and yields the items in chunks, within the rate limit
    (also verify's and restore's scans)."""
    if max_items_per_second:
        # Small pages keep the read rate in line with the write rate.
        kwargs["Limit"] = max(1, min(1000, int(max_items_per_second)))
        limiter = limiter or RateLimiter(max_items_per_second)
    for items in _scan_pages(client, kwargs, stats, policy):
        stats.scanned += len(items)
        for start in range(0, len(items), chunk_size):
            chunk = items[start:start + chunk_size]
            if limiter is not None:
                limiter.acquire(len(chunk))
            yield chunk


def segment_scan(table: str, segment: int, total_segments: int, projected: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Scan arguments of one parallel-scan segment; `projected`: only these attributes (ProjectionExpression)."""
    kwargs: dict[str, Any] = {"TableName": table, "Segment": int(segment), "TotalSegments": int(total_segments)}
    if projected:
        kwargs.update(ddb_batch.projection(projected))
    return kwargs


def copy_segment(client: Client, replicator: replicate.Replicator, segment: int, total_segments: int,
                 consistent: bool = False, max_items_per_second: float = 0, limiter: Optional[RateLimiter] = None) -> None:
    """Copy one scan segment of replicator.source_table; counters go to replicator.stats."""
    kwargs = {"TableName": replicator.source_table, "Segment": int(segment), "TotalSegments": int(total_segments),
              "ConsistentRead": bool(consistent)}
    for chunk in scanned_chunks(client, replicator.stats, replicator.policy, kwargs, WRITE_CHUNK,
                                max_items_per_second, limiter):
        replicator.copy_items(chunk)


def prune_segment(client: Client, replicator: replicate.Replicator, segment: int, total_segments: int,
                  max_items_per_second: float = 0, limiter: Optional[RateLimiter] = None) -> None:
    """Delete backup keys of one backup scan segment that are absent from the source."""
    kwargs = segment_scan(replicator.backup_table, segment, total_segments, replicator.schema.names)
    for chunk in scanned_chunks(client, replicator.stats, replicator.policy, kwargs, ddb_batch.MAX_GET_KEYS,
                                max_items_per_second, limiter):
        replicator.prune([table_keys.extract_key(k, replicator.schema) for k in chunk])


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    """What every segment of one full-copy (or verify) needs: plain values, pickled to the executors.
    `retry` holds RetryPolicy.to_dict(): the policy's functions stay on the driver."""

    source_table: str
    backup_table: str
    schema: KeySchema
    transform: Transform
    delete_policy: str
    total_segments: int
    region: Optional[str]
    consistent_scan: bool
    max_items_per_second: float
    verify_writes: bool
    retry: dict[str, float]
    retained_attribute: str


class _SegmentTask:
    """Picklable settings of one full-copy; calling it with a segment number does that segment (run)."""

    def __init__(self, source_table: str, backup_table: str, schema: KeySchema, transform: Transform,
                 delete_policy: str, total_segments: int, region: Optional[str] = None, consistent_scan: bool = False,
                 max_items_per_second: float = 0, verify_writes: bool = True, retry: Optional[RetryPolicy] = None,
                 retained_attribute: str = retained.DEFAULT_ATTRIBUTE) -> None:
        self.settings = SegmentSettings(
            source_table=source_table,
            backup_table=backup_table,
            schema=schema,
            transform=transform,
            delete_policy=delete_policy,
            total_segments=int(total_segments),
            region=region,
            consistent_scan=bool(consistent_scan),
            max_items_per_second=float(max_items_per_second),
            verify_writes=bool(verify_writes),
            retry=(retry or RetryPolicy()).to_dict(),
            retained_attribute=retained_attribute,
        )

    def _replicator(self, client: Client) -> replicate.Replicator:
        s = self.settings
        return replicate.Replicator(
            client, s.source_table, s.backup_table, s.schema, s.transform, s.delete_policy, Stats(),
            RetryPolicy.from_dict(s.retry), verify=s.verify_writes, retained_attribute=s.retained_attribute,
            write_workers=item_writer.workers_for(s.backup_table, client.meta.region_name))

    def run(self, client: Client, replicator: replicate.Replicator, segment: int) -> Optional[dict[str, Any]]:
        """The segment's work; what it returns is added to the segment's result."""
        raise NotImplementedError

    def __call__(self, segment: int) -> SegmentResult:
        started = time.monotonic()
        client = aws_clients.dynamodb_client(self.settings.region)
        replicator = self._replicator(client)
        extra = self.run(client, replicator, segment)
        result: SegmentResult = dict(replicator.stats.as_dict())
        result.update(extra or {})  # verify's counts and sample keys
        result["segment"] = int(segment)
        result["seconds"] = round(time.monotonic() - started, 3)
        return result


class SegmentCopyTask(_SegmentTask):
    def run(self, client: Client, replicator: replicate.Replicator, segment: int) -> None:
        copy_segment(client, replicator, segment, self.settings.total_segments,
                     consistent=self.settings.consistent_scan,
                     max_items_per_second=self.settings.max_items_per_second)


class SegmentPruneTask(_SegmentTask):
    def run(self, client: Client, replicator: replicate.Replicator, segment: int) -> None:
        if replicator.delete_policy != "mirror":  # job_args refuses --mirror_deletes with retain; keep it so
            raise ValueError("mirror deletes run only under delete policy mirror")
        prune_segment(client, replicator, segment, self.settings.total_segments,
                      max_items_per_second=self.settings.max_items_per_second)
