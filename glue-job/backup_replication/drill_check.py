"""The restore drill's per-segment work, free of Spark (run on the executors through spark_segments, as
restore's is).

DrillSegmentTask restores one scan segment of the backup into the drill's table exactly as restore does
(restore_copy.SegmentRestore: the same plan, so the inverse transform and retained items skipped unless
asked; missing-only conditional puts), and reads each chunk back from the drill's table right after writing
it (consistent BatchGetItem) to compare it item by item with what the plan made of the backup's items as
they were scanned. Compared with the scan, not with a second read of the backup: the backup keeps changing
while the drill runs (apply-changes writes it), and a later state is not a mismatch of the restore.

DrillCountTask counts one scan segment of the drill's table (Scan, Select COUNT, consistent): the driver
holds the table's count against the items restored, which finds items lost, or written twice, however the
read-back saw them.
"""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence

from . import aws_clients
from . import compare
from . import ddb_batch
from . import restore_copy
from . import scan_copy
from . import table_keys
from .ddb_batch import RetryPolicy, Stats
from .table_keys import Item

# What the read-back finds of an item the restore wrote: equal to what the plan made of the backup's item,
# absent from the drill's table, or there with other values.
MATCH = compare.MATCH
MISSING = compare.MISSING
DIFFERENT = compare.DIFFERENT
MISMATCHES = (MISSING, DIFFERENT)


class DrillSegment(restore_copy.SegmentRestore):
    """restore's segment work, each written chunk read back and compared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        restore_copy.SegmentRestore.__init__(self, *args, **kwargs)
        self.check = compare.Tally(self.s.sample_keys, classes=MISMATCHES, counters=(MATCH,))
        self.check_seconds = 0.0

    def _write(self, items: Sequence[Item]) -> None:
        restore_copy.SegmentRestore._write(self, items)
        started = time.monotonic()
        keys = [table_keys.extract_key(item, self.schema) for item in items]
        found = ddb_batch.batch_get(self.client, self.s.target_table, keys, self.schema, self.stats, self.policy,
                                    consistent=True)
        for key, item in zip(keys, items):
            held = found.get(table_keys.key_id(key))
            if table_keys.items_equal(item, held):
                self.check.count(MATCH)
            else:
                self.check.count(MISSING if held is None else DIFFERENT, key)
        self.check_seconds += time.monotonic() - started


class DrillSegmentTask(restore_copy.SegmentRestoreTask):
    """Picklable settings of one drill; calling it with a segment number restores and checks that segment."""

    WORK = DrillSegment

    def added(self, work: restore_copy.SegmentRestore) -> dict[str, Any]:
        assert isinstance(work, DrillSegment)
        return {"check": work.check.to_dict(), "check_seconds": round(work.check_seconds, 3)}


class DrillCountTask:
    """Picklable: calling it with a segment number counts that segment of the drill's table."""

    def __init__(self, table: str, total_segments: int, region: Optional[str] = None,
                 retry: Optional[RetryPolicy] = None) -> None:
        self.table = table
        self.total_segments = int(total_segments)
        self.region = region
        self.retry = (retry or RetryPolicy()).to_dict()

    def __call__(self, segment: int) -> scan_copy.SegmentResult:
        stats = Stats()
        client = aws_clients.dynamodb_client(self.region)
        kwargs = dict(scan_copy.segment_scan(self.table, segment, self.total_segments), Select="COUNT",
                      ConsistentRead=True)
        items = sum(int(response.get("Count", 0))
                    for response in scan_copy.scan_responses(client, kwargs, stats, RetryPolicy.from_dict(self.retry)))
        result: scan_copy.SegmentResult = dict(stats.as_dict())
        result.update({"segment": int(segment), "items": items})
        return result
