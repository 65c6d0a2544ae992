"""The only Spark-facing code of full-copy, kept thin so a fake context can drive it in tests.

run_segments(sc, total_segments, task): one Spark partition per DynamoDB scan segment,
sc.parallelize(range(N), N).mapPartitions(...).collect(); each partition calls task(segment) on an
executor and yields its counters, which are summed on the driver.

derive_total_segments(sc): used when --scan_segments is 0:
    executor instances x executor cores x SEGMENTS_PER_CORE
from the Spark conf (on Glue: spark.executor.instances = workers - 1, spark.executor.cores = the
worker type's vCPUs, e.g. 4 for G.1X), falling back to sc.defaultParallelism x SEGMENTS_PER_CORE.
Several segments per core let fast executors take over the work of slow segments (tasks are handed
out as cores free up), and keep each segment's scan small enough to retry cheaply.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence

from . import ddb_batch

SEGMENTS_PER_CORE = 4
MAX_TOTAL_SEGMENTS = 1000000  # DynamoDB's TotalSegments limit
# What runs one segment on an executor: task(segment number) -> its result, with its Stats counters and
# "segment" (scan_copy.SegmentResult). Spark pickles it.
SegmentTask = Callable[[int], Mapping[str, Any]]


class SparkContextLike(Protocol):
    """What this module uses of pyspark's SparkContext (the tests pass a fake one)."""

    @property
    def defaultParallelism(self) -> int: ...

    def getConf(self) -> Any: ...

    def parallelize(self, c: Sequence[Any], numSlices: Optional[int] = None, /) -> Any: ...

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False, /) -> None: ...

    def cancelJobGroup(self, groupId: str, /) -> None: ...


def spark_context() -> SparkContextLike:
    """The job's SparkContext (only on Glue: pyspark is imported here, so the rest runs without Spark)."""
    from pyspark import SparkContext  # pyright: ignore[reportMissingImports]  # only on Glue
    return SparkContext.getOrCreate()


def derive_total_segments(sc: SparkContextLike, segments_per_core: int = SEGMENTS_PER_CORE) -> int:
    conf = sc.getConf()
    instances = conf.get("spark.executor.instances", None)
    cores = conf.get("spark.executor.cores", None)
    try:
        total_cores = int(instances) * int(cores)
    except (TypeError, ValueError):
        total_cores = 0
    if total_cores <= 0:
        total_cores = int(sc.defaultParallelism)
    return max(1, min(MAX_TOTAL_SEGMENTS, total_cores * segments_per_core))


def sampled_segments(derived: int, fraction: float, explicit: bool,
                     rng: random.Random) -> tuple[int, Optional[list[int]]]:
    """(total segments, the segment numbers to run, or None for all): verify's sample, and the restore
    drill's. Sampling keeps the parallelism: with derived segments, the table is cut into derived / fraction
    segments and `derived` of them run."""
    if fraction >= 1:
        return derived, None
    total = derived if explicit else min(MAX_TOTAL_SEGMENTS, int(math.ceil(derived / fraction)))
    count = max(1, int(round(total * fraction)))
    return total, sorted(rng.sample(range(total), count))


@dataclasses.dataclass(frozen=True)
class _PartitionRunner:
    """mapPartitions function: runs the task on each segment number of the partition."""

    task: SegmentTask

    def __call__(self, segments: Iterable[int]) -> list[Mapping[str, Any]]:
        return [self.task(segment) for segment in segments]


def run_segments(sc: SparkContextLike, total_segments: int, task: SegmentTask,
                 segments: Optional[Iterable[int]] = None) -> tuple[ddb_batch.Stats, list[dict[str, Any]]]:
    """(summed Stats, per-segment result dicts) after running task(segment) for 0..total_segments-1,
    or only for the segment numbers in `segments` (verify's sample: a random subset of the segments)."""
    total_segments = int(total_segments)
    if not 1 <= total_segments <= MAX_TOTAL_SEGMENTS:
        raise ValueError("total segments must be 1..%d, got %d" % (MAX_TOTAL_SEGMENTS, total_segments))
    wanted = list(range(total_segments)) if segments is None else sorted(int(s) for s in segments)
    if not wanted or wanted[0] < 0 or wanted[-1] >= total_segments or len(set(wanted)) != len(wanted):
        raise ValueError("segments must be distinct numbers of 0..%d, got %r" % (total_segments - 1, wanted[:20]))
    rdd = sc.parallelize(wanted, len(wanted))
    results = rdd.mapPartitions(_PartitionRunner(task)).collect()
    done = sorted(result["segment"] for result in results)
    if done != wanted:
        raise ddb_batch.ReplicationError("scan segments done %r do not cover %r exactly once"
                                         % (done[:20], wanted[:20]))
    totals = ddb_batch.Stats()
    for result in results:
        totals.add(result)
    return totals, results
