"""What the backup has not recorded yet, for a restore into the source.

The backup records a deletion (the retained marker, retained.py) only when apply-changes applies the
manifest that carries it. Until then a deleted item looks live in the backup, and writing it into the
source would undo a deletion the application made on purpose. So a restore into the source writes only
items whose deletion the backup has recorded, and only once the backup has caught up:

- gate (before the scan, once): the dead-letter queue is empty (a dead-lettered range may hold any
  key's later changes), nothing waits under the rejected prefix (a malformed manifest's changes were
  never applied), `delivery_seconds` have passed since the restore started (a stream record is in a
  manifest or dead-lettered by then: the Lambda's retries are bounded) and no manifest older than the
  restore's start is pending (names sort in time order: the first one listed tells). It waits up to
  `catch_up_seconds` for the last two; then the restore stops, saying what is behind.
- per key: the keys of quarantine objects are never written (their deletion may be unrecorded), and,
  right before each write, the keys named by any pending manifest are skipped as changed since the
  restore started (PendingKeys), as are keys whose marker the backup no longer holds at the version
  scanned.

What no check can see: a key the application re-creates and deletes again inside the pipeline's
delivery lag (the stream batch not yet in a manifest) just before the restore writes it. That window is
the batching window plus one invocation; the README's runbook says so.
"""

import manifests
import table_keys

DLQ_ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed")


class BackupNotCaughtUp(Exception):
    """The restore into the source cannot start: the message says what is behind and what to do."""


def dead_letters(sqs, queue_name):
    """Messages in the dead-letter queue (visible, in flight and delayed)."""
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(DLQ_ATTRIBUTES))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in DLQ_ATTRIBUTES)


def _first(s3, bucket, prefix):
    """The first object name under prefix (folder placeholders skipped), or None."""
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=prefix, MaxKeys=10)
    for entry in response.get("Contents", []):
        if not entry["Key"].endswith("/"):
            return entry
    return None


def check_caught_up(s3, sqs, settings, started, clock, sleep, log):
    """Wait until the backup holds every change made before `started` (epoch seconds); raise
    BackupNotCaughtUp when it cannot, or not within settings.catch_up_seconds."""
    if settings.dead_letter_queue_name:
        count = dead_letters(sqs, settings.dead_letter_queue_name)
        if count:
            raise BackupNotCaughtUp(
                "the dead-letter queue holds %d message(s): stream ranges the backup never received, which may "
                "hold later changes of any key. Replay them first (README: \"A batch reached the dead-letter "
                "queue\"); a range gone from the stream cannot be replayed: judge it, then move its messages "
                "out of the queue, and run the restore again" % count)
    rejected = _first(s3, settings.manifest_bucket, settings.rejected_prefix)
    if rejected is not None:
        raise BackupNotCaughtUp(
            "malformed manifests wait under %s (e.g. %s): their changes were never applied. Repair and replay "
            "them, or judge and remove them (README: \"A manifest was rejected\"), then run the restore again"
            % (settings.rejected_prefix, rejected["Key"]))
    deadline = started + settings.catch_up_seconds
    while True:
        now = clock()
        oldest = _first(s3, settings.manifest_bucket, settings.manifest_prefix)
        behind = _behind(oldest, settings.manifest_prefix, started)
        if now >= started + settings.delivery_seconds and behind is None:
            log("restore_backup_caught_up", waited=round(now - started, 3))
            return
        if now >= deadline:
            what = behind or "the stream's last %.0f s may not be in a manifest yet" % settings.delivery_seconds
            raise BackupNotCaughtUp(
                "the backup has not caught up with the source after %.0f s (--catch_up_seconds): %s. Let "
                "apply-changes drain (the ApplyChanges alarms and the dashboard show why it is behind), then "
                "run the restore again" % (settings.catch_up_seconds, what))
        log("restore_waiting_for_backup", behind=behind, seconds_left=round(deadline - now, 3))
        sleep(min(settings.poll_seconds, max(0.0, deadline - now)))


def _behind(oldest, prefix, started):
    """Why the backup is behind `started` (the oldest pending manifest is older), or None."""
    if oldest is None:
        return None
    order = manifests.order_of(oldest["Key"], prefix, oldest.get("LastModified"))
    when = manifests.order_time(order) if order else None
    if when is not None and when >= int(started):
        return None
    return "manifest %s, of changes made before the restore started, is still pending" % oldest["Key"]


def quarantined_keys(s3, bucket, prefix, schema, limit):
    """The key ids of every quarantine object (each holds one key); BackupNotCaughtUp past `limit` objects."""
    keys = set()
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        response = s3.list_objects_v2(**kwargs)
        for entry in response.get("Contents", []):
            if entry["Key"].endswith("/"):
                continue
            if len(keys) >= limit:
                raise BackupNotCaughtUp(
                    "more than %d quarantine objects under %s: replay or resolve them first (README: \"A key "
                    "was quarantined\")" % (limit, prefix))
            got = manifests.read_manifest(s3, bucket, entry["Key"])
            if got is None:
                continue
            try:
                document = manifests.parse_manifest_document(got[0], schema)
            except manifests.ManifestError as error:
                raise BackupNotCaughtUp("quarantine object %s is not a manifest (%s): resolve it first"
                                        % (entry["Key"], error))
            keys.update(table_keys.key_id(k) for k in document.keys)
        if not response.get("IsTruncated"):
            return keys
        kwargs["ContinuationToken"] = response["NextContinuationToken"]


class PendingKeys(object):
    """The keys named by the manifests pending under the prefix, read again before each write: a key
    there changed after the backup's state was scanned. Manifest names are content hashes, so a name read
    once is never read again; names gone from the listing are forgotten (memory follows the backlog,
    which the gate found drained). Past `limit` names, every key counts as pending (nothing is written
    until apply-changes catches up)."""

    def __init__(self, s3, bucket, prefix, schema, limit=2000):
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.schema = schema
        self.limit = limit
        self.by_name = {}
        self.overflow = False

    def refresh(self):
        listed = manifests.list_manifests(self.s3, self.bucket, self.prefix, limit=self.limit + 1)
        names = set(entry.name for entry in listed)
        self.overflow = len(names) > self.limit
        for name in set(self.by_name) - names:
            del self.by_name[name]
        for name in names - set(self.by_name):
            got = manifests.read_manifest(self.s3, self.bucket, name)
            if got is None:
                continue  # applied meanwhile: the backup's marker check sees it
            try:
                keys = manifests.parse_manifest_document(got[0], self.schema).keys
            except manifests.ManifestError:
                self.overflow = True  # unreadable: its keys are unknown, so any key may be in it
                continue
            self.by_name[name] = frozenset(table_keys.key_id(k) for k in keys)
        return self

    def holds(self, kid):
        return self.overflow or any(kid in keys for keys in self.by_name.values())
