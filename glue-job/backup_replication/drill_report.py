"""What the restore drill tells the operator besides its counts: the estimated time of a full restore, and
the metrics the stack's alarm and dashboard read (contracts/metrics.ts, RESTORE_DRILL_METRICS).

The estimate: the drill's table creation plus the backup's items at the rate the drill restored its sample,

    estimated seconds = create seconds + ItemCount / (items restored / copy seconds)

ItemCount is DescribeTable's, which DynamoDB refreshes about every six hours. It counts the retained items
too, which a full restore only scans (unless --include_retained), so the estimate errs long, as it does on
a small sample, whose rate the fixed cost of starting each segment holds down. The sampled segments run
at once, as many as a full restore runs on the same workers (the drill job has the restore job's size), so
the rate is the one a full restore would reach. Both targets are new on-demand tables, which DynamoDB
documents as sustaining up to 4,000 writes a second at first and then twice their previous peak: a long
restore grows past the rate a short drill measured, so there too the estimate errs long.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from . import verify_report

# Names and units, exactly as contracts/metrics.ts RESTORE_DRILL_METRICS (a test compares them).
DURATION = "RestoreDrillDuration"
ITEMS_RESTORED = "RestoreDrillItemsRestored"
ITEMS_PER_SECOND = "RestoreDrillItemsPerSecond"
ESTIMATED_FULL_RESTORE_TIME = "RestoreDrillEstimatedFullRestoreTime"
MISMATCHES = "RestoreDrillMismatches"
UNITS = {
    DURATION: "Seconds",
    ITEMS_RESTORED: "Count",
    ITEMS_PER_SECOND: "Count/Second",
    ESTIMATED_FULL_RESTORE_TIME: "Seconds",
    MISMATCHES: "Count",
}


def estimate(backup_description: Mapping[str, Any], items_restored: int, create_seconds: float,
             copy_seconds: float, max_restore_minutes: float) -> dict[str, Any]:
    """The estimated full restore and its arithmetic; `seconds` is None when there is no rate to go by (an
    empty sample of a table that is not empty)."""
    item_count = int(backup_description["Table"].get("ItemCount", 0))
    rate = items_restored / copy_seconds if items_restored and copy_seconds > 0 else None
    if item_count == 0:
        seconds: Optional[float] = create_seconds
        arithmetic = "%.1f s to create the table; the backup holds no item" % create_seconds
    elif rate is None:
        seconds = None
        arithmetic = ("no item was restored, so there is no rate to estimate from: the sampled segments held no "
                      "item to restore (a larger --sample_fraction samples more)")
    else:
        seconds = create_seconds + item_count / rate
        arithmetic = "%.1f s to create the table + %d items / %.1f items/s = %.1f s = %.1f min" % (
            create_seconds, item_count, rate, seconds, seconds / 60)
    return {
        "backup_item_count": item_count,
        "item_count_basis": "DescribeTable ItemCount (refreshed about every six hours); retained items included",
        "items_per_second": None if rate is None else round(rate, 3),
        "create_seconds": round(create_seconds, 3),
        "seconds": None if seconds is None else round(seconds, 1),
        "minutes": None if seconds is None else round(seconds / 60, 1),
        "max_restore_minutes": max_restore_minutes,
        "exceeds_max": None if seconds is None else seconds > max_restore_minutes * 60,
        "arithmetic": arithmetic,
    }


def metric_data(pipeline: str, restore_seconds: float, items_restored: int, estimated: Mapping[str, Any],
                mismatches: int, timestamp: float) -> list[dict[str, Any]]:
    """PutMetricData's MetricData, dimension Pipeline, at the run's end (epoch seconds): the estimate only
    when there is one."""
    values: list[tuple[str, Union[int, float]]] = [
        (DURATION, restore_seconds), (ITEMS_RESTORED, items_restored),
        (ITEMS_PER_SECOND, estimated["items_per_second"] or 0), (MISMATCHES, mismatches)]
    if estimated["seconds"] is not None:
        values.append((ESTIMATED_FULL_RESTORE_TIME, estimated["seconds"]))
    return verify_report.datums(pipeline, [(name, value, UNITS[name]) for name, value in values], timestamp)
