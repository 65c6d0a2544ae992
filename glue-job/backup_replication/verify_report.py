"""What verify tells the operator: the read-cost estimate before it runs, the JSON report in S3, and the
counts as CloudWatch metrics (the alarm watches Drift).

Read cost (DynamoDB Developer Guide, "read and write operations"): an eventually consistent read of up
to 4 KB is half a read unit, a strongly consistent one a whole unit; BatchGetItem rounds each item up to
4 KB on its own (a key that does not exist still costs the minimum); Scan rounds the total size of the
items it reads up to 4 KB. verify reads each table once by Scan and once by BatchGetItem of the other
table's keys (eventually consistent), plus consistent re-reads of the mismatches (not estimated:
unknown before the run). ItemCount and TableSizeBytes come from DescribeTable, which DynamoDB refreshes
about every six hours: an estimate, logged as such.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Mapping, Optional, Union

from . import compare
from .aws_clients import Client

RCU_BYTES = 4096
EVENTUAL = 0.5


def _table_size(describe_response: Mapping[str, Any]) -> tuple[int, int]:
    table = describe_response["Table"]
    return int(table.get("ItemCount", 0)), int(table.get("TableSizeBytes", 0))


def read_cost_estimate(source_description: Mapping[str, Any], backup_description: Mapping[str, Any],
                       fraction: float = 1.0) -> dict[str, Any]:
    """{"items": reads, "read_units": eventually consistent read units, ...} of one verify run."""
    src_items, src_bytes = _table_size(source_description)
    bak_items, bak_bytes = _table_size(backup_description)

    def per_item(items: int, size: int) -> int:
        return max(1, int(math.ceil((float(size) / items) / RCU_BYTES))) if items else 1

    scans = (math.ceil(float(src_bytes) / RCU_BYTES) + math.ceil(float(bak_bytes) / RCU_BYTES)) * EVENTUAL
    lookups = (src_items * per_item(bak_items, bak_bytes) + bak_items * per_item(src_items, src_bytes)) * EVENTUAL
    fraction = float(fraction)
    return {
        "source_items": src_items, "source_bytes": src_bytes, "backup_items": bak_items, "backup_bytes": bak_bytes,
        "sample_fraction": fraction,
        "items": int(math.ceil(2 * (src_items + bak_items) * fraction)),
        "read_units": round((scans + lookups) * fraction, 1),
        "basis": "DescribeTable ItemCount/TableSizeBytes (refreshed about every 6 hours); eventually consistent "
                 "Scan + BatchGetItem of both tables; consistent re-reads of mismatches not included",
    }


METRIC_NAMES = {
    compare.MISSING: "MissingInBackup",
    compare.EXTRA: "ExtraInBackup",
    compare.DIFFERENT: "Different",
    compare.RETAINED: "Retained",
    compare.IN_FLIGHT: "InFlight",
}


def metric_data(tally: compare.Tally, pipeline: str, items_read: int) -> list[dict[str, Any]]:
    """PutMetricData's MetricData in the stack's namespace, dimension Pipeline (contracts/metrics.ts):
    one count per class, DriftItems (their sum over the drift classes) and ItemsRead."""
    values: list[tuple[str, Union[int, float]]] = [(METRIC_NAMES[name], tally.counts[name]) for name in compare.CLASSES]
    values += [("DriftItems", tally.drift), ("ItemsRead", items_read)]
    return datums(pipeline, [(name, value, "Count") for name, value in values])


def datums(pipeline: str, values: list[tuple[str, Union[int, float], str]],
           timestamp: Optional[float] = None) -> list[dict[str, Any]]:
    """MetricData of (name, value, unit) with the Pipeline dimension (verify's, and the restore drill's);
    without a timestamp CloudWatch takes the time it receives them."""
    dimensions = [{"Name": "Pipeline", "Value": pipeline}]
    stamp = {} if timestamp is None else {"Timestamp": timestamp}
    return [dict({"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}, **stamp)
            for name, value, unit in values]


def publish_metrics(cloudwatch: Client, namespace: str, data: list[dict[str, Any]]) -> None:
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)


def report_key(prefix: str, started: float, run_id: Optional[str] = None) -> str:
    """<prefix><UTC time>[-<job run id>].json: listed in time order."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    return "%s%s%s.json" % (prefix, stamp, ("-" + run_id) if run_id else "")


def write_report(s3: Client, bucket: str, key: str, report: Mapping[str, Any]) -> str:
    body = json.dumps(report, indent=2, sort_keys=True, default=str).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return "s3://%s/%s" % (bucket, key)
