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
- The driver settles those outcomes as apply.py does for its own chunks, after checking that every key
  it handed out came back exactly once. A task that raises or whose executor is lost is run again by
  Spark (spark.task.maxFailures); syncing a key again is idempotent. When Spark gives up (collect
  raises), no key of the pass counts as done: all go into the remainder and the run fails.
- An attempt Spark gave up on may still be running (an executor declared lost while its process goes
  on), and may write an older state after the successful attempt verified a newer one, then die before
  its own verification. So the keys of a task that needed more than one attempt do not count as done:
  they go into the remainder, which this run does not write again (apply.py holds it), and the next run,
  on a cluster of its own, syncs them once more. Speculative execution (two attempts at once, and the
  loser never told) is refused.
- A partition also stays under MAX_TASK_BYTES of keys and removed entries (a deleted item's last state
  can be 400 KB): Spark refuses a task larger than spark.rpc.message.maxSize (128 MiB by default).
- A pass that Spark cannot run (no executors, a hung task) is cancelled (its job group) once the run's
  time is spent and a request's retries more, and fails like a task Spark gave up on: a run never
  blocks past its budget.

The deadline a task gets is the run's time left when the pass is handed out, counted twice: by the task's
own monotonic clock from when it starts, and as a wall-clock time. Whichever comes first stops it, so a
task that starts late, or an executor whose clock runs ahead or behind the driver's, never works past the
budget by more than one chunk.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import threading
import time
import uuid
import zlib
from typing import Any, Callable, Iterable, Optional

from . import apply
from . import aws_clients
from . import ddb_batch
from . import job_args
from . import replicate
from . import spark_segments
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .manifest_format import RemovedEntry
from .table_keys import Key, KeySchema
from .transform import Transform

DEFAULT_KEYS_PER_TASK: int = job_args.default_of(job_args.ApplyChangesConfig, "keys_per_task")
# A quarter of Spark's default spark.rpc.message.maxSize (128 MiB): room for the task's own fields.
MAX_TASK_BYTES = 32 * 1024 * 1024
# Seconds past the run's time budget before a pass still running is cancelled: a request's retries
# (ddb_batch.RetryPolicy.max_elapsed, 300) and a minute more.
CANCEL_GRACE_SECONDS = 360
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
        return {"partition": number, "attempt": attempt_number(), "ended": ended,
                "not_started": [kid for chunk in chunks[started:] for kid, _ in chunk],
                "out_of_time": started < len(chunks) and not failed, "stats": replicator.stats.as_dict()}


def attempt_number() -> int:
    """Which attempt of its task this is (0: the first), from Spark's TaskContext; 0 outside Spark."""
    try:
        from pyspark import TaskContext  # pyright: ignore[reportMissingImports]  # only on Spark executors
    except ImportError:
        return 0
    context = TaskContext.get()
    return int(context.attemptNumber()) if context is not None else 0


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

    max_task_bytes: int = MAX_TASK_BYTES

    def __post_init__(self) -> None:
        if str(self.sc.getConf().get("spark.speculation", "false")).strip().lower() == "true":
            raise ValueError("apply-changes on Spark needs spark.speculation off: a speculative copy of a task "
                             "may write an older state after the other copy verified a newer one")

    def partitions(self, keys: apply.Chunk, removals: dict[str, RemovedEntry]) -> list[Partition]:
        """The keys by CRC-32 of their id into ceil(keys / keys_per_task) partitions, at most max_tasks, then
        each split where it would pass max_task_bytes; empty ones are left out."""
        count = max(1, min(int(self.max_tasks), math.ceil(len(keys) / max(1, int(self.keys_per_task)))))
        parts: list[list[PartitionEntry]] = [[] for _ in range(count)]
        for kid, key in keys:
            parts[zlib.crc32(kid.encode("utf-8")) % count].append((kid, key, removals.get(kid)))
        split = [piece for entries in parts for piece in _by_bytes(entries, self.max_task_bytes)]
        return list(enumerate(split))

    def sync(self, keys: apply.Chunk, removals: dict[str, RemovedEntry], seconds_left: float) -> apply.SpreadResult:
        partitions = self.partitions(keys, removals)
        task = ApplyTask(self.writer, self.keys_per_chunk, self.chunk_workers, self.deadline(seconds_left))
        group = "apply-changes-pass-" + uuid.uuid4().hex
        self.sc.setJobGroup(group, "apply-changes: one pass's keys", True)
        timer = threading.Timer(max(0.0, seconds_left) + CANCEL_GRACE_SECONDS, self.sc.cancelJobGroup, [group])
        timer.daemon = True
        timer.start()
        try:
            results = self.sc.parallelize(partitions, len(partitions)).mapPartitions(task).collect()
        finally:
            timer.cancel()
        _check_coverage(partitions, results)
        return _gather(dict((kid, key) for kid, key in keys), results)


def _entry_bytes(entry: PartitionEntry) -> int:
    kid, _, removed = entry
    return 2 * len(kid) + 64 + (len(pickle.dumps(removed, protocol=pickle.HIGHEST_PROTOCOL)) if removed else 0)


def _by_bytes(entries: list[PartitionEntry], limit: int) -> list[list[PartitionEntry]]:
    """`entries` in consecutive pieces of at most `limit` bytes (one entry alone may be larger)."""
    pieces: list[list[PartitionEntry]] = []
    size = 0
    for entry in entries:
        entry_size = _entry_bytes(entry)
        if not pieces or size + entry_size > limit:
            pieces.append([])
            size = 0
        pieces[-1].append(entry)
        size += entry_size
    return pieces


def _check_coverage(partitions: list[Partition], results: list[dict[str, Any]]) -> None:
    """Every partition came back once, and each with exactly the keys it was given: a key missing from the
    answers would otherwise be dropped with its manifest."""
    given = dict((number, sorted(kid for kid, _, _ in entries)) for number, entries in partitions)
    answered = dict((result["partition"], result) for result in results)
    if sorted(result["partition"] for result in results) != sorted(given):
        raise ddb_batch.ReplicationError("partitions answered %r are not those handed out %r"
                                         % (sorted(answered)[:20], sorted(given)[:20]))
    for number, kids in given.items():
        result = answered[number]
        back = [kid for ended in result["ended"] for kid in ended[0]] + list(result["not_started"])
        if sorted(back) != kids:
            raise ddb_batch.ReplicationError("partition %d answered for %d keys, not the %d it was given"
                                             % (number, len(back), len(kids)))


def _gather(typed: dict[str, Key], results: list[dict[str, Any]]) -> apply.SpreadResult:
    """The tasks' plain results as apply.ChunkOutcomes of the typed keys the driver holds; the keys of a
    task that needed more than one attempt go to `rerun` instead (see the module docstring)."""
    ended: list[apply.ChunkOutcome] = []
    not_started: apply.Chunk = []
    rerun: apply.Chunk = []
    stats = Stats()
    out_of_time = False
    for result in results:
        stats.add(result["stats"])
        if int(result.get("attempt", 0)) > 0:
            rerun.extend((kid, typed[kid]) for kids, _, _, _ in result["ended"] for kid in kids)
            rerun.extend((kid, typed[kid]) for kid in result["not_started"])
            continue
        out_of_time = out_of_time or bool(result["out_of_time"])
        not_started.extend((kid, typed[kid]) for kid in result["not_started"])
        for kids, hot, unwritable, failure in result["ended"]:
            chunk = [(kid, typed[kid]) for kid in kids]
            aside = None
            if hot or unwritable:
                aside = replicate.KeysSetAside("keys set aside on an executor", [typed[kid] for kid in hot],
                                               dict((kid, (typed[kid], reason)) for kid, reason in unwritable.items()))
            ended.append((chunk, aside, SpreadFailed(failure) if failure is not None else None))
    return apply.SpreadResult(ended, not_started, out_of_time, stats.as_dict(), rerun)


def max_tasks(sc: spark_segments.SparkContextLike) -> int:
    """The task slots of the run's largest size: one per executor core (spark_segments, one segment a core)."""
    return spark_segments.derive_total_segments(sc, segments_per_core=1)
