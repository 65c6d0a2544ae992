"""A local stand-in for the part of Spark the Glue jobs use, whose partitions run in separate processes.

    sc = ProcessSparkContext(processes=2)
    results = sc.parallelize(data, slices).mapPartitions(function).collect()
    sc.stop()

Like Spark's executors, each worker is a long-lived process of its own (spawned, so it shares nothing
with the driver but what is pickled to it): the function and one partition travel pickled, the
partition's results come back pickled, and partitions run `processes` at a time, so parallelism and
the GIL behave as on a cluster. What goes wrong follows Spark's rules
(https://spark.apache.org/docs/latest/configuration.html):
- a task that raises, or whose process dies, is run again from the start of its partition on a fresh
  worker, until it has failed `max_failures` times (spark.task.maxFailures, default 4); then collect()
  raises SparkJobFailed and the tasks still running are killed, as Spark cancels a failed job's stage;
- `lost_after(task, attempt)` seconds into an attempt, its executor is declared lost (a heartbeat
  timeout) while its process goes on running: the attempt is left over, still writing, until stop()
  (the end of the run's cluster), and the task runs again elsewhere;
- a task whose pickled partition is larger than `max_task_bytes` (spark.rpc.message.maxSize, 128 MiB
  by default) fails the job at once;
- setJobGroup / cancelJobGroup: a cancelled group's collect() raises SparkJobFailed.
In a worker, `pyspark.TaskContext.get()` gives the attempt's number and partition, as on an executor.

For tests and benchmarks: Glue's own Spark is not available on this machine.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import pickle
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable, Iterable, Optional

_CONTEXT = multiprocessing.get_context("spawn")
MAX_TASK_BYTES = 128 * 1024 * 1024


class SparkJobFailed(RuntimeError):
    """A task failed max_failures times, or the job was cancelled (what Py4J raises when a Spark job aborts)."""


@dataclasses.dataclass(frozen=True)
class _TaskContext:
    attempt: int
    partition: int

    def attemptNumber(self) -> int:  # noqa: N802 - pyspark's naming
        return self.attempt

    def partitionId(self) -> int:  # noqa: N802 - pyspark's naming
        return self.partition


def _serve(connection: Any) -> None:
    """A worker: runs one pickled (function, partition) at a time until the driver hangs up."""
    current: list[Optional[_TaskContext]] = [None]
    shim = types.ModuleType("pyspark")
    setattr(shim, "TaskContext", type("TaskContext", (), {"get": staticmethod(lambda: current[0])}))
    sys.modules["pyspark"] = shim  # this process is an executor: what pyspark gives a task, and no more
    while True:
        try:
            message = connection.recv_bytes()
        except EOFError:
            return
        shipped, partition, context = pickle.loads(message)
        current[0] = context
        try:
            function = pickle.loads(shipped)
            reply = ("ok", list(function(iter(partition))))
        except BaseException:  # noqa: BLE001 - reported to the driver as the task's failure
            reply = ("error", traceback.format_exc())
        connection.send_bytes(pickle.dumps(reply))


@dataclasses.dataclass(eq=False)
class _Worker:
    process: Any
    connection: Any
    task: Optional[int] = None
    attempt: int = 0
    started: float = 0.0

    @classmethod
    def start(cls) -> "_Worker":
        driver_end, worker_end = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, args=(worker_end,), daemon=True)
        process.start()
        worker_end.close()
        return cls(process, driver_end)

    def stop(self, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        self.connection.close()
        self.process.join(timeout=30)


class ProcessSparkContext:
    """parallelize / mapPartitions / collect over `processes` worker processes; see the module docstring."""

    def __init__(self, processes: int = 2, max_failures: int = 4, conf: Optional[dict[str, str]] = None,
                 lost_after: Optional[Callable[[int, int], Optional[float]]] = None,
                 max_task_bytes: int = MAX_TASK_BYTES) -> None:
        self.defaultParallelism = processes
        self.max_failures = max_failures
        self.lost_after = lost_after
        self.max_task_bytes = max_task_bytes
        self._conf = dict(conf or {"spark.executor.instances": str(processes), "spark.executor.cores": "1"})
        self._workers = [_Worker.start() for _ in range(processes)]
        self._left_over: list[_Worker] = []
        self._group: Optional[str] = None
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        # What each collect did: {"tasks", "attempts", "failures": [traceback or what happened], "group"}.
        self.jobs: list[dict[str, Any]] = []

    def getConf(self) -> "_Conf":
        return _Conf(self._conf)

    def parallelize(self, data: Iterable[Any], numSlices: Optional[int] = None, /) -> "_RDD":
        data = list(data)
        slices = max(1, numSlices or self.defaultParallelism)
        # Spark's ParallelCollectionRDD split: partition i gets data[i*n//k:(i+1)*n//k].
        n = len(data)
        return _RDD(self, [data[i * n // slices:(i + 1) * n // slices] for i in range(slices)])

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:  # noqa: N802,N803
        self._group = groupId

    def cancelJobGroup(self, groupId: str) -> None:  # noqa: N802,N803 - pyspark's naming; any thread
        with self._lock:
            self._cancelled.add(groupId)

    def worker_pids(self) -> list[int]:
        """The worker processes' ids, for a benchmark that reads their CPU time from /proc (a worker
        replaced after a failure has a new id)."""
        return [worker.process.pid for worker in self._workers]

    def stop(self) -> None:
        """The end of the run's cluster: every worker, left-over attempts too, is gone."""
        for worker in self._workers + self._left_over:
            worker.stop(kill=True)
        self._workers, self._left_over = [], []

    def __enter__(self) -> "ProcessSparkContext":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def _run(self, function: Callable[[Iterable[Any]], Iterable[Any]], partitions: list[list[Any]]) -> list[list[Any]]:
        shipped = pickle.dumps(function)
        job: dict[str, Any] = {"tasks": len(partitions), "attempts": 0, "failures": [], "group": self._group}
        self.jobs.append(job)
        for task, partition in enumerate(partitions):
            size = len(shipped) + len(pickle.dumps(partition))
            if size > self.max_task_bytes:
                raise SparkJobFailed("task %d is %d bytes, more than spark.rpc.message.maxSize (%d)"
                                     % (task, size, self.max_task_bytes))
        results: dict[int, list[Any]] = {}
        failures: dict[int, int] = {}
        waiting = [(task, 0) for task in range(len(partitions))]
        while len(results) < len(partitions):
            self._check_cancelled(job)
            for worker in self._workers:
                if worker.task is None and waiting:
                    worker.task, worker.attempt = waiting.pop(0)
                    worker.started = time.monotonic()
                    job["attempts"] += 1
                    context = _TaskContext(worker.attempt, worker.task)
                    worker.connection.send_bytes(pickle.dumps((shipped, partitions[worker.task], context)))
            for task, attempt, failure in self._ended_or_lost(results):
                job["failures"].append(failure)
                failures[task] = failures.get(task, 0) + 1
                if failures[task] >= self.max_failures:
                    self._cancel()
                    raise SparkJobFailed("task %d failed %d times; last failure:\n%s" % (task, failures[task], failure))
                waiting.append((task, attempt + 1))
        return [results[i] for i in range(len(partitions))]

    def _check_cancelled(self, job: dict[str, Any]) -> None:
        with self._lock:
            cancelled = job["group"] is not None and job["group"] in self._cancelled
        if cancelled:
            self._cancel()
            raise SparkJobFailed("job group %s cancelled" % job["group"])

    def _ended_or_lost(self, results: dict[int, list[Any]]) -> list[tuple[int, int, str]]:
        """Waits a little for busy workers; records their results; returns the failed attempts."""
        busy = [w for w in self._workers if w.task is not None]
        ready = multiprocessing.connection.wait([w.connection for w in busy] + [w.process.sentinel for w in busy],
                                                timeout=0.05)
        failed: list[tuple[int, int, str]] = []
        for worker in busy:
            task, attempt = worker.task, worker.attempt
            assert task is not None
            if worker.connection in ready or worker.process.sentinel in ready:
                reply = self._reply(worker)
                worker.task = None
                if reply[0] == "ok":
                    results.setdefault(task, reply[1])
                else:
                    failed.append((task, attempt, reply[1]))
                continue
            limit = self.lost_after(task, attempt) if self.lost_after is not None else None
            if limit is not None and time.monotonic() - worker.started >= limit:
                self._leave_over(worker)
                failed.append((task, attempt, "executor lost (heartbeat timeout); its attempt goes on running"))
        return failed

    def _reply(self, worker: _Worker) -> tuple[str, Any]:
        """The worker's answer; a worker whose process died is replaced (its task is lost)."""
        try:
            if worker.connection.poll():
                return pickle.loads(worker.connection.recv_bytes())
        except (EOFError, OSError):
            pass
        # Its end of the pipe closes before it can be waited for: wait, or the exit code is not known yet.
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        self._replace(worker)
        return ("error", "worker process died (exit code %s)" % code)

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        self._workers[self._workers.index(worker)] = _Worker.start()

    def _leave_over(self, worker: _Worker) -> None:
        """The driver gives the worker up for lost, but its process runs on (until stop())."""
        self._left_over.append(worker)
        self._workers[self._workers.index(worker)] = _Worker.start()

    def _cancel(self) -> None:
        """Kills the tasks still running, as Spark cancels a failed job's other tasks."""
        for worker in list(self._workers):
            if worker.task is not None:
                self._replace(worker)


@dataclasses.dataclass(frozen=True)
class _Conf:
    values: dict[str, str]

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self.values.get(key, default)


@dataclasses.dataclass(frozen=True)
class _RDD:
    context: ProcessSparkContext
    partitions: list[list[Any]]
    function: Optional[Callable[[Iterable[Any]], Iterable[Any]]] = None

    def mapPartitions(self, function: Callable[[Iterable[Any]], Iterable[Any]]) -> "_RDD":  # noqa: N802
        if self.function is not None:
            raise NotImplementedError("one mapPartitions per RDD is all the jobs use")
        return _RDD(self.context, self.partitions, function)

    def collect(self) -> list[Any]:
        if self.function is None:
            return [value for partition in self.partitions for value in partition]
        return [value for partition in self.context._run(self.function, self.partitions) for value in partition]
