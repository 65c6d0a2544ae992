"""apply-changes on Spark: each pass's keys are spread over the executors (apply.PassSpread).

The driver does what a pass does in apply.py (lists and reads the manifests, bounded; folds them into one
plan of distinct keys; deletes a manifest once all of its keys are done; writes the remainder of the keys
not done; quarantines), and hands the syncing of the keys to SparkSpread.sync:

- The keys are split into partitions by a CRC-32 of their key id (never Python's hash(), which differs
  from process to process), so each key is in exactly one partition of a pass. There are
  ceil(keys / keys_per_task) partitions, at most `max_tasks` (the cores the run may grow to), so a pass of
  a large backlog asks for many executors (Glue Auto Scaling adds workers while tasks wait) and a pass of
  a few keys for one.
- Each partition is one task (ApplyTask): on its executor it builds its own DynamoDB client and the shared
  Replicator (WriterSpec), syncs its keys in chunks with apply.ChunkRunner, `chunk_workers` at a time (the
  same conditional writes, verification and setting aside of hot and unwritable keys as in one process),
  starts no chunk after its deadline, and returns plain data: per chunk the keys, those set aside and why,
  and the error that failed it; the keys it did not start; its counters.
- The driver settles those outcomes as apply.py does for its own chunks. A task that raises or whose
  executor is lost is run again by Spark (spark.task.maxFailures); syncing a key again is idempotent.
  When Spark gives up (collect raises), no key of the pass counts as done: all go into the remainder and
  the run fails. A task Spark did not stop in time is one more writer racing the next run, which the
  writer's conditions and verification already order (replicate.py, item_writer.py).

The deadline a task gets is the run's time left when the pass is handed out, counted twice: by the task's
own monotonic clock from when it starts, and as a wall-clock time. Whichever comes first stops it, so a
task that starts late, or an executor whose clock runs ahead or behind the driver's, never works past the
budget by more than one chunk.
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from typing import Any, Callable, Iterable, Optional

from . import apply
from . import aws_clients
from . import ddb_batch
from . import replicate
from . import spark_segments
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .manifest_format import RemovedEntry
from .table_keys import Key, KeySchema
from .transform import Transform

DEFAULT_KEYS_PER_TASK = 1000
# One entry of a partition: (key id, typed key, its removed entry under retain, or None).
PartitionEntry = tuple[str, Key, Optional[RemovedEntry]]
# (partition number, entries)
Partition = tuple[int, list[PartitionEntry]]


class SpreadFailed(ddb_batch.ReplicationError):
    """A chunk of a task failed (the error is the executor's, as text: exceptions do not always pickle)."""


@dataclasses.dataclass(frozen=True)
class WriterSpec:
    """What builds the shared Replicator on an executor: plain values, pickled with the task."""

    source_table: str
    backup_table: str
    schema: KeySchema
    transform: Transform
    delete_policy: str
    retry: dict[str, float]
    verify: bool
    max_rounds: int
    retained_attribute: str
    write_workers: int
    batch_write_workers: int
    region: Optional[str]
    # Builds the executor's DynamoDB client (picklable); None: aws_clients.dynamodb_client(region).
    client_factory: Optional[Callable[[], Client]] = None

    @classmethod
    def of(cls, replicator: replicate.Replicator, region: Optional[str],
           client_factory: Optional[Callable[[], Client]] = None) -> "WriterSpec":
        return cls(replicator.source_table, replicator.backup_table, replicator.schema, replicator.transform,
                   replicator.delete_policy, replicator.policy.to_dict(), replicator.verify, replicator.max_rounds,
                   replicator.retained_attribute, replicator.writer.workers, replicator.batch_write_workers, region,
                   client_factory)

    def replicator(self) -> replicate.Replicator:
        client = self.client_factory() if self.client_factory is not None else aws_clients.dynamodb_client(self.region)
        return replicate.Replicator(client, self.source_table, self.backup_table, self.schema, self.transform,
                                    self.delete_policy, Stats(), RetryPolicy.from_dict(self.retry), verify=self.verify,
                                    max_rounds=self.max_rounds, retained_attribute=self.retained_attribute,
                                    write_workers=self.write_workers, batch_write_workers=self.batch_write_workers)


@dataclasses.dataclass(frozen=True)
class Deadline:
    """When a task stops starting chunks: `seconds` after it starts, and not after `wall_end` (epoch seconds)."""

    seconds: float
    wall_end: float

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(seconds, time.time() + seconds)

    def start(self) -> Callable[[], bool]:
        """Starts the task's clock; the returned function tells whether the deadline has passed."""
        ends = time.monotonic() + self.seconds
        return lambda: time.monotonic() >= ends or time.time() >= self.wall_end


# What the task returns for a chunk: (key ids, hot key ids, {key id: why it cannot be written}, failure text).
_PlainOutcome = tuple[list[str], list[str], dict[str, str], Optional[str]]


@dataclasses.dataclass(frozen=True)
class ApplyTask:
    """A partition's work on an executor (Spark's mapPartitions function; see the module docstring)."""

    writer: WriterSpec
    keys_per_chunk: int
    chunk_workers: int
    deadline: Any  # Deadline, or anything with its start() (tests)

    def __call__(self, partitions: Iterable[Partition]) -> list[dict[str, Any]]:
        return [self._sync(number, entries) for number, entries in partitions]

    def _sync(self, number: int, entries: list[PartitionEntry]) -> dict[str, Any]:
        out_of_time = self.deadline.start()
        replicator = self.writer.replicator()
        removals = dict((kid, entry) for kid, _, entry in entries if entry is not None)
        chunks = apply.split_chunks([(kid, key) for kid, key, _ in entries], self.keys_per_chunk)
        ended: list[_PlainOutcome] = []

        def may_start() -> bool:
            return not any(outcome[3] is not None for outcome in ended) and not out_of_time()

        started = apply.run_chunks(apply.ChunkRunner(replicator, removals), chunks, self.chunk_workers, may_start,
                                   lambda outcome: ended.append(_plain(outcome)))
        failed = any(outcome[3] is not None for outcome in ended)
        return {"partition": number, "ended": ended, "not_started": [kid for chunk in chunks[started:] for kid, _ in chunk],
                "out_of_time": started < len(chunks) and not failed, "stats": replicator.stats.as_dict()}


def _plain(outcome: apply.ChunkOutcome) -> _PlainOutcome:
    chunk, aside, failure = outcome
    hot = [table_keys.key_id(key) for key in aside.hot] if aside is not None else []
    unwritable = dict(aside.unwritable) if aside is not None else {}
    text = None if failure is None else "%s: %s" % (type(failure).__name__, failure)
    return [kid for kid, _ in chunk], hot, unwritable, text


@dataclasses.dataclass(frozen=True)
class SparkSpread:
    """apply.PassSpread over a SparkContext (spark_segments.SparkContextLike)."""

    sc: spark_segments.SparkContextLike
    writer: WriterSpec
    max_tasks: int
    keys_per_task: int = DEFAULT_KEYS_PER_TASK
    keys_per_chunk: int = ddb_batch.MAX_GET_KEYS
    chunk_workers: int = 4
    deadline: Callable[[float], Any] = Deadline.after

    def partitions(self, keys: apply.Chunk, removals: dict[str, RemovedEntry]) -> list[Partition]:
        """The keys by CRC-32 of their id into ceil(keys / keys_per_task) partitions, at most max_tasks;
        empty ones are left out."""
        count = max(1, min(int(self.max_tasks), math.ceil(len(keys) / max(1, int(self.keys_per_task)))))
        parts: list[list[PartitionEntry]] = [[] for _ in range(count)]
        for kid, key in keys:
            parts[zlib.crc32(kid.encode("utf-8")) % count].append((kid, key, removals.get(kid)))
        return [(number, entries) for number, entries in enumerate(parts) if entries]

    def sync(self, keys: apply.Chunk, removals: dict[str, RemovedEntry], seconds_left: float) -> apply.SpreadResult:
        partitions = self.partitions(keys, removals)
        task = ApplyTask(self.writer, self.keys_per_chunk, self.chunk_workers, self.deadline(seconds_left))
        results = self.sc.parallelize(partitions, len(partitions)).mapPartitions(task).collect()
        done = sorted(result["partition"] for result in results)
        if done != [number for number, _ in partitions]:
            raise ddb_batch.ReplicationError("partitions done %r are not those handed out %r"
                                             % (done[:20], [number for number, _ in partitions][:20]))
        return _gather(dict((kid, key) for kid, key in keys), results)


def _gather(typed: dict[str, Key], results: list[dict[str, Any]]) -> apply.SpreadResult:
    """The tasks' plain results as apply.ChunkOutcomes of the typed keys the driver holds."""
    ended: list[apply.ChunkOutcome] = []
    not_started: apply.Chunk = []
    stats = Stats()
    out_of_time = False
    for result in results:
        stats.add(result["stats"])
        out_of_time = out_of_time or bool(result["out_of_time"])
        not_started.extend((kid, typed[kid]) for kid in result["not_started"])
        for kids, hot, unwritable, failure in result["ended"]:
            chunk = [(kid, typed[kid]) for kid in kids]
            aside = None
            if hot or unwritable:
                aside = replicate.KeysSetAside("keys set aside on an executor", [typed[kid] for kid in hot],
                                               dict((kid, (typed[kid], reason)) for kid, reason in unwritable.items()))
            ended.append((chunk, aside, SpreadFailed(failure) if failure is not None else None))
    return apply.SpreadResult(ended, not_started, out_of_time, stats.as_dict())


def max_tasks(sc: spark_segments.SparkContextLike) -> int:
    """The task slots of the run's largest size: one per executor core (spark_segments, one segment a core)."""
    return spark_segments.derive_total_segments(sc, segments_per_core=1)
