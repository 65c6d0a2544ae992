"""The shared writer: makes backup items match the source, for both jobs.

sync_keys(keys, retained=None): read the keys' CURRENT items from the source (consistent BatchGetItem),
transform, write them to the backup; a key absent from the source is deleted from the backup under
delete policy "mirror"; under "retain" it is left alone, or, when `retained` holds a last state for it
(a manifest's "removed" entry: the OldImage of its REMOVE record and the record's sequence number),
that state is written as a retained item (see retained.py).

copy_items(items): write items already read from the source (full-copy's scan).

prune(keys): delete backup keys that are absent from the source (full-copy's mirror-deletes pass; only
under "mirror").

How writes are made: under "mirror", BatchWriteItem (25 puts/deletes a request; no retained items exist).
Under "retain", every write is a conditional PutItem (item_writer.py): a retained item is only replaced
by a newer deletion (higher stream sequence number) or by a state read from the source after its
deletion, so the order of deletions in the stream decides, not the order writes land in.

Verification (on by default): after writing, the keys are read from the source again; a key whose
source item changed since the state the backup was written from is synced again, until the source item
read after our write equals the one we wrote from. Without it, two writers racing on one LIVE item (two
apply runs, or full-copy and apply) could end with the older one's write last and the backup stale with
no manifest left to fix it; with it, the last writer of every key has confirmed, after its write, that
the source still held what it wrote (a retained last state was written from "absent": if the item
reappears, the next round syncs it from the source). A key that keeps changing for max_rounds rounds
raises KeysSetAside (a ReplicationError, listing them, with the keys that cannot be written at all) after every other key has been settled:
full-copy fails on it; apply-changes keeps those keys' manifests for the next run.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

from . import ddb_batch
from . import item_writer
from . import retained as retained_module
from . import table_keys
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats, WriteRequest
from .item_writer import WriteOutcome, WriteTask
from .manifest_format import RemovedEntry
from .table_keys import Item, Key, KeySchema
from .transform import Transform

DELETE_POLICIES = ("retain", "mirror")
# BatchWriteItems of one call (e.g. apply-changes' chunk of 100 keys = 4 batches) sent at once under
# "mirror": one round trip per chunk instead of four.
BATCH_WRITE_WORKERS = 4


class KeysSetAside(ddb_batch.ReplicationError):
    """Keys this call could not settle, raised after every other key was settled: `hot` kept changing in
    the source for max_rounds rounds of read-write-verify; `unwritable` ({key_id: reason}) cannot be
    written at all (item_writer._Unwritable). `keys` lists them all (typed keys)."""

    def __init__(self, message: str, hot: Iterable[Key],
                 unwritable: Optional[Mapping[str, tuple[Key, str]]] = None) -> None:
        ddb_batch.ReplicationError.__init__(self, message)
        self.hot = list(hot)
        self.unwritable = dict((kid, reason) for kid, (_, reason) in (unwritable or {}).items())
        self.keys = list(hot) + [key for key, _ in (unwritable or {}).values()]


class Replicator:
    """Not frozen: apply-changes gives each chunk a copy with its own `stats`."""

    def __init__(self, client: Client, source_table: str, backup_table: str, schema: KeySchema, transform: Transform,
                 delete_policy: str, stats: Stats, policy: RetryPolicy, verify: bool = True, max_rounds: int = 20,
                 retained_attribute: str = retained_module.DEFAULT_ATTRIBUTE,
                 write_workers: int = item_writer.DEFAULT_WORKERS, batch_write_workers: int = BATCH_WRITE_WORKERS) -> None:
        if delete_policy not in DELETE_POLICIES:
            raise ValueError("delete policy must be retain or mirror, not %r" % (delete_policy,))
        transform.check_key_names(schema.names)
        retained_module.check_attribute_name(retained_attribute)
        transform.check_reserved(retained_attribute, "--retained_attribute")
        if retained_attribute in schema.names:
            raise ValueError("--retained_attribute %r is a key attribute of %s" % (retained_attribute, source_table))
        self.client = client
        self.source_table = source_table
        self.backup_table = backup_table
        self.schema = schema
        self.transform = transform
        self.delete_policy = delete_policy
        self.stats = stats
        self.policy = policy
        self.verify = verify
        self.max_rounds = max_rounds
        self.retained_attribute = retained_attribute
        self.batch_write_workers = max(1, int(batch_write_workers))
        self.writer = item_writer.ConditionalWriter(client, source_table, backup_table, schema, transform,
                                                    retained_attribute, policy, max_rounds, write_workers)

    # Keys travel as {key_id: key} (ddb_batch.identified) between the steps below: each id is computed once
    # per call, not once per step.

    def _read_source(self, keys: Mapping[str, Key]) -> dict[str, Item]:
        return ddb_batch.batch_get_distinct(self.client, self.source_table, list(keys.values()), self.schema,
                                            self.stats, self.policy, consistent=True)

    def _write(self, requests: Sequence[WriteRequest], refused: Optional[dict[str, str]] = None) -> None:
        """`requests`: one per key (each caller builds them from distinct keys)."""
        if requests:
            ddb_batch.batch_write(self.client, self.backup_table, requests, self.schema, self.stats, self.policy,
                                  refused=refused, workers=self.batch_write_workers, distinct=True)

    def _write_mirror(self, keys: Mapping[str, Key], current: Mapping[str, Item]) -> WriteOutcome:
        """BatchWriteItem puts and deletes; an item DynamoDB refuses is reported, not raised (one bad item
        never fails the other requests of its batch)."""
        requests: list[WriteRequest] = []
        for kid, key in keys.items():
            item = current.get(kid)
            if item is not None:
                requests.append(ddb_batch.put_request(self.transform.apply(item)))
            else:
                requests.append(ddb_batch.delete_request(key))
        refused: dict[str, str] = {}
        self._write(requests, refused)
        written: dict[str, Optional[Item]] = dict((kid, item) for kid, item in current.items() if kid not in refused)
        return written, [], refused

    def _write_round(self, keys: Mapping[str, Key], current: Mapping[str, Item],
                     retained: Mapping[str, RemovedEntry]) -> WriteOutcome:
        """Write each key's state; returns ({key_id: source state the backup reflects}, [hot keys],
        {key_id: why it cannot be written}).

        A key absent from the source with no last state is left alone, and counts as written from "absent"."""
        if self.delete_policy == "mirror":
            return self._write_mirror(keys, current)
        tasks: list[WriteTask] = []
        for kid, key in keys.items():
            item = current.get(kid)
            if item is not None:
                tasks.append((key, self.writer.write_live, item))
            elif kid in retained:
                tasks.append((key, self.writer.write_retained, retained[kid]))
        return self.writer.run(tasks, self.stats)

    def _changed_since(self, keys: Mapping[str, Key], read_before: Mapping[str, Optional[Item]]) -> dict[str, Key]:
        """Keys whose source item now differs from `read_before` ({key_id: item})."""
        if not self.verify or not keys:
            return {}
        now = self._read_source(keys)
        changed = dict((kid, key) for kid, key in keys.items()
                       if not table_keys.items_equal(now.get(kid), read_before.get(kid)))
        self.stats.verify_mismatches += len(changed)
        return changed

    def sync_keys(self, keys: Iterable[Key], retained: Optional[Mapping[str, RemovedEntry]] = None) -> None:
        """Make the backup hold the source's current state of `keys`.

        `retained` ({key_id: manifest_format.RemovedEntry}, only used under "retain"): the last state of keys
        deleted from the source, written when the key is absent. Once a read finds the key in the source,
        its entry is dropped (the item was re-inserted after that delete: the source wins; should it be
        deleted again, that later delete's own manifest entry gives its newer last state).
        """
        pending = ddb_batch.identified(keys)
        last_states: dict[str, RemovedEntry] = dict(retained or {}) if self.delete_policy == "retain" else {}
        hot: list[Key] = []
        unwritable: dict[str, tuple[Key, str]] = {}  # key_id -> (typed key, reason)
        rounds = 0
        while pending:
            rounds += 1
            if rounds > self.max_rounds:
                hot.extend(pending.values())
                break
            current = self._read_source(pending)
            for kid in current:
                last_states.pop(kid, None)
            written, hot_now, refused = self._write_round(pending, current, last_states)
            hot.extend(hot_now)
            for kid, key in pending.items():
                if kid in refused:
                    unwritable[kid] = (key, refused[kid])
            aside = set(table_keys.key_id(key) for key in hot_now) | set(refused)
            pending = self._changed_since(dict((kid, key) for kid, key in pending.items() if kid not in aside),
                                          written)
        self._raise_set_aside(hot, unwritable)

    def _raise_set_aside(self, hot: Sequence[Key], unwritable: Mapping[str, tuple[Key, str]]) -> None:
        if not hot and not unwritable:
            return
        parts = []
        if hot:
            parts.append("%d key(s) kept changing in %s during %d read-write-verify rounds, e.g. %s"
                         % (len(hot), self.source_table, self.max_rounds, table_keys.key_id(hot[0])))
        if unwritable:
            kid, (_, reason) = sorted(unwritable.items())[0]
            parts.append("%d key(s) cannot be written to %s, e.g. %s: %s"
                         % (len(unwritable), table_keys.table_name(self.backup_table), kid, reason))
        raise KeysSetAside("; ".join(parts), hot, unwritable)

    def copy_items(self, items: Sequence[Item]) -> None:
        """Write scanned source items to the backup, then verify them against the source."""
        if not items:
            return
        scanned: dict[str, Item] = {}
        keys: dict[str, Key] = {}
        for item in items:
            key = table_keys.extract_key(item, self.schema)
            kid = table_keys.key_id(key)
            scanned[kid] = item
            keys.setdefault(kid, key)
        if self.delete_policy == "mirror":
            written, hot, refused = self._write_mirror(keys, scanned)
        else:
            written, hot, refused = self.writer.run([(key, self.writer.write_live, scanned[kid])
                                                     for kid, key in keys.items()], self.stats)
        aside = set(table_keys.key_id(key) for key in hot) | set(refused)
        changed = self._changed_since(dict((kid, key) for kid, key in keys.items() if kid not in aside), written)
        unwritable = dict((kid, (key, refused[kid])) for kid, key in keys.items() if kid in refused)
        still_hot: list[Key] = []
        if changed or hot:
            try:
                self.sync_keys(list(changed.values()) + hot)
            except KeysSetAside as error:
                still_hot = error.hot
                unwritable.update((table_keys.key_id(k), (k, error.unwritable[table_keys.key_id(k)]))
                                  for k in error.keys if table_keys.key_id(k) in error.unwritable)
        self._raise_set_aside(still_hot, unwritable)

    def prune(self, keys: Iterable[Key]) -> None:
        """Delete from the backup those of `keys` that are absent from the source (delete policy "mirror").

        Never under "retain": there, a backup item absent from the source is a retained last state."""
        if self.delete_policy != "mirror":
            raise ValueError("prune deletes backup items absent from the source: only under delete policy mirror "
                             "(under retain they are the retained last states)")
        unique = ddb_batch.identified(keys)
        if not unique:
            return
        present = self._read_source(unique)
        absent = dict((kid, key) for kid, key in unique.items() if kid not in present)
        self._write([ddb_batch.delete_request(k) for k in absent.values()])
        changed = self._changed_since(absent, {})
        if changed:
            self.sync_keys(changed.values())


def table_key_schema(client: Client, source_table: str, stats: Stats, policy: RetryPolicy,
                     backup_table: Optional[str] = None) -> KeySchema:
    """The source's key schema (DescribeTable on the source).

    With backup_table, the backup is described too and must have the same key (KeySchemaError if not);
    full-copy does this (its role may describe both tables), apply-changes describes only the source.
    """
    tables = [source_table] + ([backup_table] if backup_table else [])
    schemas: list[KeySchema] = []
    for table in tables:
        response = ddb_batch.call(client.describe_table, {"TableName": table}, stats, policy,
                                  "DescribeTable %s" % table)
        schemas.append(table_keys.describe_key_schema(response))
    if backup_table and schemas[0] != schemas[1]:
        raise table_keys.KeySchemaError("backup table %s has key %r but source table %s has %r"
                                        % (table_keys.table_name(backup_table), schemas[1],
                                           table_keys.table_name(source_table), schemas[0]))
    return schemas[0]
