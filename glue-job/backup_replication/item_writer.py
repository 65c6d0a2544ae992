"""Conditional single-item writes of the backup under delete policy "retain".

Each write is a PutItem whose condition lets the stream order of deletions decide, whatever order the
writes arrive in (a run stopped or crashed mid-pass, manifests listed in any order, two runs at once,
full-copy racing apply-changes). With R the retained attribute (see retained.py) and V a version:

- retained write (the key is absent from the source, a manifest gives its last state at V):
  `attribute_not_exists(R) OR R.sequenceNumber < V`. A failed condition means the backup already holds
  the same or a newer deletion: skipped (counted in retained_skipped).
- live write (the key's item was read from the source, or scanned by full-copy):
  `attribute_not_exists(R)`: a live write never replaces a retained item blindly. When the condition
  fails, the backup holds a retained item: its version W is read (consistent GetItem of the backup)
  and THEN the source is read again (consistent). Absent: the live write is dropped (the retained item,
  or a later deletion still in a pending manifest, is right; live_writes_dropped). Present: since the
  delete at W happened before the retained write, which happened before W was read, which happened
  before this source read, the item was re-inserted after W: that fresh state is written with
  `R.sequenceNumber = W` (the backup still holds exactly what was seen). If that fails too (another
  writer got there first), round again, at most max_rounds times; then the key is reported as hot.
  (Reading the source before the backup would be wrong: a deletion W2 and its retained write could fall
  between the two reads, and the state read before W2 would then replace W2's retained item.)

Requests are one per item, so they go through a small thread pool (one boto3 client is thread-safe);
each task counts into its own Stats, merged into the caller's when all are done. Retries (throttling,
server and connection errors) are ddb_batch.call's; a failed condition is an answer, not an error.
A PutItem retried after a lost response is safe: every condition above is true again, or fails for a
state at least as new as the one being written.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Any, Callable, Optional, Sequence

from botocore.exceptions import ClientError

from . import ddb_batch
from . import job_log
from . import retained
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .manifest_format import RemovedEntry
from .table_keys import Item, Key, KeySchema
from .transform import Transform

# One write of ConditionalWriter.run: (key, write function, its argument). The function is called as
# function(key, argument, stats) and returns the source state the backup now reflects (None: absent).
WriteFunction = Callable[[Key, Any, Stats], Any]
WriteTask = tuple[Key, WriteFunction, Any]
# What ConditionalWriter.run returns: ({key_id: state the backup reflects}, [hot keys], {key_id: why it
# cannot be written}).
WriteOutcome = tuple[dict[str, Optional[Item]], list[Key], dict[str, str]]

CONDITION_FAILED = "ConditionalCheckFailedException"
DEFAULT_WORKERS = 8
# A writer keeps a core busy while its writes in flight cover a round trip: 8 do in the job's region.
# A backup in another region, 70 ms away, takes full-copy's chunk of 100 (scan_copy.WRITE_CHUNK) in two
# round trips with 50, where 8 took 13 (measured: docs/capacity.md, "A backup in another region").
REMOTE_WORKERS = 50


def workers_for(backup_table: str, region: Optional[str]) -> int:
    """The writes in flight of one writer of `backup_table` (a name or an ARN) by a client of `region`
    (the client's own, resolved: `--region ""` leaves it to the SDK's default)."""
    backup_region = table_keys.table_ref(backup_table).region
    return REMOTE_WORKERS if backup_region is not None and backup_region != region else DEFAULT_WORKERS

_LIVE = "attribute_not_exists(#r)"
_RETAINED = "attribute_not_exists(#r) OR #r.#s < :v"
_REPLACE_RETAINED = "#r.#s = :v"
# UpdateItem "adds a new item to the table if it does not already exist" (DynamoDB API Reference,
# UpdateItem): attribute_exists on the partition key keeps a marker from landing where no item is.
_MARK_DELETED = "attribute_exists(#k) AND attribute_not_exists(#r)"


class _KeptChanging(Exception):
    """A live write lost the race max_rounds times in a row."""


class _Unwritable(Exception):
    """An item DynamoDB refuses (ValidationException: over 400 KB with the marker, ...), or a key whose
    source item or backup item carries the retained attribute in a form the writes cannot order: set
    aside with its reason, never retried in a loop, never dropped silently."""


@dataclasses.dataclass(frozen=True)
class ConditionalWriter:
    """Conditional writes of one backup table (see the module docstring); `workers` writes at once."""

    client: Client
    source_table: str
    backup_table: str
    schema: KeySchema
    transform: Transform
    attribute: str
    policy: RetryPolicy
    max_rounds: int = 20
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        object.__setattr__(self, "workers", max(1, int(self.workers)))

    def _put(self, item: Item, condition: str, stats: Stats, value: Optional[str] = None) -> bool:
        """True when written, False when the condition failed."""
        names = {"#r": self.attribute}
        kwargs: dict[str, Any] = {"TableName": self.backup_table, "Item": item, "ConditionExpression": condition,
                  "ExpressionAttributeNames": names}
        if value is not None:
            names["#s"] = retained.SEQUENCE
            kwargs["ExpressionAttributeValues"] = {":v": {"S": value}}
        if not self._conditional(self.client.put_item, "PutItem", kwargs, stats):
            return False
        stats.puts += 1
        return True

    def _conditional(self, call: Callable[..., Any], operation: str, kwargs: dict[str, Any], stats: Stats) -> bool:
        """One conditional write to the backup: True when written, False when the condition failed;
        _Unwritable when DynamoDB refuses the request itself (ValidationException: e.g. over 400 KB)."""
        stats.write_requests += 1
        try:
            ddb_batch.call(call, kwargs, stats, self.policy, "%s on %s" % (operation, self.backup_table))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ValidationException":
                raise _Unwritable("%s refused: %s: %s"
                                  % (operation, code, error.response.get("Error", {}).get("Message", "")))
            if code != CONDITION_FAILED:
                raise
            stats.condition_failures += 1
            return False
        return True

    def _backup_version(self, key: Key, stats: Stats) -> Optional[str]:
        """The version of the backup's retained item (None: live or absent); _Unwritable when the backup
        item carries the attribute in another form (no condition could ever order writes against it)."""
        stats.read_requests += 1
        response = ddb_batch.call(self.client.get_item, {
            "TableName": self.backup_table, "Key": key, "ConsistentRead": True,
            "ProjectionExpression": "#r", "ExpressionAttributeNames": {"#r": self.attribute},
        }, stats, self.policy, "GetItem on %s" % self.backup_table)
        item = response.get("Item")
        found = retained.stored_version(item, self.attribute)
        if found is None and item and self.attribute in item:
            raise _Unwritable("the backup item carries %r (retainedAttribute) but not as a version "
                              "{M: {sequenceNumber: {S: 40 digits}}}: %r" % (self.attribute, item[self.attribute]))
        return found

    def _source_item(self, key: Key, stats: Stats) -> Optional[Item]:
        found = ddb_batch.batch_get(self.client, self.source_table, [key], self.schema, stats, self.policy)
        return found.get(table_keys.key_id(key))

    def _live_item(self, state: Item) -> Item:
        try:
            retained.check_source_item(state, self.attribute, self.schema)
        except retained.SourceItemHasRetainedAttribute as error:
            raise _Unwritable(str(error))
        return self.transform.apply(state)

    def write_live(self, key: Key, state: Item, stats: Stats) -> Optional[Item]:
        """Write a source state; returns the source state the backup now reflects (None: absent)."""
        for _ in range(self.max_rounds):
            if self._put(self._live_item(state), _LIVE, stats):
                return state
            seen = self._backup_version(key, stats)
            fresh = self._source_item(key, stats)
            if fresh is None:
                stats.live_writes_dropped += 1
                return None
            state = fresh
            if seen is None:  # the retained item was replaced by a live one meanwhile: a plain live write again
                continue
            if self._put(self._live_item(fresh), _REPLACE_RETAINED, stats, seen):
                return fresh
        raise _KeptChanging()

    def write_retained(self, key: Key, entry: RemovedEntry, stats: Stats) -> None:
        """Write a deleted item's last state (a manifest_format.RemovedEntry) unless a newer one is there.

        DynamoDB checks an item's size before its condition, so a last state too large for the marker is
        refused even when the backup already holds a newer deletion of the key: then the write has
        nothing to do (a stale replay), and only a refusal the backup cannot answer sets the key aside."""
        item = dict(self._live_item(entry.old_image))
        version = retained.version(entry.sequence)
        item[self.attribute] = retained.marker(entry.sequence, entry.deleted_at, entry.expired)
        try:
            written = self._put(item, _RETAINED, stats, version)
        except _Unwritable:
            seen = self._backup_version(key, stats)
            if seen is None or seen < version:
                raise
            written = False
        if written:
            stats.retained_images += 1
        else:
            self._backup_version(key, stats)  # the failed condition came from a newer version, not a malformed one
            stats.retained_skipped += 1
        return None

    def mark_deleted(self, key: Key, _argument: object, stats: Stats) -> bool:
        """Mark the backup's live item as a deleted item's last state at version 0 (its deletion is unknown:
        any recorded deletion is newer). Only the marker is written (UpdateItem), never the item's content,
        so whatever newer state another writer put there meanwhile stays as it is; an item already marked,
        or gone, is left alone. True when marked."""
        if not self._conditional(self.client.update_item, "UpdateItem", {
                "TableName": self.backup_table, "Key": key, "ConditionExpression": _MARK_DELETED,
                "UpdateExpression": "SET #r = :m",
                "ExpressionAttributeNames": {"#k": self.schema.names[0], "#r": self.attribute},
                "ExpressionAttributeValues": {":m": retained.marker(0)}}, stats):
            return False
        stats.retained_images += 1
        return True

    def run(self, tasks: Sequence[WriteTask], stats: Stats) -> WriteOutcome:
        """Run [(key, write function, argument)]; returns ({key_id: state the backup reflects}, [hot keys],
        {key_id: why it cannot be written}).

        Every task runs to its end before an error of any of them is raised (the first one; all are logged)."""
        def one(task: WriteTask) -> tuple[Key, Any, Stats, Optional[Exception]]:
            key, function, argument = task
            local = ddb_batch.Stats()
            try:
                return key, function(key, argument, local), local, None
            except _KeptChanging:
                return key, _KeptChanging, local, None
            except _Unwritable as error:
                return key, error, local, None
            except Exception as error:  # noqa: BLE001 - re-raised below, after the other tasks
                return key, None, local, error

        if len(tasks) <= 1:
            outcomes = [one(task) for task in tasks]
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
                outcomes = list(pool.map(one, tasks))
        written: dict[str, Optional[Item]] = {}
        hot: list[Key] = []
        unwritable: dict[str, str] = {}
        errors: list[Exception] = []
        for key, value, local, error in outcomes:
            stats.add(local)
            if error is not None:
                errors.append(error)
                job_log.log_event("write_failed", key=table_keys.key_id(key), error="%s: %s" % (type(error).__name__, error))
            elif value is _KeptChanging:
                hot.append(key)
            elif isinstance(value, _Unwritable):
                unwritable[table_keys.key_id(key)] = str(value)
            else:
                written[table_keys.key_id(key)] = value
        if errors:
            raise errors[0]
        return written, hot, unwritable
