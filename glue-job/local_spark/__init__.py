"""A local stand-in for the part of Spark the Glue jobs use, whose partitions run in separate processes.

    sc = ProcessSparkContext(processes=2)
    results = sc.parallelize(data, slices).mapPartitions(function).collect()
    sc.stop()

Like Spark's executors, each worker is a long-lived process of its own (spawned, so it shares nothing
with the driver but what is pickled to it): the function and one partition travel pickled, the
partition's results come back pickled, and partitions run `processes` at a time, so parallelism and
the GIL behave as on a cluster. What a task does when things go wrong follows Spark's rules
(spark.task.maxFailures, default 4, https://spark.apache.org/docs/latest/configuration.html): a task
that raises, or whose process dies, is run again from the start of its partition on a fresh worker,
until it has failed `max_failures` times; then collect() raises SparkJobFailed and the tasks still
running are killed, as Spark cancels a failed job's stage.

For tests and benchmarks: Glue's own Spark is not available on this machine.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import pickle
import traceback
from typing import Any, Callable, Iterable, Optional

_CONTEXT = multiprocessing.get_context("spawn")


class SparkJobFailed(RuntimeError):
    """A task failed max_failures times (what Py4J raises on the driver when a Spark job aborts)."""


def _serve(connection: Any) -> None:
    """A worker: runs one pickled (function, partition) at a time until the driver hangs up."""
    while True:
        try:
            message = connection.recv_bytes()
        except EOFError:
            return
        shipped, partition = pickle.loads(message)
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

    def __init__(self, processes: int = 2, max_failures: int = 4, conf: Optional[dict[str, str]] = None) -> None:
        self.defaultParallelism = processes
        self.max_failures = max_failures
        self._conf = dict(conf or {"spark.executor.instances": str(processes), "spark.executor.cores": "1"})
        self._workers = [_Worker.start() for _ in range(processes)]
        # What each collect did: {"tasks", "attempts", "failures": [traceback or "worker process died"]}.
        self.jobs: list[dict[str, Any]] = []

    def getConf(self) -> "_Conf":
        return _Conf(self._conf)

    def parallelize(self, data: Iterable[Any], numSlices: Optional[int] = None, /) -> "_RDD":
        data = list(data)
        slices = max(1, numSlices or self.defaultParallelism)
        # Spark's ParallelCollectionRDD split: partition i gets data[i*n//k:(i+1)*n//k].
        n = len(data)
        return _RDD(self, [data[i * n // slices:(i + 1) * n // slices] for i in range(slices)])

    def worker_pids(self) -> list[int]:
        """The worker processes' ids, for a benchmark that reads their CPU time from /proc (a worker
        replaced after a failure has a new id)."""
        return [worker.process.pid for worker in self._workers]

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop(kill=True)
        self._workers = []

    def __enter__(self) -> "ProcessSparkContext":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def _run(self, function: Callable[[Iterable[Any]], Iterable[Any]], partitions: list[list[Any]]) -> list[list[Any]]:
        shipped = pickle.dumps(function)
        results: dict[int, list[Any]] = {}
        failures: dict[int, int] = {}
        job: dict[str, Any] = {"tasks": len(partitions), "attempts": 0, "failures": []}
        self.jobs.append(job)
        waiting = list(range(len(partitions)))
        while len(results) < len(partitions):
            for worker in self._workers:
                if worker.task is None and waiting:
                    worker.task = waiting.pop(0)
                    job["attempts"] += 1
                    worker.connection.send_bytes(pickle.dumps((shipped, partitions[worker.task])))
            busy = [w for w in self._workers if w.task is not None]
            ready = multiprocessing.connection.wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.connection not in ready and worker.process.sentinel not in ready:
                    continue
                task, reply = worker.task, self._reply(worker)
                worker.task = None
                assert task is not None
                if reply[0] == "ok":
                    results[task] = reply[1]
                    continue
                job["failures"].append(reply[1])
                failures[task] = failures.get(task, 0) + 1
                if failures[task] >= self.max_failures:
                    self._cancel()
                    raise SparkJobFailed("task %d failed %d times; last failure:\n%s" % (task, failures[task], reply[1]))
                waiting.append(task)
        return [results[i] for i in range(len(partitions))]

    def _reply(self, worker: _Worker) -> tuple[str, Any]:
        """The worker's answer; a worker whose process died is replaced (its task is lost)."""
        try:
            if worker.connection.poll():
                return pickle.loads(worker.connection.recv_bytes())
        except (EOFError, OSError):
            pass
        code = worker.process.exitcode
        self._replace(worker)
        return ("error", "worker process died (exit code %s)" % code)

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        index = self._workers.index(worker)
        self._workers[index] = _Worker.start()

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

    def mapPartitions(self, function: Callable[[Iterable[Any]], Iterable[Any]]) -> "_RDD":
        if self.function is not None:
            raise NotImplementedError("one mapPartitions per RDD is all the jobs use")
        return _RDD(self.context, self.partitions, function)

    def collect(self) -> list[Any]:
        if self.function is None:
            return [value for partition in self.partitions for value in partition]
        return [value for partition in self.context._run(self.function, self.partitions) for value in partition]
