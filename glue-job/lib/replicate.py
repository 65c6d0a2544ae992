"""The shared writer: makes backup items match the source, for both jobs.

sync_keys(keys, retained=None): read the keys' CURRENT items from the source (consistent BatchGetItem),
transform, write them to the backup (BatchWriteItem put); a key absent from the source is deleted from
the backup under delete policy "mirror"; under "retain" it is left alone, or, when `retained` holds a last
state for it (the OldImage of its REMOVE record, from a manifest's "removed" entry), that state is put.

copy_items(items): write items already read from the source (full-copy's scan).

prune(keys): delete backup keys that are absent from the source (full-copy's mirror-deletes pass).

Verification (on by default): after writing, the keys are read from the source again; a key whose
source item changed since it was read (or, for copy_items, since it was scanned) is synced again, until
the source item read after our write equals the one we wrote from. Without it, two writers racing on
one key (two apply runs, or full-copy and apply) could end with the older one's write last and the
backup stale with no manifest left to fix it; with it, the last writer of every key has confirmed,
after its write, that the source still held what it wrote (a retained last state was written from
"absent": if the item reappears, the next round syncs it from the source). A key that keeps changing for
max_rounds rounds raises KeysKeptChanging (a ReplicationError, listing them) after every other key has
been settled: full-copy fails on it; apply-changes keeps those keys' manifests for the next run.
"""

import ddb_batch
import table_keys

DELETE_POLICIES = ("retain", "mirror")


class KeysKeptChanging(ddb_batch.ReplicationError):
    """Some keys still changed in the source after max_rounds of read-write-verify; `keys` lists them.
    Every other key of the call was settled before this is raised."""

    def __init__(self, message, keys):
        ddb_batch.ReplicationError.__init__(self, message)
        self.keys = list(keys)


class Replicator(object):
    def __init__(self, client, source_table, backup_table, schema, transform, delete_policy,
                 stats, policy, verify=True, max_rounds=20):
        if delete_policy not in DELETE_POLICIES:
            raise ValueError("delete policy must be retain or mirror, not %r" % (delete_policy,))
        transform.check_key_names(schema.names)
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

    def _read_source(self, keys):
        return ddb_batch.batch_get(self.client, self.source_table, keys, self.schema, self.stats, self.policy,
                                   consistent=True)

    def _write(self, requests):
        if requests:
            ddb_batch.batch_write(self.client, self.backup_table, requests, self.schema, self.stats, self.policy)

    def _requests_for(self, keys, current, retained=None):
        requests = []
        for key in keys:
            kid = table_keys.key_id(key)
            item = current.get(kid)
            if item is not None:
                requests.append(ddb_batch.put_request(self.transform.apply(item)))
            elif self.delete_policy == "mirror":
                requests.append(ddb_batch.delete_request(key))
            elif retained and kid in retained:
                requests.append(ddb_batch.put_request(self.transform.apply(retained[kid])))
                self.stats.retained_images += 1
        return requests

    def _changed_since(self, keys, read_before):
        """Keys whose source item now differs from `read_before` ({key_id: item})."""
        if not self.verify or not keys:
            return []
        now = self._read_source(keys)
        changed = []
        for key in keys:
            kid = table_keys.key_id(key)
            if not table_keys.items_equal(now.get(kid), read_before.get(kid)):
                changed.append(key)
        self.stats.verify_mismatches += len(changed)
        return changed

    def sync_keys(self, keys, retained=None):
        """Make the backup hold the source's current state of `keys`.

        `retained` ({key_id: item}, only used under "retain"): the last state of keys deleted from the
        source, written when the key is absent. Once a read finds the key in the source, its retained
        state is dropped (the item was re-inserted after that delete: the source wins).
        """
        pending = ddb_batch.unique_keys(keys)
        retained = dict(retained or {}) if self.delete_policy == "retain" else {}
        rounds = 0
        while pending:
            rounds += 1
            if rounds > self.max_rounds:
                raise KeysKeptChanging(
                    "%d key(s) kept changing in %s during %d read-write-verify rounds, e.g. %s"
                    % (len(pending), self.source_table, self.max_rounds, table_keys.key_id(pending[0])), pending)
            current = self._read_source(pending)
            for kid in current:
                retained.pop(kid, None)
            self._write(self._requests_for(pending, current, retained))
            pending = self._changed_since(pending, current)

    def copy_items(self, items):
        """Write scanned source items to the backup, then verify them against the source."""
        if not items:
            return
        scanned = {}
        keys = []
        requests = []
        for item in items:
            key = table_keys.extract_key(item, self.schema)
            scanned[table_keys.key_id(key)] = item
            keys.append(key)
            requests.append(ddb_batch.put_request(self.transform.apply(item)))
        self._write(requests)
        changed = self._changed_since(keys, scanned)
        if changed:
            self.sync_keys(changed)

    def prune(self, keys):
        """Delete from the backup those of `keys` that are absent from the source."""
        keys = ddb_batch.unique_keys(keys)
        if not keys:
            return
        present = self._read_source(keys)
        absent = [k for k in keys if table_keys.key_id(k) not in present]
        self._write([ddb_batch.delete_request(k) for k in absent])
        changed = self._changed_since(absent, {})
        if changed:
            self.sync_keys(changed)


def table_key_schema(client, source_table, stats, policy, backup_table=None):
    """The source's key schema (DescribeTable on the source).

    With backup_table, the backup is described too and must have the same key (KeySchemaError if not);
    full-copy does this (its role may describe both tables), apply-changes describes only the source.
    """
    tables = [source_table] + ([backup_table] if backup_table else [])
    schemas = []
    for table in tables:
        response = ddb_batch.call(client.describe_table, {"TableName": table}, stats, policy,
                                  "DescribeTable %s" % table)
        schemas.append(table_keys.describe_key_schema(response))
    if len(schemas) == 2 and schemas[0] != schemas[1]:
        raise table_keys.KeySchemaError("backup table %s has key %r but source table %s has %r"
                                        % (backup_table, schemas[1], source_table, schemas[0]))
    return schemas[0]
