"""What the backup has not recorded yet, for a restore into the source.

The backup records a deletion (the retained marker, retained.py) only when apply-changes applies the
manifest that carries it. Until then a deleted item looks live in the backup, and writing it into the
source would undo a deletion the application made on purpose. A change the stream delivered sits in
exactly one of these places until the backup records it: a manifest under the changes prefix (or the
remainder that replaced one), a quarantine object, a rejected manifest, or a dead letter. So a restore
into the source writes only items whose deletion the backup has recorded, and only:

- after the gate (before the scan, once): no dead letters, nothing under the rejected prefix,
  `delivery_seconds` passed since the restore started (a stream record is in a manifest or dead-lettered
  by then: the function's retries are bounded) and no manifest of changes made before the start pending
  (apply-changes has applied them); it waits up to `catch_up_seconds`, then the restore stops, saying
  what is behind;
- per chunk, right before its writes (Unrecorded.refresh): no dead letters, no rejected manifest (either
  holds every key back), none of its keys named by a pending manifest or a quarantine object, and each
  key's marker still the one scanned (restore_copy.py reads it).

What no check can see: a key the application re-creates and deletes again inside the pipeline's
delivery lag (the stream batch not yet in a manifest, or a dead letter SQS does not count yet) just
before the restore writes it; the README's runbook says how long that is.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from . import job_args
from . import manifest_format
from . import manifest_store
from . import table_keys
from .aws_clients import Client
from .job_log import LogFunction
from .table_keys import KeySchema

# A stream record's ApproximateCreationDateTime is rounded down: to the second on AWS (DynamoDB API
# Reference, StreamRecord), to the minute on DynamoDB Local. The window of deletions restored into the
# source ends at least this long before the restore starts, so that no deletion made while it runs can
# carry a time inside the window, whichever rounding applies.
RECORD_TIME_MARGIN_SECONDS = 60
DLQ_ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                  "ApproximateNumberOfMessagesDelayed")
# What a chunk's check holds at most: past either, every key of the chunk waits (then counts as changed).
MAX_PENDING_MANIFESTS = 5000
MAX_PENDING_KEYS = 500000
# Listings taken at most per chunk before one holds every name the one before held.
MAX_LISTINGS = 6
QUARANTINED = "quarantined"
CHANGED_SINCE_START = "changed_since_start"


def _restore_default(attribute: str) -> Any:
    return job_args.default_of(job_args.RestoreConfig, attribute)


@dataclasses.dataclass(frozen=True)
class GuardSettings:
    """Where the changes the backup has not recorded yet wait, and how long to wait for them."""

    manifest_bucket: str
    manifest_prefix: str = _restore_default("manifest_prefix")
    rejected_prefix: str = _restore_default("rejected_prefix")
    quarantine_prefix: str = _restore_default("quarantine_prefix")
    dead_letter_queue_name: str = _restore_default("dead_letter_queue_name")
    delivery_seconds: float = _restore_default("delivery_seconds")
    catch_up_seconds: float = _restore_default("catch_up_seconds")
    poll_seconds: float = _restore_default("poll_seconds")

    @classmethod
    def of(cls, config: object) -> GuardSettings:
        """From a restore job's config (job_args.restore_config): its attributes named like these fields."""
        return cls(**dict((field.name, getattr(config, field.name)) for field in dataclasses.fields(cls)))

    def manifest_store(self, s3: Client) -> manifest_store.ManifestStore:
        """The manifests these settings name, read with `s3`."""
        return manifest_store.ManifestStore(s3, self.manifest_bucket, self.manifest_prefix, self.rejected_prefix,
                                            self.quarantine_prefix)


class BackupNotCaughtUp(Exception):
    """The restore into the source cannot start: the message says what is behind and what to do."""


def dead_letters(sqs: Client, queue_name: str) -> int:
    """Messages in the dead-letter queue (visible, in flight and delayed). The counts are approximate:
    they "may not achieve consistency until at least 1 minute after the producers stop sending messages"
    (SQS API Reference, GetQueueAttributes), which the README's residual window counts in."""
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(DLQ_ATTRIBUTES))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in DLQ_ATTRIBUTES)


def _dead_letters_waiting(sqs: Client, settings: GuardSettings) -> Optional[str]:
    """Why no key can be written while the dead-letter queue holds messages, or None."""
    count = dead_letters(sqs, settings.dead_letter_queue_name) if settings.dead_letter_queue_name else 0
    if not count:
        return None
    return ("the dead-letter queue holds %d message(s): stream ranges the backup never received, which may "
            "hold later changes of any key. Replay them first (README: \"A batch reached the dead-letter "
            "queue\"); a range gone from the stream cannot be replayed: judge it, then move its messages "
            "out of the queue, and run the restore again" % count)


def _rejected_waiting(settings: GuardSettings, name: str) -> str:
    return ("malformed manifests wait under %s (e.g. %s): their changes were never applied. Repair and replay "
            "them, or judge and remove them (README: \"A manifest was rejected\"), then run the restore again"
            % (settings.rejected_prefix, name))


def _blocking(store: manifest_store.ManifestStore, sqs: Client, settings: GuardSettings) -> Optional[str]:
    """Why no key can be written now (dead letters, rejected manifests), or None."""
    rejected = store.list(store.rejected_prefix, limit=1)
    return _dead_letters_waiting(sqs, settings) or (_rejected_waiting(settings, rejected[0].name) if rejected else None)


def check_caught_up(s3: Client, sqs: Client, settings: GuardSettings, started: float, clock: Callable[[], float],
                    sleep: Callable[[float], Any], log: LogFunction) -> None:
    """Wait until the backup holds every change made before `started` (epoch seconds); raise
    BackupNotCaughtUp when it cannot, or not within settings.catch_up_seconds."""
    store = settings.manifest_store(s3)
    blocked = _blocking(store, sqs, settings)
    if blocked:
        raise BackupNotCaughtUp(blocked)
    deadline = started + settings.catch_up_seconds
    while True:
        now = clock()
        behind = _behind(store, started)
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


def _behind(store: manifest_store.ManifestStore, started: float) -> Optional[str]:
    """Why the backup is behind `started`: a pending manifest of changes made before it (its name's time,
    or for a name of the older hash-only form its LastModified, which sorts anywhere), or a backlog too
    long to look through; None when it is caught up."""
    listed = store.list(limit=MAX_PENDING_MANIFESTS + 1)
    if len(listed) > MAX_PENDING_MANIFESTS:
        return "more than %d manifests are pending" % MAX_PENDING_MANIFESTS
    for entry in listed:
        order = manifest_format.order_of(entry.name, store.manifest_prefix, entry.last_modified)
        when = manifest_format.order_time(order) if order else None
        if when is None or when < int(started):
            return "manifest %s, of changes made before the restore started, is still pending" % entry.name
    return None


class Unrecorded:
    """Per chunk: the keys whose latest change the backup may not hold (named by a pending manifest or a
    quarantine object), or, when dead letters or rejected manifests exist or the backlog is past what
    it holds, every key (`everything` says why). Names are content hashes: a name read once is not read
    again, and names gone from the listings are forgotten, so memory follows the backlog, bounded.

    A listing of three prefixes, paged, is no snapshot: a remainder written and the manifests it replaces
    deleted while it is taken, or an object moved from one prefix to another (quarantined, rejected,
    replayed), can leave a key in none. Every such move deletes a name, so the listings are taken again
    until one holds every name the one before held, and every new name could be read; a rejected
    manifest, seen in any listing, makes every key count as changed. New names alone (the function
    keeps writing) never hold a listing back: they are read."""

    def __init__(self, s3: Client, sqs: Client, settings: GuardSettings, schema: KeySchema, clock: Callable[[], float],
                 sleep: Callable[[float], Any], log: LogFunction) -> None:
        self.store = settings.manifest_store(s3)
        self.sqs = sqs
        self.settings = settings
        self.schema = schema
        self.clock = clock
        self.sleep = sleep
        self.log = log
        self.by_name: dict[str, frozenset[str]] = {}  # object name -> the key ids it names
        self.everything: Optional[str] = None
        self.deadline: Optional[float] = None  # one wait for a backlog per segment, however many chunks meet it

    def refresh(self) -> Unrecorded:
        """Take the listings again. Dead letters or rejected manifests need an operator: every key counts
        as changed at once. A backlog past the bounds is apply-changes': wait for it (once a segment, up
        to catch_up_seconds), then every key counts as changed."""
        while True:
            blocked = _dead_letters_waiting(self.sqs, self.settings)  # rejected manifests: in the listings
            behind = None
            if not blocked:
                blocked, behind = self._read_listings()
            self.everything = blocked or behind
            if self.everything is None or blocked:
                if blocked:
                    self.log("restore_chunk_not_written", reason=blocked)
                return self
            if self.deadline is None:
                self.deadline = self.clock() + self.settings.catch_up_seconds
            if self.clock() >= self.deadline:
                self.log("restore_chunk_not_written", reason=self.everything)
                return self
            self.log("restore_waiting_for_backup", behind=self.everything,
                     seconds_left=round(self.deadline - self.clock(), 3))
            self.sleep(min(self.settings.poll_seconds, max(0.0, self.deadline - self.clock())))

    def _list(self) -> Optional[frozenset[str]]:
        """Every object name under the rejected, quarantine and manifest prefixes, or None past the bound."""
        names: list[str] = []
        for prefix in (self.store.rejected_prefix, self.store.quarantine_prefix, self.store.manifest_prefix):
            listed = self.store.list(prefix, limit=MAX_PENDING_MANIFESTS + 1)
            names.extend(entry.name for entry in listed)
            if len(names) > MAX_PENDING_MANIFESTS:
                return None
        return frozenset(names)

    def _read_listings(self) -> tuple[Optional[str], Optional[str]]:
        """(why no key may be written until an operator acts, why apply-changes is behind): None, None when
        the listings agree and every key they name is held."""
        previous: Optional[frozenset[str]] = None
        for _ in range(MAX_LISTINGS):
            names = self._list()
            if names is None:
                self.by_name.clear()
                return None, "more than %d manifests are pending or quarantined" % MAX_PENDING_MANIFESTS
            rejected = sorted(name for name in names if name.startswith(self.settings.rejected_prefix))
            if rejected:
                return _rejected_waiting(self.settings, rejected[0]), None
            for name in set(self.by_name) - names:
                del self.by_name[name]
            held = sum(len(keys) for keys in self.by_name.values())
            complete = True
            for name in names - set(self.by_name):
                got = self.store.read(name)
                if got is None:
                    complete = False  # applied, or replaced by a remainder: list again
                    continue
                try:
                    keys = manifest_format.parse_manifest_document(got[0], self.schema).keys
                except manifest_format.ManifestError as error:
                    return "%s is not a readable manifest (%s): its keys are unknown" % (name, error), None
                held += len(keys)
                if held > MAX_PENDING_KEYS:
                    self.by_name.clear()
                    return None, "more than %d keys are pending or quarantined" % MAX_PENDING_KEYS
                self.by_name[name] = frozenset(table_keys.key_id(k) for k in keys)
            if complete and previous is not None and previous <= names:
                return None, None
            previous = names if complete else None
        return None, "the manifests kept vanishing while they were listed (%d listings)" % MAX_LISTINGS

    def why(self, kid: str) -> Optional[str]:
        """None when nothing the backup has not recorded names the key; else "quarantined" (a quarantine
        object holds it) or "changed_since_start" (a pending manifest names it, or every key counts)."""
        if self.everything is not None:
            return CHANGED_SINCE_START
        found = None
        for name, keys in self.by_name.items():
            if kid in keys:
                if not name.startswith(self.settings.quarantine_prefix):
                    return CHANGED_SINCE_START
                found = QUARANTINED
        return found
