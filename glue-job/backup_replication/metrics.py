"""apply-changes' own CloudWatch metrics (the contract: contracts/metrics.ts, docs/operations.md "Watching the pipeline").

One namespace per stack (--metrics_namespace, "" = off), one dimension Pipeline = the stack's name
prefix (--metrics_pipeline). Per pass: ManifestsPending and OldestPendingManifestAge at its start;
ReplicationLatency (one StatisticValues set: the count, sum, minimum and maximum of the latencies of
the pass, so CloudWatch can answer Average and Maximum), ItemsApplied, RetainedWrites and
QuarantinedItems at its end. ApplyRunsFinished = 1 once, when the run ends.

Publishing never fails the run: a PutMetricData error is logged (event "metrics_not_published") and
those datums are dropped. Datums are sent at the end of each pass and of the run, in requests of at most
MAX_DATUMS_PER_REQUEST datums and MAX_REQUEST_BYTES of encoded body (CloudWatch's limits are 1,000
metrics and 1 MB per PutMetricData request).

Python 3.9 and boto3 only (Glue Python shell).
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, Union
from urllib.parse import quote

from . import job_log
from .aws_clients import Client

# A PutMetricData datum: {"MetricName", "Dimensions", "Timestamp", "Unit", "Value" or "StatisticValues"}.
Datum = dict[str, Any]

# Names and units, exactly as contracts/metrics.ts (a test compares them).
REPLICATION_LATENCY = "ReplicationLatency"
ITEMS_APPLIED = "ItemsApplied"
RETAINED_WRITES = "RetainedWrites"
QUARANTINED_ITEMS = "QuarantinedItems"
MANIFESTS_PENDING = "ManifestsPending"
OLDEST_PENDING_MANIFEST_AGE = "OldestPendingManifestAge"
APPLY_RUNS_FINISHED = "ApplyRunsFinished"
UNITS = {
    REPLICATION_LATENCY: "Seconds",
    ITEMS_APPLIED: "Count",
    RETAINED_WRITES: "Count",
    QUARANTINED_ITEMS: "Count",
    MANIFESTS_PENDING: "Count",
    OLDEST_PENDING_MANIFEST_AGE: "Seconds",
    APPLY_RUNS_FINISHED: "Count",
}
DIMENSION = "Pipeline"

MAX_DATUMS_PER_REQUEST = 1000
# Below CloudWatch's 1 MB so that the request's other members and encoding differences never matter.
MAX_REQUEST_BYTES = 900 * 1024


def seconds_since(then: Union[float, datetime.datetime, None], now: float) -> float:
    """Seconds from `then` to `now` (epoch seconds), never negative; `then` is epoch seconds (a stream
    record's ApproximateCreationDateTime) or an aware datetime (an S3 object's LastModified), or None
    (0). For ReplicationLatency: seconds_since(newest record of a manifest, time its keys were written);
    for OldestPendingManifestAge: seconds_since(LastModified of the oldest manifest listed, pass start)."""
    if then is None:
        return 0.0
    if isinstance(then, datetime.datetime):
        then = then.timestamp()
    return max(0.0, float(now) - float(then))


def encoded_size(datum: Datum) -> int:
    """Bytes the datum takes in a query-protocol (form-encoded) body, a bound for the other protocols."""
    size = 0
    for key, value in _flatten(datum, "MetricData.member.1000"):
        # A timestamp goes as ISO 8601 with milliseconds and offset, 32 characters at most.
        text = "x" * 32 if key.endswith(".Timestamp") else str(value)
        size += len(quote(key, safe="")) + len(quote(text, safe="")) + 2
    return size


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            for pair in _flatten(value[key], prefix + "." + key):
                yield pair
    elif isinstance(value, list):
        for index, member in enumerate(value, 1):
            for pair in _flatten(member, "%s.member.%d" % (prefix, index)):
                yield pair
    else:
        yield prefix, value


def batches(datums: Iterable[Datum], max_datums: int = MAX_DATUMS_PER_REQUEST,
            max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[list[Datum]]:
    """Consecutive groups of datums within both limits (a datum alone is always far below max_bytes)."""
    batch: list[Datum] = []
    size = 0
    for datum in datums:
        datum_size = encoded_size(datum)
        if batch and (len(batch) >= max_datums or size + datum_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(datum)
        size += datum_size
    if batch:
        yield batch


class Publisher(Protocol):
    """What apply.run tells its metrics: ApplyMetrics, or NoMetrics."""

    published: int
    failed: int

    def pass_started(self, manifests_pending: int, oldest_pending_age_seconds: Optional[float]) -> None: ...

    def keys_written(self, latencies_seconds: Iterable[float]) -> None: ...

    def pass_done(self, items_applied: int, retained_writes: int, quarantined_items: int) -> None: ...

    def run_finished(self) -> None: ...

    def flush(self) -> None: ...


class ApplyMetrics:
    """Collects one run's datums and sends them with PutMetricData; see the module docstring."""

    def __init__(self, cloudwatch_client: Client, namespace: str, dimensions: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self._client = cloudwatch_client
        self._namespace = namespace
        self._dimensions = [{"Name": name, "Value": value} for name, value in sorted(dimensions.items())]
        self._clock = clock
        self._pending: list[Datum] = []
        self._latencies: list[float] = []
        self.published = 0
        self.failed = 0

    def _datum(self, name: str, timestamp: float, value: Union[float, dict[str, float]]) -> Datum:
        """`value`: a number, or a StatisticValues set (SampleCount, Sum, Minimum, Maximum)."""
        datum: Datum = {"MetricName": name, "Dimensions": list(self._dimensions), "Timestamp": timestamp,
                        "Unit": UNITS[name]}
        if isinstance(value, dict):
            datum["StatisticValues"] = value
        else:
            datum["Value"] = float(value)
        return datum

    def pass_started(self, manifests_pending: int, oldest_pending_age_seconds: Optional[float]) -> None:
        """At the start of each pass: how many manifests wait, and how old the oldest is (0 when none)."""
        now = self._clock()
        self._latencies = []
        self._pending.append(self._datum(MANIFESTS_PENDING, now, manifests_pending))
        self._pending.append(self._datum(OLDEST_PENDING_MANIFEST_AGE, now, max(0.0, float(oldest_pending_age_seconds or 0))))

    def keys_written(self, latencies_seconds: Iterable[float]) -> None:
        """One latency per manifest whose keys were just written: seconds from the
        ApproximateCreationDateTime of its newest record to the write (negative clock skew counts as 0)."""
        self._latencies.extend(max(0.0, float(latency)) for latency in latencies_seconds)

    def pass_done(self, items_applied: int, retained_writes: int, quarantined_items: int) -> None:
        """At the end of each pass; sends what the pass collected."""
        now = self._clock()
        if self._latencies:
            statistics = {
                "SampleCount": float(len(self._latencies)),
                "Sum": float(sum(self._latencies)),
                "Minimum": float(min(self._latencies)),
                "Maximum": float(max(self._latencies)),
            }
            self._pending.append(self._datum(REPLICATION_LATENCY, now, statistics))
        self._latencies = []
        for name, value in ((ITEMS_APPLIED, items_applied), (RETAINED_WRITES, retained_writes), (QUARANTINED_ITEMS, quarantined_items)):
            self._pending.append(self._datum(name, now, value))
        self.flush()

    def run_finished(self) -> None:
        """Once, when the run ends (whatever its outcome): the stalled-apply alarm counts these."""
        self._pending.append(self._datum(APPLY_RUNS_FINISHED, self._clock(), 1))
        self.flush()

    def flush(self) -> None:
        """Sends the collected datums; on an error logs it and drops them. Never raises."""
        datums, self._pending = self._pending, []
        for batch in batches(datums):
            try:
                self._client.put_metric_data(Namespace=self._namespace, MetricData=batch)
                self.published += len(batch)
            except Exception as error:  # noqa: BLE001 - metrics must never fail the run
                self.failed += len(batch)
                job_log.log_event("metrics_not_published", namespace=self._namespace, datums=len(batch),
                                  error="%s: %s" % (type(error).__name__, error))


class NoMetrics:
    """The publisher when --metrics_namespace is empty: every call does nothing."""

    published = 0
    failed = 0

    def pass_started(self, manifests_pending: int, oldest_pending_age_seconds: Optional[float]) -> None:
        pass

    def keys_written(self, latencies_seconds: Iterable[float]) -> None:
        pass

    def pass_done(self, items_applied: int, retained_writes: int, quarantined_items: int) -> None:
        pass

    def run_finished(self) -> None:
        pass

    def flush(self) -> None:
        pass


def apply_metrics(namespace: str, pipeline: str, client_factory: Callable[[], Client],
                  clock: Callable[[], float] = time.time) -> Publisher:
    """ApplyMetrics for the job's arguments, or NoMetrics when the namespace is "" (client_factory is not called)."""
    if not namespace:
        return NoMetrics()
    return ApplyMetrics(client_factory(), namespace, {DIMENSION: pipeline}, clock)
