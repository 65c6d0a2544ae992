"""Shared helpers of the glue-job tests: real dynalite / s3rver clients, tables, proxies, a fake Spark.

The tests need AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3 (set by __tests__/python/python-suite.ts,
which starts dynalite and s3rver); without them the server tests fail, they are never skipped.
"""

import contextlib
import itertools
import json
import multiprocessing.connection
import os
import pickle
import threading
import traceback
import unittest
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.exceptions import ClientError

from backup_replication import aws_clients, ddb_batch, table_keys

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout's glue-job/ (entry scripts, the package's sources). The package itself is imported from
# wherever PYTHONPATH says: glue-job/ when __tests__/python/python-suite.ts runs the suite.
GLUE_JOB = os.path.dirname(HERE)
PACKAGE_SOURCES = os.path.join(GLUE_JOB, "backup_replication")

ENDPOINT_VARS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3")


def require_endpoints():
    # boto3 keeps pooled connections open until exit, fine in a test process. (Set here, at test run
    # time, because unittest's runner resets the warning filters when it starts.)
    warnings.simplefilter("ignore", ResourceWarning)
    missing = [name for name in ENDPOINT_VARS if not os.environ.get(name)]
    if missing:
        raise RuntimeError(
            "%s not set: these tests run against a real dynalite and s3rver. Run them with `npm test` "
            "(__tests__/python/python-suite.ts starts both servers), or start them with "
            "`node glue-job/local_servers.js` and export the variables it prints." % " and ".join(missing))


def dynamodb_local_endpoint():
    """AWS's DynamoDB Local, which `npm test` starts for the run (the fidelity tests use it)."""
    require_endpoints()
    endpoint = os.environ.get("DYNAMODB_LOCAL_ENDPOINT")
    if not endpoint:
        raise RuntimeError("DYNAMODB_LOCAL_ENDPOINT not set: the fidelity tests run against AWS's DynamoDB Local, "
                           "which `npm test` starts (jest's global setup)")
    return endpoint


def fast_retry(max_elapsed=10.0):
    return ddb_batch.RetryPolicy(base_delay=0.001, max_delay=0.02, max_elapsed=max_elapsed)


def ddb():
    require_endpoints()
    return aws_clients.dynamodb_client()


def s3():
    require_endpoints()
    return aws_clients.s3_client()


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def create_table(client, prefix="t", hash_key=("id", "S"), range_key=None):
    name = unique(prefix)
    keys = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    definitions = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    if range_key:
        keys.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    client.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=definitions,
                        BillingMode="PAY_PER_REQUEST")
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 100})
    return name


def create_table_pair(client, hash_key=("id", "S"), range_key=None):
    return (create_table(client, "src", hash_key, range_key), create_table(client, "bak", hash_key, range_key))


def schema_of(client, table):
    return table_keys.describe_key_schema(client.describe_table(TableName=table))


def create_bucket(client):
    name = unique("bucket")
    client.create_bucket(Bucket=name)
    return name


def put_items(client, table, items, schema):
    ddb_batch.batch_write(client, table, [ddb_batch.put_request(i) for i in items], schema, ddb_batch.Stats(),
                          fast_retry())


def scan_all(client, table, schema):
    """{key_id: item} of the whole table (consistent scan)."""
    result = {}
    kwargs = {"TableName": table, "ConsistentRead": True}
    while True:
        response = client.scan(**kwargs)
        for item in response["Items"]:
            result[table_keys.key_id(table_keys.extract_key(item, schema))] = item
        if "LastEvaluatedKey" not in response:
            return result
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def list_keys(client, bucket, prefix=""):
    names = []
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        response = client.list_objects_v2(**kwargs)
        names.extend(entry["Key"] for entry in response.get("Contents", []))
        if not response.get("IsTruncated"):
            return sorted(names)
        kwargs["ContinuationToken"] = response["NextContinuationToken"]


class RawResponses(object):
    """Records the raw HTTP body of every response of a client (registered on its event system)."""

    def __init__(self, client):
        self.bodies = []
        self._lock = threading.Lock()
        client.meta.events.register("after-call.dynamodb.*", self._record)

    def _record(self, http_response=None, **_):
        with self._lock:
            self.bodies.append(http_response.content)


def raw_get_item(client, recorder, table, key):
    """The exact bytes DynamoDB sent back for GetItem(ConsistentRead)."""
    before = len(recorder.bodies)
    client.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert len(recorder.bodies) == before + 1
    return recorder.bodies[-1]


def throttle_error(operation, code="ProvisionedThroughputExceededException"):
    return ClientError({"Error": {"Code": code, "Message": "injected by the test"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class HardCrash(BaseException):
    """Stands in for a Glue worker that dies: not an Exception, so no `except Exception` of the job sees it."""


class FlakyDynamoDB(object):
    """Thin proxy around a real DynamoDB client that injects failures into the first N calls.

    throttle: {method: (N, code)} raise ClientError(code) for the first N calls, without sending them.
    partial: {method: N} for the first N calls send only part of the request (the first half, at least
             one item/key) and return the rest as UnprocessedItems / UnprocessedKeys.
    stuck: {method: N} for the first N calls send nothing and return the whole request as unprocessed.
    crash_on: {method: N} raise crash_error("injected crash") on the N-th call (1-based), unsent: a
              RuntimeError (a request that failed for good), or HardCrash (the worker died: the job's own
              error handling never runs).
    before: {method: callable(kwargs, call_number)} run before a call is forwarded.
    versioned_bucket: stand in for a versioned bucket, as deployed (s3rver keeps no versions): every
              GetObject answer carries a VersionId, as S3 gives one, and a VersionId the code sends back
              (DeleteObject's, CopyObject's CopySource's) is kept in `calls` but not sent on to s3rver.
    Every forwarded call's kwargs are kept in `calls` as (method, kwargs).
    """

    def __init__(self, client, throttle=None, partial=None, stuck=None, crash_on=None, before=None,
                 crash_error=RuntimeError, versioned_bucket=False):
        self._client = client
        self.versioned_bucket = versioned_bucket
        self.crash_error = crash_error
        self.stuck = dict(stuck or {})
        self.throttle = dict(throttle or {})
        self.partial = dict(partial or {})
        self.crash_on = dict(crash_on or {})
        self.before = dict(before or {})
        self.counts = {}
        self.calls = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("get_waiter", "get_paginator"):
            return attribute

        def method(**kwargs):
            number = self._count(name)
            if self.crash_on.get(name) == number:
                raise self.crash_error(self._crash_message(name, number))
            if name in self.throttle and number <= self.throttle[name][0]:
                raise throttle_error(name, self.throttle[name][1])
            if name in self.before:
                self.before[name](kwargs, number)
            if number <= self.stuck.get(name, 0):
                (table, request), = kwargs["RequestItems"].items()
                if name == "batch_write_item":
                    return {"UnprocessedItems": {table: request}}
                return {"Responses": {table: []}, "UnprocessedKeys": {table: request}}
            if number <= self.partial.get(name, 0):
                return self._partial(name, attribute, kwargs)
            self.calls.append((name, kwargs))
            if self.versioned_bucket:
                return self._versioned(name, attribute, kwargs)
            return attribute(**kwargs)

        return method

    def _count(self, name):
        with self._lock:
            number = self.counts.get(name, 0) + 1
            self.counts[name] = number
        return number

    @staticmethod
    def _crash_message(name, number):
        return "injected crash in %s call %d" % (name, number)

    def remote(self, hooks, hard="raise"):
        """This proxy's crash_on and before hooks for DynamoDB clients built in worker processes (a
        RemoteClientFactory, for spark_apply.WriterSpec.client_factory): each of their calls is counted
        here, across all the run's tasks, and its hook runs here (hooks: a HookServer). A crash_error
        HardCrash becomes `hard` in the worker: "raise" (escapes the task) or "exit" (the process dies)."""
        if self.throttle or self.partial or self.stuck or self.versioned_bucket:
            raise ValueError("only crash_on and before reach a client built in a worker process")

        def decide(name, kwargs):
            number = self._count(name)
            if self.crash_on.get(name) == number:
                return (hard if issubclass(self.crash_error, HardCrash) else "request", self._crash_message(name, number))
            if name in self.before:
                self.before[name](kwargs, number)
            return None

        return RemoteClientFactory(hooks.register(decide), sorted(set(self.crash_on) | set(self.before)))

    @staticmethod
    def _versioned(name, attribute, kwargs):
        sent = dict((k, v) for k, v in kwargs.items() if k != "VersionId")
        if isinstance(sent.get("CopySource"), dict):
            sent["CopySource"] = dict((k, v) for k, v in sent["CopySource"].items() if k != "VersionId")
        response = attribute(**sent)
        if name == "get_object" and not response.get("VersionId"):
            response["VersionId"] = uuid.uuid4().hex
        return response

    def _partial(self, name, attribute, kwargs):
        (table, request), = kwargs["RequestItems"].items()
        if name == "batch_write_item":
            keep = max(1, len(request) // 2)
            sent = {"RequestItems": {table: request[:keep]}}
            self.calls.append((name, sent))
            response = attribute(**sent)
            rest = request[keep:] + response.get("UnprocessedItems", {}).get(table, [])
            response["UnprocessedItems"] = {table: rest} if rest else {}
            return response
        if name == "batch_get_item":
            keys = request["Keys"]
            keep = max(1, len(keys) // 2)
            sent_request = dict(request)
            sent_request["Keys"] = keys[:keep]
            sent = {"RequestItems": {table: sent_request}}
            self.calls.append((name, sent))
            response = attribute(**sent)
            if len(keys) > keep:
                rest = dict(request)
                rest["Keys"] = keys[keep:]
                response["UnprocessedKeys"] = {table: rest}
            return response
        raise ValueError("partial results are only injected into batch calls, not %s" % name)


# The exit code of a worker process an injected crash kills ("exit"): what tells its death from any other.
HARD_EXIT_CODE = 71


class RemoteHookFailed(Exception):
    """The test process's function raised; carries its text (the exception itself may not pickle)."""


class HookServer(object):
    """Runs functions of the test process for worker processes, which share nothing with it (spawned):
    register(function) gives a picklable RemoteHook; calling it in a worker sends the arguments here and
    returns the function's result. A listener on loopback, with a random authkey, and a thread per
    connection, so hooks called at once (tasks in several workers, a nested run's own hooks) are served
    at once, as the same functions run in the threads of a single-process run. A function that raises
    answers RemoteHookFailed to its caller and is kept in `errors`: nothing is raised in these threads."""

    def __init__(self):
        self._authkey = os.urandom(32)
        self._listener = multiprocessing.connection.Listener(("127.0.0.1", 0), authkey=self._authkey)
        self.address = self._listener.address
        self.errors = []
        self._functions = {}
        self._released = set()
        self._busy = {}  # hook id -> calls being served
        self._ids = itertools.count(1)
        self._idle = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def register(self, function):
        with self._idle:
            hook_id = next(self._ids)
            self._functions[hook_id] = function
        return RemoteHook(self.address, self._authkey, hook_id)

    def release(self, hooks):
        """Waits until no call of these hooks is being served, then forgets them: a call that comes later (sent
        by a task killed meanwhile) is not run."""
        ids = set(hook.hook_id for hook in hooks)
        with self._idle:
            self._idle.wait_for(lambda: not any(self._busy.get(i) for i in ids))
            for hook_id in ids:
                self._functions.pop(hook_id, None)
            self._released |= ids

    def close(self):
        self._closed = True
        try:  # accept() does not wake up when the listener is closed under it
            multiprocessing.connection.Client(self.address, authkey=self._authkey).close()
        except OSError:
            pass
        self._listener.close()

    def _accept(self):
        while not self._closed:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError, multiprocessing.AuthenticationError):
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        with connection:
            while True:
                try:
                    hook_id, args = connection.recv()
                except (EOFError, OSError):
                    return  # the worker is done, or died
                reply = self._call(hook_id, args)
                try:
                    connection.send(reply)
                except OSError:
                    return  # the worker died waiting (its task is run again, or the job failed)

    def _call(self, hook_id, args):
        with self._idle:
            function = self._functions.get(hook_id)
            if function is None:
                if hook_id not in self._released:
                    self.errors.append("no hook %d" % hook_id)
                return ("error", "hook %d is released: its run has ended" % hook_id)
            self._busy[hook_id] = self._busy.get(hook_id, 0) + 1
        try:
            return ("ok", function(*args))
        except BaseException as error:  # noqa: BLE001 - answered to the worker, never raised in this thread
            self.errors.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
            return ("error", "%s: %s" % (type(error).__name__, error))
        finally:
            with self._idle:
                self._busy[hook_id] -= 1
                self._idle.notify_all()


_HOOK_CONNECTIONS = threading.local()


class RemoteHook(object):
    """A HookServer's function, callable in any process (picklable); one connection per thread."""

    def __init__(self, address, authkey, hook_id):
        self.address = address
        self.authkey = authkey
        self.hook_id = hook_id

    def __call__(self, *args):
        connections = _HOOK_CONNECTIONS.__dict__.setdefault("open", {})
        connection = connections.get(self.address)
        if connection is None:
            connection = multiprocessing.connection.Client(self.address, authkey=self.authkey)
            connections[self.address] = connection
        try:
            connection.send((self.hook_id, args))
            status, value = connection.recv()
        except (EOFError, OSError):
            del connections[self.address]
            raise
        if status != "ok":
            raise RemoteHookFailed(value)
        return value


class RemoteClientFactory(object):
    """spark_apply.WriterSpec.client_factory (picklable): in the worker, a DynamoDB client of the endpoint the
    test process uses (a worker keeps the environment it was spawned with), wrapped in a FlakyDynamoDB whose
    calls of `methods` first ask `hook` (FlakyDynamoDB.remote's decide): None goes on; (how, message) crashes:
    "request" raises RuntimeError (a request failing for good), "raise" HardCrash, "exit" ends the process."""

    def __init__(self, hook=None, methods=()):
        self.hook = hook
        self.methods = list(methods)
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")

    def __call__(self):
        if self.endpoint:
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.endpoint
        client = aws_clients.dynamodb_client()
        if self.hook is None:
            return client
        return FlakyDynamoDB(client, before=dict((method, _RemoteBefore(self.hook, method)) for method in self.methods))


class _RemoteBefore(object):
    def __init__(self, hook, method):
        self.hook = hook
        self.method = method

    def __call__(self, kwargs, _number):
        crash = self.hook(self.method, kwargs)
        if crash is None:
            return
        how, message = crash
        if how == "exit":
            os._exit(HARD_EXIT_CODE)
        raise HardCrash(message) if how == "raise" else RuntimeError(message)


class RemoteDeadline(object):
    """A spark_apply task deadline (start() gives out_of_time()) kept by a clock of the test process, which a
    hook reads: the fake clocks whose jumps spend a run's time budget reach its tasks. `ends` is on that clock."""

    def __init__(self, hook, ends):
        self.hook = hook
        self.ends = ends

    def start(self):
        return lambda: bool(self.hook(self.ends))


class SpreadRuns(object):
    """Runs apply-changes spread over worker processes (spark_apply.SparkSpread on
    local_spark.ProcessSparkContext) while the test's closures keep deciding what happens: the
    replicator's FlakyDynamoDB hooks and crashes, and its clock, reach the tasks through a HookServer.
    ProcessSparkContexts are kept and reused (spawning a worker costs about 0.5 s), one for each run
    going on at once: nested runs started from a hook and concurrent runs get their own."""

    def __init__(self, processes=2):
        self.processes = processes
        self.hooks = HookServer()
        self._free = []
        self._contexts = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def spread(self, replicator, settings, clock=None, hard="raise", max_failures=4, max_tasks=1, keys_per_task=1000,
               chunk_workers=None):
        """Yields a SpreadRun for one apply.run(..., spread=run.spread); on leaving, waits for the hooks still
        being served (a task killed mid-hook) and gives the context back. `clock`: the run's clock, when
        its jumps must stop the tasks (else each task's Deadline runs on real time)."""
        # Imported here: scripts that run the synthesized wheel (local_spark_job.py, steady_load.py) import
        # this module with only the wheel on their path, where glue-job/local_spark is not.
        import local_spark
        from backup_replication import spark_apply
        with self._lock:
            sc = self._free.pop() if self._free else None
        if sc is None:
            sc = local_spark.ProcessSparkContext(self.processes)
            self._contexts.append(sc)
        sc.max_failures = max_failures
        hooks = []
        run = SpreadRun(None, sc, len(sc.jobs))
        try:
            client = replicator.client
            factory = client.remote(self.hooks, hard) if isinstance(client, FlakyDynamoDB) else RemoteClientFactory()
            if factory.hook is not None:
                hooks.append(factory.hook)
            deadline = spark_apply.Deadline.after
            if clock is not None:
                hooks.append(self.hooks.register(lambda ends: clock() >= ends))
                deadline = lambda seconds_left, hook=hooks[-1]: RemoteDeadline(hook, clock() + seconds_left)  # noqa: E731
            run.spread = spark_apply.SparkSpread(sc, spark_apply.WriterSpec.of(replicator, None, factory), max_tasks,
                                                 keys_per_task, settings.keys_per_chunk,
                                                 chunk_workers or settings.chunk_workers, deadline)
            yield run
        finally:
            self.hooks.release(hooks)
            run.jobs = sc.jobs[run.jobs_before:]
            with self._lock:
                self._free.append(sc)

    def close(self):
        for sc in self._contexts:
            sc.stop()
        self.hooks.close()


class WithSpreadRuns(object):
    """Mixin for a TestCase: `spread_runs`, a SpreadRuns for the class (its worker processes spawned once)."""

    @classmethod
    def setUpClass(cls):
        super(WithSpreadRuns, cls).setUpClass()
        cls.spread_runs = SpreadRuns(processes=2)

    @classmethod
    def tearDownClass(cls):
        cls.spread_runs.close()
        super(WithSpreadRuns, cls).tearDownClass()


class SpreadRun(object):
    """One spread run: its SparkSpread, and once it has ended the jobs its context ran (local_spark's
    records: tasks, attempts, failures)."""

    def __init__(self, spread, sc, jobs_before):
        self.spread = spread
        self.sc = sc
        self.jobs_before = jobs_before
        self.jobs = []

    def task_failures(self):
        return [failure for job in self.jobs for failure in job["failures"]]

    def uninjected_failures(self):
        """Task failures no injected crash explains (those are real errors, whatever Spark's retry made of them)."""
        return [failure for failure in self.task_failures()
                if "HardCrash: injected crash" not in failure and "exit code %d)" % HARD_EXIT_CODE not in failure]


class FakeRDD(object):
    def __init__(self, context, partitions):
        self.context = context
        self.partitions = partitions

    def mapPartitions(self, function):
        # Like Spark, the function travels to the executors serialised: it must pickle.
        shipped = pickle.loads(pickle.dumps(function))
        self.context.shipped.append(shipped)
        return FakeRDD(self.context, [list(shipped(iter(p))) for p in self.partitions])

    def collect(self):
        return [value for partition in self.partitions for value in partition]


class FakeSparkContext(object):
    """Enough of SparkContext for spark_segments: partitions run in-process, one after another."""

    def __init__(self, default_parallelism=2, conf=None):
        self.defaultParallelism = default_parallelism
        self._conf = dict(conf or {})
        self.parallelize_calls = []
        self.shipped = []

    def getConf(self):
        return FakeConf(self._conf)

    def setJobGroup(self, group, description, interrupt_on_cancel=False):  # noqa: N802 - pyspark's naming
        pass

    def cancelJobGroup(self, group):  # noqa: N802 - pyspark's naming
        pass

    def parallelize(self, data, numSlices=None):
        data = list(data)
        slices = numSlices or self.defaultParallelism
        self.parallelize_calls.append((data, slices))
        # Spark's ParallelCollectionRDD split: partition i gets data[i*n//k:(i+1)*n//k].
        n = len(data)
        partitions = [data[i * n // slices:(i + 1) * n // slices] for i in range(slices)]
        return FakeRDD(self, partitions)


class FakeConf(object):
    def __init__(self, values):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


class LogCapture(object):
    def __init__(self):
        self.events = []

    def __call__(self, event, **fields):
        record = {"event": event}
        record.update(fields)
        self.events.append(record)

    def named(self, event):
        return [e for e in self.events if e["event"] == event]


def run_main(main, argv, **kwargs):
    """Run an entry point's main(argv) in-process: (return value, exit code, stdout, stderr)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    code, value = 0, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            value = main(argv, **kwargs)
        except SystemExit as exit_:
            code = exit_.code
    return value, code, out.getvalue(), err.getvalue()


def run_main_failing(main, argv, **kwargs):
    """Like run_main for a run expected to raise: (exception or None, exit code, stdout, stderr)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    code, caught = 0, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv, **kwargs)
        except SystemExit as exit_:
            code = exit_.code
        except Exception as error:  # noqa: BLE001 - returned to the test
            caught = error
    return caught, code, out.getvalue(), err.getvalue()


def json_lines(text):
    import json
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


_MANIFESTS_PUT = itertools.count(1)


def manifest_keys(client, bucket, name):
    """The key ids a manifest under `name` holds."""
    from backup_replication import manifest_format, table_keys
    body = client.get_object(Bucket=bucket, Key=name)["Body"].read()
    document = json.loads(body)
    return [table_keys.key_id(k) for k in document["keys"]]


_SCRATCH = []


def scratch_dir():
    """A temporary folder for the test process, removed at exit."""
    if not _SCRATCH:
        import atexit
        import shutil
        import tempfile
        _SCRATCH.append(tempfile.mkdtemp(prefix="glue-job-tests-"))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def put_manifest(client, bucket, prefix, keys, **kwargs):
    """Puts a manifest named as the Lambda names them (time order): each one put sorts after the last."""
    from backup_replication import manifest_format
    kwargs.setdefault("order", manifest_format.order_from(1767225600, next(_MANIFESTS_PUT)))
    name, body = manifest_format.build_manifest(keys, **kwargs)
    client.put_object(Bucket=bucket, Key=prefix + name, Body=body)
    return prefix + name


# Request parameters that change the IAM action a call is authorized with: a specific version of an
# object is read with s3:GetObjectVersion and deleted with s3:DeleteObjectVersion.
_AUTHORIZING_PARAMETERS = (("VersionId",), ("CopySource", "VersionId"))


def iam_operation(name, kwargs):
    """A call's operation as record_iam_surface records it: the boto3 name, then in brackets the request
    parameters of _AUTHORIZING_PARAMETERS it carried, e.g. copy_object[CopySource.VersionId]."""
    carried = []
    for path in _AUTHORIZING_PARAMETERS:
        value = kwargs
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value:
            carried.append(".".join(path))
    return "%s[%s]" % (name, ",".join(carried)) if carried else name


def batch_manifest(batch, retain=True, order=None):
    """The manifest the change-trigger writes for one batch of stream records, each (sequence number, key,
    event name, old image, time, ...) in stream order: (name, body, {key id: the key's last record},
    removed entries), a removed entry for each key whose last record is a REMOVE (under retain only)."""
    from backup_replication import manifest_format
    last = {}
    for record in batch:
        last[table_keys.key_id(record[1])] = record
    removed = [(r[1], str(r[0]), r[3], r[4]) for r in last.values() if r[2] == "REMOVE"] if retain else []
    name, body = manifest_format.build_manifest([r[1] for r in batch], event_names=[r[2] for r in batch],
                                                first_sequence=batch[0][0], last_sequence=batch[-1][0],
                                                records=len(batch), removed=removed or None, order=order)
    return name, body, last, removed


def record_iam_surface(job, used, roles):
    """Writes the (operation, resource) pairs a job used to $GLUE_IAM_SURFACE_DIR/<job>.json, with the
    test's random resource names replaced by their roles (source, backup, manifests, rejected), so the
    jest side can check them against the IAM grants the stack synthesizes. Operations are named as
    iam_operation names them."""
    record_result(job, sorted([name, roles[where]] for name, where in used))


def record_result(name, data):
    """Writes `data` as JSON to $GLUE_IAM_SURFACE_DIR/<name>.json (the run's results, which jest reads:
    the IAM surfaces, and the metrics a run published for an alarm to be evaluated on)."""
    directory = os.environ.get("GLUE_IAM_SURFACE_DIR")
    if not directory:
        return
    with open(os.path.join(directory, name + ".json"), "w") as handle:
        json.dump(data, handle)


class _StandInServer(ThreadingHTTPServer):
    # A job keeps up to item_writer.REMOTE_WORKERS requests in flight; socketserver's backlog of 5 would
    # leave the rest waiting for a retried connection.
    request_queue_size = 128
    daemon_threads = True


class _StandIn(object):
    """A stdlib HTTP server in a thread that stands in for one AWS endpoint; as a context manager it
    points ENDPOINT_VARIABLE at itself while open and restores the variable on close."""

    ENDPOINT_VARIABLE = None

    def _respond(self, path, headers, raw):
        """(HTTP status, response headers, body bytes) of one POST."""
        raise NotImplementedError

    def _serve(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = stand_in._respond(self.path, self.headers, raw)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self._previous_endpoint = None
        self._server = _StandInServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self):
        self._previous_endpoint = os.environ.get(self.ENDPOINT_VARIABLE)
        os.environ[self.ENDPOINT_VARIABLE] = self.endpoint
        return self

    def __exit__(self, *_exc):
        self.close()

    def close(self):
        if self._previous_endpoint is None:
            os.environ.pop(self.ENDPOINT_VARIABLE, None)
        else:
            os.environ[self.ENDPOINT_VARIABLE] = self._previous_endpoint
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def comparable(value):
    """An item or typed value with the elements of every set sorted: DynamoDB keeps sets in no order
    (dynalite keeps the written order, DynamoDB Local its own), so tests compare this form."""
    if isinstance(value, dict):
        return dict((name, sorted(inner) if name in ("SS", "NS", "BS") and isinstance(inner, list) else comparable(inner))
                    for name, inner in value.items())
    if isinstance(value, list):
        return [comparable(inner) for inner in value]
    return value


class OnDynamoDbLocal(object):
    """Mixin for a TestCase: its tests, and the jobs they run (through AWS_ENDPOINT_URL_DYNAMODB), use
    AWS's DynamoDB Local instead of dynalite, where DynamoDB's own semantics are the question."""

    @classmethod
    def setUpClass(cls):
        cls._endpoint_before = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_local_endpoint()
        super(OnDynamoDbLocal, cls).setUpClass()

    @classmethod
    def tearDownClass(cls):
        super(OnDynamoDbLocal, cls).tearDownClass()
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = cls._endpoint_before


class TablePairTestCase(unittest.TestCase):
    """A DynamoDB client, an S3 client and a bucket for the class; a fresh source/backup table pair per test."""

    @classmethod
    def setUpClass(cls):
        cls.client = ddb()
        cls.s3 = s3()
        cls.bucket = create_bucket(cls.s3)

    def setUp(self):
        self.source, self.backup = create_table_pair(self.client)
        self.schema = schema_of(self.client, self.source)


class _QueryInput(object):
    """Decodes a query-protocol body (form-encoded, dotted names) into the operation's input structure by
    the service model's shapes, listing every way it breaks the model: unknown parameters, missing
    required members, strings outside their length, pattern or enum, lists outside their length, bad
    numbers. (botocore's ParamValidator checks structures; the query protocol flattens them first.)"""

    def __init__(self, shapes, params):
        self.shapes = shapes
        self.params = params
        # Every key and every dotted prefix of one, so that presence is one look-up.
        self.prefixes = set()
        for name in params:
            parts = name.split(".")
            self.prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
        self.used = set()
        self.problems = []

    def decode(self, shape_name, prefix=""):
        import re
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            value = {}
            for member, spec in shape.get("members", {}).items():
                key = prefix + "." + member if prefix else member
                if key in self.prefixes:
                    value[member] = self.decode(spec["shape"], key)
            for member in shape.get("required", []):
                if member not in value:
                    self.problems.append("%s: required member %s missing" % (prefix or shape_name, member))
            return value
        if kind == "list":
            items = []
            while "%s.member.%d" % (prefix, len(items) + 1) in self.prefixes:
                items.append(self.decode(shape["member"]["shape"], "%s.member.%d" % (prefix, len(items) + 1)))
            self._length(prefix, len(items), shape)
            return items
        raw = self.params.get(prefix)
        if raw is None:
            self.problems.append("%s: expected a %s value" % (prefix, kind))
            return None
        self.used.add(prefix)
        if kind == "string":
            self._length(prefix, len(raw), shape)
            if "enum" in shape and raw not in shape["enum"]:
                self.problems.append("%s: %r is not one of %s" % (prefix, raw, shape["enum"]))
            if "pattern" in shape and not re.match(shape["pattern"], raw):
                self.problems.append("%s: %r does not match %s" % (prefix, raw, shape["pattern"]))
            return raw
        if kind in ("double", "integer", "long"):
            try:
                return float(raw) if kind == "double" else int(raw)
            except ValueError:
                self.problems.append("%s: %r is not a %s" % (prefix, raw, kind))
                return None
        if kind == "timestamp":
            if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", raw):
                self.problems.append("%s: %r is not an ISO 8601 timestamp" % (prefix, raw))
            return raw
        if kind == "boolean":
            if raw not in ("true", "false"):
                self.problems.append("%s: %r is not a boolean" % (prefix, raw))
            return raw == "true"
        self.problems.append("%s: unexpected shape type %s" % (prefix, kind))
        return raw

    def _length(self, where, length, shape):
        if length < shape.get("min", 0) or ("max" in shape and length > shape["max"]):
            self.problems.append("%s: length %d outside %s..%s" % (where, length, shape.get("min", 0), shape.get("max", "")))

    def unknown(self):
        return sorted(set(self.params) - self.used - {"Action", "Version"})


class LocalCloudWatch(_StandIn):
    """Stands in for CloudWatch's PutMetricData (stdlib http.server in a thread), checking each request
    against botocore's own CloudWatch service model (botocore.loaders): the request must use one of the
    protocols the model lists and be shaped as that protocol says (awsJson1_0: POST /, `X-Amz-Target:
    <targetPrefix>.<operation>`, application/x-amz-json-1.0; smithy-rpc-v2-cbor: POST
    /service/<targetPrefix>/operation/<operation>, `smithy-protocol: rpc-v2-cbor`, CBOR body decoded with
    botocore's own decoder; query, the older boto3 of Glue's Python shell: POST / form-encoded with Action
    and Version, decoded by the model's shapes), be signed with SigV4 for the model's signing name, its
    input must pass the model's checks, and PutMetricData stay within its documented limits (1,000
    metrics, 1 MB). A bad request gets a 400 and its problems are kept in `requests`; fail_next() scripts
    errors. Use as a context manager: it sets AWS_ENDPOINT_URL_CLOUDWATCH while open."""

    ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_CLOUDWATCH"

    def __init__(self):
        import botocore.loaders
        import botocore.model
        self.raw_model = botocore.loaders.Loader().load_service_model("cloudwatch", "service-2")
        self.model = botocore.model.ServiceModel(self.raw_model)
        self.requests = []   # {"operation", "protocol", "body", "problems", "bytes", "plain_bytes"}
        self._failures = []  # (status, error code)
        self._lock = threading.Lock()
        self._serve()

    def _respond(self, path, headers, raw):
        status, protocol, code = self._answer(path, headers, raw)
        content_type, body = self._reply(protocol, status, code)
        extra = {"smithy-protocol": "rpc-v2-cbor"} if protocol == "smithy-rpc-v2-cbor" and status == 200 else {}
        return status, dict({"Content-Type": content_type}, **extra), body

    def fail_next(self, status, code):
        """Answer the next valid request with the error `code` and HTTP `status`."""
        with self._lock:
            self._failures.append((status, code))

    def put_metric_data(self):
        """Bodies of the valid PutMetricData requests."""
        return [r["body"] for r in self.requests if r["operation"] == "PutMetricData" and not r["problems"]]

    @staticmethod
    def _reply(protocol, status, code):
        if protocol == "query":
            ns = "http://monitoring.amazonaws.com/doc/2010-08-01/"
            if status == 200:
                text = ('<PutMetricDataResponse xmlns="%s"><ResponseMetadata><RequestId>local</RequestId>'
                        "</ResponseMetadata></PutMetricDataResponse>" % ns)
            else:
                text = ('<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>rejected by the '
                        "stand-in</Message></Error><RequestId>local</RequestId></ErrorResponse>" % (ns, code))
            return "text/xml", text.encode("utf-8")
        if status != 200:
            return "application/x-amz-json-1.0", json.dumps({"__type": code, "message": "rejected by the stand-in"}).encode()
        if protocol == "smithy-rpc-v2-cbor":
            return "application/cbor", b"\xa0"  # CBOR: an empty map
        return "application/x-amz-json-1.0", b"{}"

    def _decode(self, path, headers, raw, problems):
        """(protocol, operation, body) of a request, by the protocol it claims."""
        from urllib.parse import parse_qsl
        prefix = self.model.metadata.get("targetPrefix", "")  # (a query-only model has none)
        content_type = headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/cbor":
            # Only a botocore that speaks CBOR has its parser (Debian 12's 1.29 speaks query).
            from botocore.parsers import BaseCBORParser
            if headers.get("smithy-protocol") != "rpc-v2-cbor":
                problems.append("smithy-protocol header %r" % headers.get("smithy-protocol"))
            route = "/service/%s/operation/" % prefix
            operation = path[len(route):] if path.startswith(route) else None
            parser = BaseCBORParser()
            return "smithy-rpc-v2-cbor", operation, parser.parse_data_item(parser.get_peekable_stream_from_bytes(raw))
        if content_type == "application/x-amz-json-1.0":
            if path != "/":
                problems.append("path is %r, not /" % path)
            target = headers.get("X-Amz-Target", "")
            operation = target[len(prefix) + 1:] if target.startswith(prefix + ".") else None
            return "json", operation, json.loads(raw.decode("utf-8"))
        if content_type == "application/x-www-form-urlencoded":
            if path != "/":
                problems.append("path is %r, not /" % path)
            params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            operation = params.get("Action")
            if params.get("Version") != self.model.api_version:
                problems.append("version %r is not %s" % (params.get("Version"), self.model.api_version))
            if operation not in self.model.operation_names:
                return "query", operation, None
            query = _QueryInput(self.raw_model["shapes"], params)
            body = query.decode(self.model.operation_model(operation).input_shape.name)
            problems.extend(query.problems)
            problems.extend("unknown parameter %s" % name for name in query.unknown())
            return "query", operation, body
        problems.append("content type %r is none of this stand-in's protocols" % content_type)
        return None, None, None

    def _answer(self, path, headers, raw):
        """(HTTP status, protocol, error code) for a request, recorded in `requests`."""
        import gzip
        from botocore.validate import ParamValidator
        problems = []
        sent = len(raw)
        if headers.get("Content-Encoding") == "gzip":  # botocore compresses large PutMetricData bodies
            raw = gzip.decompress(raw)
        try:
            protocol, operation, body = self._decode(path, headers, raw, problems)
        except Exception as error:  # noqa: BLE001 - a body that does not decode is the request's problem
            protocol, operation, body = None, None, None
            problems.append("body does not decode: %s" % error)
        if protocol is not None and protocol not in self.model.metadata.get("protocols", [self.model.protocol]):
            problems.append("protocol %s is not one the model lists" % protocol)
        if operation not in self.model.operation_names:
            problems.append("no operation %r in the model" % (operation,))
        elif not isinstance(body, dict):
            problems.append("body is not an object")
        elif protocol != "query":  # (the query decoder checked the shapes itself)
            report = ParamValidator().validate(body, self.model.operation_model(operation).input_shape)
            if report.has_errors():
                problems.append(report.generate_report())
        if operation == "PutMetricData" and isinstance(body, dict):  # the documented request limits
            if len(body.get("MetricData", [])) > 1000:
                problems.append("%d metrics in one request (at most 1000)" % len(body["MetricData"]))
            if sent > 1024 * 1024:
                problems.append("request body of %d bytes (at most 1 MB)" % sent)
        if "/%s/aws4_request" % self.model.signing_name not in headers.get("Authorization", ""):
            problems.append("not signed with SigV4 for %s" % self.model.signing_name)
        with self._lock:
            self.requests.append({"operation": operation, "protocol": protocol, "body": body, "problems": problems,
                                  "bytes": sent, "plain_bytes": len(raw)})
            failure = self._failures.pop(0) if self._failures and not problems else None
        if problems:
            return 400, protocol, "InvalidParameterValue"
        if failure is not None:
            return failure[0], protocol, failure[1]
        return 200, protocol, None


class RecordedClients(object):
    """Mixin for a TestCase: every DynamoDB and S3 client the jobs build is a FlakyDynamoDB proxy (which
    records the calls it forwards); `used()` gives the (operation, table or bucket) pairs called."""

    def setUp(self):
        super(RecordedClients, self).setUp()
        self.proxies = []
        self._originals = (aws_clients.dynamodb_client, aws_clients.s3_client)

        def recorded(factory):
            def build(region=None):
                proxy = FlakyDynamoDB(factory(region))
                self.proxies.append(proxy)
                return proxy
            return build

        aws_clients.dynamodb_client = recorded(self._originals[0])
        aws_clients.s3_client = recorded(self._originals[1])

    def tearDown(self):
        aws_clients.dynamodb_client, aws_clients.s3_client = self._originals
        super(RecordedClients, self).tearDown()

    def calls(self, name):
        return [kw for proxy in self.proxies for n, kw in proxy.calls if n == name]

    def used(self, prefixes=False):
        """(operation, table or bucket) pairs; with prefixes, an object call names <bucket>/<its key's first
        folder>/ instead of the bucket (several prefixes of one bucket are several resources)."""
        pairs = set()
        for name, kwargs in [call for proxy in self.proxies for call in proxy.calls]:
            if "RequestItems" in kwargs:
                where = ",".join(sorted(kwargs["RequestItems"]))
            else:
                where = kwargs.get("TableName") or kwargs.get("Bucket")
                if prefixes and "Key" in kwargs:
                    where = "%s/%s/" % (where, kwargs["Key"].split("/")[0])
            pairs.add((iam_operation(name, kwargs), where))
        return pairs


class LocalSqs(_StandIn):
    """Stands in for SQS's GetQueueUrl and GetQueueAttributes, in the protocol botocore's model gives SQS
    (JSON; query in an older botocore such as Debian 12's), answering with `messages` visible messages;
    each request is kept in `requests` as (target, body), a query request as the JSON one would be. Use as
    a context manager: it sets AWS_ENDPOINT_URL_SQS while open."""

    ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_SQS"

    def __init__(self, messages=0):
        import botocore.loaders
        model = botocore.loaders.Loader().load_service_model("sqs", "service-2")
        self.target_prefix = model["metadata"].get("targetPrefix", "AmazonSQS")
        self.messages = messages
        self.requests = []
        self._serve()

    def _respond(self, path, headers, raw):
        if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return self._respond_query(raw)
        body = json.loads(raw or b"{}")
        target = headers.get("X-Amz-Target", "")
        self.requests.append((target, body))
        if target == self.target_prefix + ".GetQueueUrl" and "QueueName" in body:
            status, reply = 200, {"QueueUrl": "%s/000000000000/%s" % (self.endpoint, body["QueueName"])}
        elif target != self.target_prefix + ".GetQueueAttributes" or "QueueUrl" not in body:
            status, reply = 400, {"__type": "com.amazonaws.sqs#InvalidAction", "message": target}
        else:
            status, reply = 200, {"Attributes": self._attributes()}
        return status, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(reply).encode("utf-8")

    def _attributes(self):
        return {"ApproximateNumberOfMessages": str(self.messages), "ApproximateNumberOfMessagesNotVisible": "0",
                "ApproximateNumberOfMessagesDelayed": "0"}

    def _respond_query(self, raw):
        from urllib.parse import parse_qsl
        params = dict(parse_qsl(raw.decode("utf-8")))
        action = params.get("Action", "")
        body = {key: value for key, value in params.items() if key in ("QueueName", "QueueUrl")}
        names = [params[key] for key in sorted((k for k in params if k.startswith("AttributeName.")), key=lambda k: int(k.split(".")[1]))]
        if names:
            body["AttributeNames"] = names
        self.requests.append((self.target_prefix + "." + action, body))
        if action == "GetQueueUrl" and "QueueName" in body:
            result = "<QueueUrl>%s/000000000000/%s</QueueUrl>" % (self.endpoint, body["QueueName"])
        elif action == "GetQueueAttributes" and "QueueUrl" in body:
            result = "".join("<Attribute><Name>%s</Name><Value>%s</Value></Attribute>" % item for item in self._attributes().items())
        else:
            error = ("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>%s</Message></Error>"
                     "<RequestId>local</RequestId></ErrorResponse>" % action)
            return 400, {"Content-Type": "text/xml"}, error.encode("utf-8")
        text = ('<{0}Response xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><{0}Result>{1}</{0}Result>'
                "<ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></{0}Response>").format(action, result)
        return 200, {"Content-Type": "text/xml"}, text.encode("utf-8")
