"""Batched DynamoDB reads and writes with bounded, counted retries.

- batch_get: BatchGetItem, at most 100 keys per request, ConsistentRead=True by default, keys deduplicated
  (batch_get_distinct: keys the caller already deduplicated).
- batch_write: BatchWriteItem, at most 25 put/delete requests per request, keys deduplicated (the last
  request for a key wins: DynamoDB rejects a batch that names one key twice) unless the caller says
  they are distinct.
- call: one DynamoDB call (Scan, DescribeTable, ...) with the same retry rules.

A table may be named by ARN (one of another account or region: aws_clients). Whether DynamoDB then keys
Responses / UnprocessedKeys / UnprocessedItems by the ARN or by the table's name, AWS does not document
(DynamoDB Local answers by the name): both are read, and any other key is refused (_of_table).

Retried: UnprocessedKeys / UnprocessedItems, the throttling and server errors in RETRYABLE_CODES, and
connection errors; with exponential backoff and full jitter (sleep = random(0, min(max_delay,
base_delay * 2**attempt))), the attempt counter restarting whenever a response makes progress. One
batch may keep retrying for at most RetryPolicy.max_elapsed seconds; then RetryBudgetExceeded is
raised: an item that cannot be written fails the run, it is never skipped. Any other error is raised
at once. Every retry is counted in Stats.retries.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import random
import time
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from . import table_keys
from .aws_clients import Client
from .table_keys import Item, Key, KeySchema

T = TypeVar("T")
# A BatchWriteItem request: {"PutRequest": {"Item": item}} or {"DeleteRequest": {"Key": key}}.
WriteRequest = dict[str, Any]

MAX_GET_KEYS = 100
MAX_WRITE_REQUESTS = 25

RETRYABLE_CODES = frozenset([
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
])


class ReplicationError(RuntimeError):
    """The backup could not be brought in line with the source; the run must fail."""


class RetryBudgetExceeded(ReplicationError):
    """A batch was still not done when its retry time ran out."""


@dataclasses.dataclass(eq=False)
class Stats:
    """Counters of one run (or one pass, or one segment).

    read_requests: BatchGetItem and GetItem requests; write_requests: BatchWriteItem and PutItem
    requests. Under "retain" (conditional PutItem, see item_writer.py): condition_failures counts every
    failed condition, retained_skipped the retained writes that found the same or a newer deletion
    already in the backup, live_writes_dropped the live writes given up because the item was gone
    from the source and the backup held its retained last state."""

    FIELDS: ClassVar[tuple[str, ...]]  # the counters' names, in order (set below)

    scanned: int = 0
    puts: int = 0
    deletes: int = 0
    retries: int = 0
    read_requests: int = 0
    write_requests: int = 0
    scan_requests: int = 0
    verify_mismatches: int = 0
    retained_images: int = 0
    retained_skipped: int = 0
    condition_failures: int = 0
    live_writes_dropped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict((name, getattr(self, name)) for name in self.FIELDS)

    def add(self, other: Union[Stats, Mapping[str, Any]]) -> Stats:
        """Adds another Stats, or a dict holding its counters (from as_dict, or a segment's result)."""
        data = other.as_dict() if isinstance(other, Stats) else other
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
        return self

    def minus(self, earlier: Mapping[str, int]) -> dict[str, int]:
        """Counters accumulated since the snapshot `earlier` (a dict from as_dict)."""
        return dict((name, getattr(self, name) - earlier.get(name, 0)) for name in self.FIELDS)


Stats.FIELDS = tuple(field.name for field in dataclasses.fields(Stats))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; sleep/clock/rand are injectable for tests."""

    base_delay: float = 0.05
    max_delay: float = 5.0
    max_elapsed: float = 300.0
    sleep: Callable[[float], Any] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random

    def to_dict(self) -> dict[str, float]:
        """The limits alone (what a segment task ships to the executors: no functions)."""
        return {"base_delay": self.base_delay, "max_delay": self.max_delay, "max_elapsed": self.max_elapsed}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> RetryPolicy:
        return cls(data["base_delay"], data["max_delay"], data["max_elapsed"])


class _Backoff:
    """Retry state of one logical operation (one batch, or one call)."""

    def __init__(self, policy: RetryPolicy, stats: Stats, what: str) -> None:
        self.policy = policy
        self.stats = stats
        self.what = what
        self.started = policy.clock()
        self.attempt = 0
        self.retries = 0

    def progress(self) -> None:
        self.attempt = 0

    def wait(self, reason: str) -> None:
        elapsed = self.policy.clock() - self.started
        if elapsed >= self.policy.max_elapsed:
            raise RetryBudgetExceeded(
                "%s: gave up after %d retries in %.1f s (limit %.1f s); last reason: %s"
                % (self.what, self.retries, elapsed, self.policy.max_elapsed, reason))
        cap = min(self.policy.max_delay, self.policy.base_delay * (2 ** min(self.attempt, 30)))
        delay = self.policy.rand() * cap
        delay = min(delay, max(0.0, self.policy.max_elapsed - elapsed))
        self.attempt += 1
        self.retries += 1
        self.stats.retries += 1
        if delay > 0:
            self.policy.sleep(delay)


def _retryable(error: BaseException) -> Optional[str]:
    """A short reason string when `error` is worth retrying, else None."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return code if code in RETRYABLE_CODES else None
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return type(error).__name__
    return None


def _attempt(backoff: _Backoff, fn: Callable[..., T], kwargs: Mapping[str, Any]) -> T:
    """Call fn(**kwargs) until it returns, retrying retryable errors under `backoff`."""
    while True:
        try:
            return fn(**kwargs)
        except Exception as error:  # noqa: BLE001 - filtered by _retryable, else re-raised
            reason = _retryable(error)
            if reason is None:
                raise
            backoff.wait(reason)


def call(client_method: Callable[..., T], kwargs: Mapping[str, Any], stats: Stats, policy: RetryPolicy,
         what: Optional[str] = None) -> T:
    """One DynamoDB API call with retries on throttling / server / connection errors."""
    backoff = _Backoff(policy, stats, what or getattr(client_method, "__name__", "DynamoDB call"))
    return _attempt(backoff, client_method, kwargs)


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def identified(keys: Iterable[Key]) -> dict[str, Key]:
    """{key_id: key} of keys without duplicates (by key_id), first occurrence kept, order kept: a caller
    that needs the ids again keeps these instead of computing them once more per step."""
    result: dict[str, Key] = {}
    for key in keys:
        result.setdefault(table_keys.key_id(key), key)
    return result


def unique_keys(keys: Iterable[Key]) -> list[Key]:
    """Keys without duplicates (by key_id), first occurrence kept, order kept."""
    return list(identified(keys).values())


def projection(names: Sequence[str]) -> dict[str, Any]:
    """ProjectionExpression and ExpressionAttributeNames reading only the attributes `names`."""
    return {"ProjectionExpression": ", ".join("#k%d" % i for i in range(len(names))),
            "ExpressionAttributeNames": dict(("#k%d" % i, name) for i, name in enumerate(names))}


def _of_table(answer: Optional[Mapping[str, T]], table: str, name: str, what: str) -> Optional[T]:
    """The entry of a BatchGetItem / BatchWriteItem answer map (`what`: Responses, UnprocessedKeys,
    UnprocessedItems) for the one table the request named, by `table` (as named) or `name` (its name).
    Another key raises ReplicationError: read as "nothing", it would take present items for absent ones or
    drop unprocessed writes."""
    if not answer:
        return None
    found = answer.get(table)
    if found is None and name != table:
        found = answer.get(name)
    if len(answer) > 1 or found is None:
        raise ReplicationError("%s of a request on %s is keyed by %s" % (what, table, ", ".join(sorted(answer))))
    return found


def batch_get(client: Client, table: str, keys: Iterable[Key], schema: KeySchema, stats: Stats, policy: RetryPolicy,
              consistent: bool = True, projected: Optional[Sequence[str]] = None) -> dict[str, Item]:
    """Current items for `keys`: {key_id: item}; a key absent from the table is absent from the dict.
    `projected`: only these attributes (they must include the key attributes)."""
    return batch_get_distinct(client, table, unique_keys(keys), schema, stats, policy, consistent, projected)


def batch_get_distinct(client: Client, table: str, keys: Sequence[Key], schema: KeySchema, stats: Stats,
                       policy: RetryPolicy, consistent: bool = True,
                       projected: Optional[Sequence[str]] = None) -> dict[str, Item]:
    """batch_get of keys already without duplicates (DynamoDB refuses a request naming a key twice)."""
    found: dict[str, Item] = {}
    name = table_keys.table_name(table)
    for chunk in _chunks(keys, MAX_GET_KEYS):
        request = {table: dict({"Keys": list(chunk), "ConsistentRead": bool(consistent)},
                               **(projection(projected) if projected else {}))}
        backoff = _Backoff(policy, stats, "BatchGetItem on %s" % table)
        while True:
            stats.read_requests += 1
            response = _attempt(backoff, client.batch_get_item, {"RequestItems": request})
            items = _of_table(response.get("Responses"), table, name, "Responses") or []
            for item in items:
                found[table_keys.key_id(table_keys.extract_key(item, schema))] = item
            unprocessed = _of_table(response.get("UnprocessedKeys"), table, name, "UnprocessedKeys")
            if not unprocessed or not unprocessed.get("Keys"):
                break
            if items:
                backoff.progress()
            backoff.wait("%d unprocessed keys" % len(unprocessed["Keys"]))
            request = {table: unprocessed}
    return found


def put_request(item: Item) -> WriteRequest:
    return {"PutRequest": {"Item": item}}


def delete_request(key: Key) -> WriteRequest:
    return {"DeleteRequest": {"Key": key}}


def _request_key(request: WriteRequest, schema: KeySchema) -> Key:
    if "PutRequest" in request:
        return table_keys.extract_key(request["PutRequest"]["Item"], schema)
    if "DeleteRequest" in request:
        return request["DeleteRequest"]["Key"]
    raise ValueError("not a BatchWriteItem request: %r" % (request,))


def dedupe_requests(requests: Iterable[WriteRequest], schema: KeySchema) -> list[WriteRequest]:
    """One request per key (the last one given for it), in first-seen order of the keys."""
    by_key: dict[str, WriteRequest] = {}
    for request in requests:
        by_key[table_keys.key_id(_request_key(request, schema))] = request
    return list(by_key.values())


def _validation_error(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ValidationException"


def batch_write(client: Client, table: str, requests: Iterable[WriteRequest], schema: KeySchema, stats: Stats,
                policy: RetryPolicy, refused: Optional[dict[str, str]] = None, workers: int = 1,
                distinct: bool = False) -> None:
    """Apply put/delete requests to `table`; returns when every one is processed, else raises.
    distinct=True: the requests already name distinct keys, so they are not deduplicated again.

    With a `refused` dict: a batch DynamoDB refuses as invalid (ValidationException: one item over 400 KB
    fails the whole batch) is written again one request per batch, and the requests refused alone are
    recorded as {key_id: reason} instead of raised, so one bad item never blocks the other 24.

    With workers > 1 the batches of 25 are sent that many at once (their keys are distinct after
    dedupe_requests, so their order does not matter); each counts into its own Stats, merged when all are
    done, and the first error is raised after every batch has ended."""
    chunks = list(_chunks(list(requests) if distinct else dedupe_requests(requests, schema), MAX_WRITE_REQUESTS))
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            _write_batch(client, table, chunk, schema, stats, policy, refused)
        return
    parts: list[tuple[Sequence[WriteRequest], Stats, Optional[dict[str, str]]]] = [
        (chunk, Stats(), None if refused is None else {}) for chunk in chunks]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(int(workers), len(chunks))) as pool:
        futures = [pool.submit(_write_batch, client, table, chunk, schema, local, policy, aside)
                   for chunk, local, aside in parts]
        errors = [future.exception() for future in futures]
    for _, local, aside in parts:
        stats.add(local)
        if aside and refused is not None:
            refused.update(aside)
    for error in errors:
        if error is not None:
            raise error


def _write_batch(client: Client, table: str, chunk: Sequence[WriteRequest], schema: KeySchema, stats: Stats,
                 policy: RetryPolicy, refused: Optional[dict[str, str]]) -> None:
    try:
        _write_chunk(client, table, chunk, stats, policy)
    except ClientError as error:
        if refused is None or not _validation_error(error):
            raise
        for request in chunk:
            try:
                _write_chunk(client, table, [request], stats, policy)
            except ClientError as alone:
                if not _validation_error(alone):
                    raise
                kid = table_keys.key_id(_request_key(request, schema))
                refused[kid] = "%s: %s" % ("ValidationException", alone.response.get("Error", {}).get("Message", ""))


def _write_chunk(client: Client, table: str, chunk: Sequence[WriteRequest], stats: Stats, policy: RetryPolicy) -> None:
    pending = list(chunk)
    name = table_keys.table_name(table)
    backoff = _Backoff(policy, stats, "BatchWriteItem on %s" % table)
    while True:
        stats.write_requests += 1
        response = _attempt(backoff, client.batch_write_item, {"RequestItems": {table: pending}})
        unprocessed = _of_table(response.get("UnprocessedItems"), table, name, "UnprocessedItems") or []
        if not unprocessed:
            break
        if len(unprocessed) < len(pending):
            backoff.progress()
        backoff.wait("%d unprocessed items" % len(unprocessed))
        pending = unprocessed
    for request in chunk:
        if "PutRequest" in request:
            stats.puts += 1
        else:
            stats.deletes += 1
