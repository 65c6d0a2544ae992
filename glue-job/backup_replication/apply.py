"""apply-changes: drain the change manifests into the backup, with bounded memory and progress key by key.

A pass takes the first manifests of the listing (time order, see manifest_format.py): at most
`max_manifests_per_pass`, at most `max_pass_bytes` of JSON (always at least one), so a run's memory does
not grow with the backlog or with the size of retained images. It reads them (a malformed one is moved
to the rejected prefix with its reason and does not block the others) and folds each into the pass plan
as it is read: the union of their keys, and per key the "removed" entry with the highest sequence number.
The keys are synced in chunks of `keys_per_chunk`, `chunk_workers` chunks at a time, with the shared
Replicator (current source state, consistent read; put, or delete under "mirror"; verify). A manifest is
deleted as soon as all of its keys have been applied, never before.

On Spark (the glueetl job type) the keys of a pass are not synced by this process's threads but spread
over the executors (`spread`, spark_apply.py); the pass, its manifests, deletions, remainder and
quarantine stay here, on the driver.

Progress is durable key by key. A pass that ends with keys not applied (the time budget ran out, a key
kept changing, a request failed) first writes ONE new manifest of the same format holding exactly those
keys and their removed entries (a remainder, named to keep the place of the oldest manifest it replaces),
and only then deletes the manifests it replaces: the next run never redoes finished keys, and a crash
between the two steps only means some keys are applied twice (idempotent).

A key that keeps changing (hot: still changing after the Replicator's max_rounds of read-write-verify) is
held per key: it goes into the pass's remainder, which this run does not list again, and the run carries
on with everything else. A key in a remainder of this run is carried untried by its later passes (so a
key is tried once a run, and never written while an older entry of it waits in a held remainder). The
next run tries it again.

A pass takes manifests until it holds `max_pass_keys` keys too: small keys cost more memory per byte of
JSON than images do. Manifests are deleted by the version read (in a versioned bucket no delete marker
piles up in front of the live manifests of the listing).

A key that cannot be written (DynamoDB refuses the item, e.g. over 400 KB after a rename or with the
retained marker; a source item carrying the retained attribute; any other error DynamoDB gives for that
item alone, found by syncing a failing chunk key by key) is quarantined: a manifest holding only
that key (and its removed entry), with the error, is written under the quarantine prefix, the key counts
as done for its manifests, and the run ends FAILED at its end (KeysQuarantined) so that the alarm fires.
Putting that object back under the manifest prefix replays it (README: "A key was quarantined").

Passes repeat until a listing finds no manifest (so a change written during a run is not stranded) or
the time budget runs out, which is checked before every chunk. Starting the next run is not this job's
business: the stack's sweep (a rule on this job's run ending, and a schedule) starts one whenever
manifests are pending, whether Glue queues or refuses a start while a run is busy.

Deleted items under "retain": see item_writer.py and retained.py; the removed entry with the highest
sequence number among a pass's manifests is written for a key absent from the source, conditionally, so
an older entry, in a later pass, a later run, a remainder or a run going on at the same time, never
replaces a newer one. Under "mirror" the entries are ignored (absent => deleted).
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import datetime
import threading
import time
import uuid
from typing import Any, Callable, NoReturn, Optional, Protocol, Union

from botocore.exceptions import ClientError

from . import ddb_batch
from . import job_args
from . import job_log
from . import manifest_format
from . import metrics as metrics_module
from . import replicate
from . import table_keys
from .job_log import LogFunction
from .manifest_format import Manifest, RemovedEntry
from .manifest_store import Listed, ManifestStore
from .table_keys import Key, KeySchema

# Names listed in the failure messages at most (the log lines carry them all).
MAX_NAMES_IN_MESSAGE = 20
DEFAULT_MAX_PASS_BYTES = 16 * 1024 * 1024
# Small keys cost far more memory per byte of JSON than images do (about 600 bytes a key once folded):
# a pass also stops taking manifests at this many keys (a manifest holds at most 10,000 of the Lambda's).
DEFAULT_MAX_PASS_KEYS = 50000
# Errors that are the job's or the account's, never one item's: they fail the pass, they never quarantine.
SYSTEMIC_ERROR_CODES = frozenset([
    "AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException",
    "MissingAuthenticationTokenException", "InvalidSignatureException", "ExpiredTokenException",
    "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException",
])


class ApplyRunFailed(RuntimeError):
    """The run did what it could but must end FAILED, so that the job-failure alarm fires."""


class ManifestsRejected(ApplyRunFailed):
    """Malformed manifests were moved to the rejected prefix during the run."""


class KeysQuarantined(ApplyRunFailed):
    """Some keys could not be written and were set aside under the quarantine prefix; the rest was applied."""


@dataclasses.dataclass(frozen=True)
class ApplySettings:
    """How a run goes (where the manifests are is its manifest_store.ManifestStore)."""

    time_budget_seconds: float = job_args.default_of(job_args.ApplyChangesConfig, "time_budget_seconds")
    keys_per_chunk: int = ddb_batch.MAX_GET_KEYS
    max_manifests_per_pass: int = 1000
    list_page_size: int = 1000
    max_pass_bytes: int = DEFAULT_MAX_PASS_BYTES
    max_pass_keys: int = DEFAULT_MAX_PASS_KEYS
    chunk_workers: int = 8
    s3_workers: int = 8
    # Goes into the remainders' bodies, so two runs never write one remainder name (see _Pass._write_remainder);
    # None: a random one, chosen when the settings are made.
    writer_id: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunk_workers", max(1, int(self.chunk_workers)))
        object.__setattr__(self, "s3_workers", max(1, int(self.s3_workers)))
        object.__setattr__(self, "writer_id", self.writer_id or uuid.uuid4().hex)


@dataclasses.dataclass(eq=False)
class ApplyResult:
    passes: int = 0
    manifests_applied: int = 0   # deleted because all their keys were applied (or quarantined)
    manifests_replaced: int = 0  # deleted after a remainder took over their unfinished keys
    manifests_rejected: int = 0
    # [{"manifest", "moved_to", "reason"}]
    rejected: list[dict[str, str]] = dataclasses.field(default_factory=list)
    # Names of the remainders written (held: not listed again in this run).
    remainders: list[str] = dataclasses.field(default_factory=list)
    carried_keys: int = 0        # keys written into remainders
    hot_keys: list[str] = dataclasses.field(default_factory=list)  # key ids of the keys that kept changing
    # key id -> {"reason", "object"}
    quarantined: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    keys: int = 0                # keys applied
    stopped_by_budget: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict((field.name, getattr(self, field.name)) for field in dataclasses.fields(self))


@dataclasses.dataclass(eq=False)
class _Plan:
    """What a pass applies, folded from its manifests as they are read (the parsed manifests are dropped)."""

    # manifest name -> its <time>-<sequence> order
    order: dict[str, str] = dataclasses.field(default_factory=dict)
    # [(key id, typed key)], first-seen order
    keys: list[tuple[str, Key]] = dataclasses.field(default_factory=list)
    # key id -> [manifest names]
    owners: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    # manifest name -> key ids not applied yet
    remaining: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    # key id -> RemovedEntry with the highest sequence number
    removals: dict[str, RemovedEntry] = dataclasses.field(default_factory=dict)
    # manifest name -> its newest record's time (epoch seconds), when known
    latest_change: dict[str, float] = dataclasses.field(default_factory=dict)
    # manifest name -> the version read (versioned bucket), deleted by it
    version: dict[str, Optional[str]] = dataclasses.field(default_factory=dict)

    def add(self, listed: Listed, order: str, manifest: Manifest, version_id: Optional[str] = None) -> None:
        ids: set[str] = set()
        for key in manifest.keys:
            kid = table_keys.key_id(key)
            ids.add(kid)
            owners = self.owners.get(kid)
            if owners is None:
                self.owners[kid] = owners = []
                self.keys.append((kid, key))
            if listed.name not in owners:
                owners.append(listed.name)
        for entry in manifest.removed:
            kid = table_keys.key_id(entry.key)
            best = self.removals.get(kid)
            if best is None or entry.sequence > best.sequence:
                self.removals[kid] = entry
        self.remaining[listed.name] = ids
        self.order[listed.name] = order
        self.version[listed.name] = version_id
        if manifest.latest_change is not None:
            self.latest_change[listed.name] = manifest.latest_change


@dataclasses.dataclass(eq=False)
class _PassOutcome:
    keys: int = 0
    deleted: int = 0
    replaced: int = 0
    remainder: Optional[str] = None
    carried: int = 0
    hot_keys: list[str] = dataclasses.field(default_factory=list)
    quarantined: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # Seconds from each applied manifest's newest change to its keys being written.
    latencies: list[float] = dataclasses.field(default_factory=list)
    stopped: bool = False
    error: Optional[BaseException] = None


@dataclasses.dataclass(eq=False)
class _RunState:
    # Remainders written by this run: not listed again.
    held: set[str] = dataclasses.field(default_factory=set)
    # Keys this run put into a remainder: carried untried for the rest of the run, so a key is tried
    # once a run, and a later pass never writes a key while an older entry of it waits in a held
    # remainder (that entry, applied later, would replace the newer state until the next deletion).
    carried: set[str] = dataclasses.field(default_factory=set)


def _read_pass(store: ManifestStore, settings: ApplySettings, listed: list[Listed], schema: KeySchema,
               log: LogFunction, rejected: list[dict[str, str]], pool: concurrent.futures.Executor) -> _Plan:
    """The _Plan of the listed manifests; malformed ones are moved aside (appended to `rejected`)."""
    plan = _Plan()
    for entry, got in zip(listed, pool.map(lambda entry: store.read(entry.name), listed)):
        if got is None:
            continue  # another run applied it meanwhile
        if len(plan.keys) >= settings.max_pass_keys:
            break  # the rest waits for the next pass, untouched
        body, version_id = got
        try:
            manifest = manifest_format.parse_manifest_document(body, schema)
        except manifest_format.ManifestError as error:
            target = store.reject(entry.name, str(error), version_id)
            rejected.append({"manifest": entry.name, "moved_to": target, "reason": str(error)})
            log("manifest_rejected", manifest=entry.name, moved_to=target, reason=str(error))
            continue
        del body, got
        order = manifest_format.order_of(entry.name, store.manifest_prefix, entry.last_modified)
        if order is None:  # a name of the older form listed without LastModified: first in line
            order = manifest_format.order_from(0, 0)
        plan.add(entry, order, manifest, version_id)
    return plan


# A chunk of keys: [(key id, typed key)]; what ChunkRunner returns for it: (the chunk, the keys it set
# aside or None, the error that failed it or None).
Chunk = list[tuple[str, Key]]
ChunkOutcome = tuple[Chunk, Optional[replicate.KeysSetAside], Optional[BaseException]]


class ChunkRunner:
    """Syncs chunks of keys, each with a Replicator of its own counters (merged into the run's under a lock)."""

    def __init__(self, replicator: replicate.Replicator, removals: dict[str, RemovedEntry]) -> None:
        self.replicator = replicator
        self.removals = removals
        self.lock = threading.Lock()

    def __call__(self, chunk: Chunk) -> ChunkOutcome:
        local = copy.copy(self.replicator)
        local.stats = ddb_batch.Stats()
        aside: Optional[replicate.KeysSetAside] = None
        failure: Optional[BaseException] = None
        try:
            self._sync(local, chunk)
        except replicate.KeysSetAside as error:
            aside = error
        except ClientError as error:
            if _systemic(error) or len(chunk) == 1:
                failure = error
            else:
                aside, failure = self._one_by_one(local, chunk)
        except Exception as error:  # noqa: BLE001 - reported by the pass after the other chunks
            failure = error
        with self.lock:
            self.replicator.stats.add(local.stats)
        return chunk, aside, failure

    def _sync(self, local: replicate.Replicator, chunk: Chunk) -> None:
        retained = dict((kid, self.removals[kid]) for kid, _ in chunk if kid in self.removals)
        local.sync_keys([key for _, key in chunk], retained=retained)

    def _one_by_one(self, local: replicate.Replicator,
                    chunk: Chunk) -> tuple[Optional[replicate.KeysSetAside], Optional[ClientError]]:
        """A request failed with an error DynamoDB gives for an item (not throttling: those are retried,
        not a systemic error): sync the chunk's keys one at a time; a key that fails alone, while another
        of the chunk goes through, cannot be written (a poison item, e.g. its item collection over 10 GB).
        Every key failing alone means the error is not the items': the chunk fails."""
        hot: list[Key] = []
        unwritable: dict[str, tuple[Key, str]] = {}
        failures: list[ClientError] = []
        for kid, key in chunk:
            try:
                self._sync(local, [(kid, key)])
            except replicate.KeysSetAside as error:
                hot.extend(error.hot)
                unwritable.update((k, (key, reason)) for k, reason in error.unwritable.items())
            except ClientError as error:
                failures.append(error)
                unwritable[kid] = (key, _error_text(error))
        if failures and len(failures) == len(chunk):
            return None, failures[0]
        if not hot and not unwritable:
            return None, None
        return replicate.KeysSetAside("keys set aside one by one", hot, unwritable), None


def split_chunks(keys: Chunk, size: int) -> list[Chunk]:
    return [keys[start:start + size] for start in range(0, len(keys), size)]


def run_chunks(runner: Callable[[Chunk], ChunkOutcome], chunks: list[Chunk], workers: int,
               may_start: Callable[[], bool], on_end: Callable[[ChunkOutcome], None]) -> int:
    """Runs the chunks in order, `workers` at a time, each started only while may_start() holds, and hands
    each outcome to on_end as it ends (in this thread); returns how many chunks were started."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        in_flight: set[concurrent.futures.Future[ChunkOutcome]] = set()
        started = 0
        while True:
            while started < len(chunks) and len(in_flight) < workers and may_start():
                in_flight.add(pool.submit(runner, chunks[started]))
                started += 1
            if not in_flight:
                return started
            finished, in_flight = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                on_end(future.result())


@dataclasses.dataclass(frozen=True)
class SpreadResult:
    """What a PassSpread gives back: the outcomes of the chunks it ran, the keys it did not start, whether
    it stopped for the time budget, the counters of its writers (Stats.as_dict), and the keys to sync once
    more in a later run, whatever their outcome (written by a task that ran more than once)."""

    ended: list[ChunkOutcome]
    not_started: Chunk
    out_of_time: bool
    stats: dict[str, int]
    rerun: Chunk = dataclasses.field(default_factory=list)


class PassSpread(Protocol):
    """Syncs a pass's keys somewhere else than this process's threads (spark_apply.SparkSpread)."""

    def sync(self, keys: Chunk, removals: dict[str, RemovedEntry], seconds_left: float) -> SpreadResult: ...


def _error_text(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return "%s: %s" % (details.get("Code", type(error).__name__), details.get("Message", str(error)))


def _systemic(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in SYSTEMIC_ERROR_CODES


def _quarantine(store: ManifestStore, plan: _Plan, kid: str, key: Key, reason: str, log: LogFunction) -> str:
    """Writes the quarantine object of one key (a manifest of it alone, with the error); returns its name."""
    owners = plan.owners.get(kid, [])
    entry = plan.removals.get(kid)
    order = min(plan.order[name] for name in owners)
    at = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = manifest_format.encode_document([key], [entry] if entry else [], {
        "quarantined": {"key": kid, "reason": reason, "at": at, "manifests": owners[:MAX_NAMES_IN_MESSAGE]}})
    name = manifest_format.ordered_name(store.quarantine_prefix, order, body)
    store.write(name, body, metadata={"quarantine-reason": reason, "quarantine-key": kid})  # (cut to fit S3's 2 KB)
    log("key_quarantined", key=kid, reason=reason, object=name, manifests=owners,
        action="every other key is applied; the run fails at its end so that the alarm fires; "
               "see the README runbook to repair and replay it")
    return name


@dataclasses.dataclass(eq=False)
class _Pass:
    """One pass over a plan: syncs its keys in chunks, deletes each manifest once all its keys are done,
    then writes the remainder of the keys not done (and deletes the manifests it replaces)."""

    store: ManifestStore
    replicator: replicate.Replicator
    settings: ApplySettings
    plan: _Plan
    log: LogFunction
    state: _RunState
    s3_pool: concurrent.futures.Executor
    wall_clock: Callable[[], float]
    # Where the keys are synced: None, here (threads of this process); else spread out (e.g. on Spark).
    spread: Optional[PassSpread] = None
    outcome: _PassOutcome = dataclasses.field(default_factory=_PassOutcome)
    # Keys not applied by this pass: they go into its remainder.
    unfinished: set[str] = dataclasses.field(default_factory=set)
    # The deletions of the finished manifests, on the S3 pool.
    deletions: list[concurrent.futures.Future[None]] = dataclasses.field(default_factory=list)

    def apply(self, seconds_left: Callable[[], float]) -> _PassOutcome:
        """Sync the plan's keys; delete each manifest once all its keys are done; write the remainder."""
        todo = self._todo()
        if self.spread is None:
            self._apply_here(todo, lambda: seconds_left() <= 0)
        else:
            self._apply_spread(self.spread, todo, seconds_left)
        for future in self.deletions:
            future.result()
        if self.unfinished:
            self._write_remainder()
            self.state.carried.update(self.unfinished)
        return self.outcome

    def _todo(self) -> Chunk:
        """The plan's keys but for those already in a remainder of this run: they are carried on untried."""
        todo: Chunk = []
        for kid, key in self.plan.keys:
            if kid in self.state.carried:
                self.unfinished.add(kid)
            else:
                todo.append((kid, key))
        return todo

    def _removals(self) -> dict[str, RemovedEntry]:
        return self.plan.removals if self.replicator.delete_policy == "retain" else {}

    def _apply_here(self, todo: Chunk, out_of_time: Callable[[], bool]) -> None:
        """Syncs the keys in this process, in chunks of keys_per_chunk, chunk_workers at a time, settling
        each as it ends; the chunks not started (the budget ran out or a chunk failed) stay unfinished."""
        chunks = split_chunks(todo, self.settings.keys_per_chunk)
        started = run_chunks(ChunkRunner(self.replicator, self._removals()), chunks, self.settings.chunk_workers,
                             lambda: self._may_start(out_of_time), lambda ended: self._settle(*ended))
        for chunk in chunks[started:]:
            self._leave(chunk)

    def _apply_spread(self, spread: PassSpread, todo: Chunk, seconds_left: Callable[[], float]) -> None:
        """Syncs the keys elsewhere (spark_apply.py) and settles what comes back. When the spread itself
        fails (a task failed for good), no key of it counts as done: all stay unfinished."""
        if not todo:
            return
        if seconds_left() <= 0:
            self.outcome.stopped = True
            self._leave(todo)
            return
        try:
            spread_result = spread.sync(todo, self._removals(), seconds_left())
        except Exception as error:  # noqa: BLE001 - the pass fails after writing its remainder
            self.outcome.error = error
            self._leave(todo)
            return
        self.replicator.stats.add(spread_result.stats)
        for ended in spread_result.ended:
            self._settle(*ended)
        self._leave(spread_result.not_started)
        if spread_result.out_of_time:
            self.outcome.stopped = True
        if spread_result.rerun:
            self._leave(spread_result.rerun)
            self.log("keys_synced_again_next_run", keys=len(spread_result.rerun),
                     reason="a task ran more than once; an attempt given up for lost may still write",
                     action="held in this pass's remainder, not written again by this run")

    def _may_start(self, out_of_time: Callable[[], bool]) -> bool:
        """Whether another chunk may start: not after a chunk failed, and not once the budget is spent
        (checked before every chunk)."""
        if self.outcome.error is not None or self.outcome.stopped:
            return False
        if out_of_time():
            self.outcome.stopped = True
            return False
        return True

    def _settle(self, chunk: Chunk, aside: Optional[replicate.KeysSetAside], failure: Optional[BaseException]) -> None:
        """Takes in an ended chunk: a failed one stays unfinished (the pass keeps its first failure); else its
        hot keys stay unfinished, its unwritable keys are quarantined, and its keys that are not hot are done."""
        if failure is not None:
            self.outcome.error = self.outcome.error or failure
            self._leave(chunk)
            return
        held = self._set_aside(chunk, aside) if aside is not None else set()
        for kid, _ in chunk:
            if kid in held:
                self.unfinished.add(kid)
                continue
            if kid not in self.outcome.quarantined:
                self.outcome.keys += 1
            self._done(kid)

    def _set_aside(self, chunk: Chunk, aside: replicate.KeysSetAside) -> set[str]:
        """Logs the chunk's hot keys and quarantines its unwritable ones; returns the keys held for the
        remainder: the hot ones and those whose quarantine object could not be written."""
        held = set(table_keys.key_id(k) for k in aside.hot)
        if held:
            self.outcome.hot_keys.extend(sorted(held))
            self.log("keys_kept_changing", keys=sorted(held), rounds=self.replicator.max_rounds,
                     action="held in this pass's remainder for a later pass or run; the run carries on")
        for kid, reason in sorted(aside.unwritable.items()):
            if not self._quarantine_key(chunk, kid, reason):
                held.add(kid)
        return held

    def _quarantine_key(self, chunk: Chunk, kid: str, reason: str) -> bool:
        """Quarantines one key of the chunk; False when its quarantine object could not be written."""
        try:
            name = _quarantine(self.store, self.plan, kid, dict(chunk)[kid], reason, self.log)
        except Exception as error:  # noqa: BLE001 - the key stays unfinished: carried, not lost
            self.log("quarantine_not_written", key=kid, reason=reason, error="%s: %s" % (type(error).__name__, error),
                     action="the key is carried in the remainder")
            return False
        self.outcome.quarantined[kid] = {"reason": reason, "object": name}
        return True

    def _leave(self, chunk: Chunk) -> None:
        self.unfinished.update(kid for kid, _ in chunk)

    def _done(self, kid: str) -> None:
        """The key is applied (or quarantined): each of its manifests with no key left is deleted."""
        for name in self.plan.owners[kid]:
            left = self.plan.remaining[name]
            left.discard(kid)
            if not left:
                self._delete_finished(name)

    def _delete_finished(self, name: str) -> None:
        """Deletes a manifest all of whose keys are done (on the S3 pool, by the version read)."""
        plan = self.plan
        self.deletions.append(self.s3_pool.submit(self.store.delete, name, plan.version.get(name)))
        self.outcome.deleted += 1
        del plan.remaining[name]
        if name in plan.latest_change:
            self.outcome.latencies.append(metrics_module.seconds_since(plan.latest_change[name], self.wall_clock()))

    def _write_remainder(self) -> None:
        """One manifest holding the unfinished keys; then the manifests it replaces are deleted."""
        plan = self.plan
        replaced = [name for name in plan.order if name in plan.remaining]
        # What the replaced manifests still hold is unfinished by definition, whatever was reported.
        for name in replaced:
            self.unfinished.update(plan.remaining[name])
        keys = [key for kid, key in plan.keys if kid in self.unfinished]
        reason = self._remainder_reason()
        body = self._remainder_body(replaced, keys, reason)
        name = manifest_format.ordered_name(self.store.manifest_prefix, min(plan.order[n] for n in replaced), body)
        self.store.write(name, body)
        # The writer id in the body makes the name new: deleting the replaced ones never deletes it.
        futures = [self.s3_pool.submit(self.store.delete, n, plan.version.get(n)) for n in replaced if n != name]
        for future in futures:
            future.result()
        self.outcome.remainder = name
        self.outcome.carried = len(keys)
        self.outcome.replaced = len(futures)
        self.log("remainder_written", manifest=name, keys=len(keys), replaces=len(replaced), reason=reason)

    def _remainder_reason(self) -> str:
        return ("time budget spent" if self.outcome.stopped else "a request failed" if self.outcome.error
                else "keys kept changing or could not be set aside")

    def _remainder_body(self, replaced: list[str], keys: list[Key], reason: str) -> bytes:
        """The remainder's document: the unfinished keys, their removed entries, and where it comes from."""
        plan = self.plan
        entries = [plan.removals[kid] for kid, _ in plan.keys if kid in self.unfinished and kid in plan.removals]
        extra: dict[str, Any] = {"remainder": {"reason": reason, "replaces": len(replaced),
                                               "first": replaced[0] if replaced else None,
                                               "writer": self.settings.writer_id}}
        times = [plan.latest_change[n] for n in replaced if n in plan.latest_change]
        if times:  # the latency of what it carries keeps counting from the changes themselves
            extra["approximateCreationDateTime"] = {"earliest": min(times), "latest": max(times)}
        return manifest_format.encode_document(keys, entries, extra)


@dataclasses.dataclass(eq=False)
class _Run:
    """A run of apply-changes: passes until none is left or the time budget is spent (see run)."""

    store: ManifestStore
    replicator: replicate.Replicator
    settings: ApplySettings
    schema: KeySchema
    clock: Callable[[], float]
    log: LogFunction
    metrics: dataclasses.InitVar[Optional[metrics_module.Publisher]]
    wall_clock: Callable[[], float]
    spread: Optional[PassSpread] = None
    result: ApplyResult = dataclasses.field(init=False, default_factory=ApplyResult)
    started: float = dataclasses.field(init=False)
    stats: ddb_batch.Stats = dataclasses.field(init=False)
    state: _RunState = dataclasses.field(init=False, default_factory=_RunState)
    publisher: metrics_module.Publisher = dataclasses.field(init=False)

    def __post_init__(self, metrics: Optional[metrics_module.Publisher]) -> None:
        self.started = self.clock()
        self.stats = self.replicator.stats
        self.publisher = metrics or metrics_module.NoMetrics()

    def seconds_left(self) -> float:
        return self.settings.time_budget_seconds - (self.clock() - self.started)

    def out_of_time(self) -> bool:
        return self.seconds_left() <= 0

    def run(self) -> ApplyResult:
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.settings.s3_workers) as s3_pool:
            while self._pass(s3_pool):
                pass
        return self._finish()

    def _pass(self, s3_pool: concurrent.futures.Executor) -> bool:
        """Lists, reads and applies one pass; False when the run stops after it (or instead of it)."""
        if self.out_of_time():
            self.result.stopped_by_budget = True
            return False
        settings = self.settings
        listed = self.store.list(limit=settings.max_manifests_per_pass, max_bytes=settings.max_pass_bytes,
                                 page_size=settings.list_page_size, exclude=self.state.held)
        if not listed:
            return False
        self.result.passes += 1
        pass_started = self.clock()
        self.publisher.pass_started(len(listed),
                                    metrics_module.seconds_since(_written_at(listed[0], self.store), self.wall_clock()))
        before = self.stats.as_dict()
        rejected: list[dict[str, str]] = []
        plan = _read_pass(self.store, settings, listed, self.schema, self.log, rejected, s3_pool)
        outcome = _Pass(self.store, self.replicator, settings, plan, self.log, self.state, s3_pool,
                        self.wall_clock, self.spread).apply(self.seconds_left)
        del plan
        delta = self.stats.minus(before)
        self.publisher.keys_written(outcome.latencies)
        self.publisher.pass_done(outcome.keys, delta["retained_images"], len(outcome.quarantined))
        self._add(outcome, rejected)
        self._log_pass(listed, rejected, outcome, delta, pass_started)
        return self._carries_on(outcome, rejected)

    def _add(self, outcome: _PassOutcome, rejected: list[dict[str, str]]) -> None:
        """Adds a pass's outcome to the run's result."""
        result = self.result
        if outcome.remainder:
            self.state.held.add(outcome.remainder)
            result.remainders.append(outcome.remainder)
        result.manifests_applied += outcome.deleted
        result.manifests_replaced += outcome.replaced
        result.manifests_rejected += len(rejected)
        result.rejected.extend(rejected)
        result.carried_keys += outcome.carried
        result.hot_keys.extend(k for k in outcome.hot_keys if k not in result.hot_keys)
        result.quarantined.update(outcome.quarantined)
        result.keys += outcome.keys

    def _log_pass(self, listed: list[Listed], rejected: list[dict[str, str]], outcome: _PassOutcome,
                  delta: dict[str, int], pass_started: float) -> None:
        self.log("apply_pass", **{
            "pass": self.result.passes, "listed": len(listed), "listed_bytes": sum(e.size for e in listed),
            "manifests": outcome.deleted, "replaced": outcome.replaced, "rejected": len(rejected),
            "keys": outcome.keys, "carried": outcome.carried, "hot_keys": len(outcome.hot_keys),
            "quarantined": len(outcome.quarantined), "remainder": outcome.remainder,
            "puts": delta["puts"], "deletes": delta["deletes"], "retained_images": delta["retained_images"],
            "retained_skipped": delta["retained_skipped"], "condition_failures": delta["condition_failures"],
            "live_writes_dropped": delta["live_writes_dropped"],
            "retries": delta["retries"], "verify_mismatches": delta["verify_mismatches"],
            "read_requests": delta["read_requests"], "write_requests": delta["write_requests"],
            "seconds": round(self.clock() - pass_started, 3),
        })

    def _carries_on(self, outcome: _PassOutcome, rejected: list[dict[str, str]]) -> bool:
        """Whether the run lists again after this pass; raises the error that failed the pass."""
        if outcome.error is not None:
            self._fail(outcome.error)
        if outcome.stopped:
            self.result.stopped_by_budget = True
            return False
        if not (outcome.deleted or rejected or outcome.remainder or outcome.quarantined):
            # Every manifest listed had vanished before it could be read: another run is draining the
            # same prefix (it loops until none is left), so stop here rather than spin on the listing.
            self.log("apply_yield", reason="listed manifests were taken by another run")
            return False
        return True

    def _fail(self, error: BaseException) -> NoReturn:
        self.result.seconds = round(self.clock() - self.started, 3)
        self.log("apply_failed", reason="%s: %s" % (type(error).__name__, error),
                 action="unfinished keys are in the remainder; the next run takes them", **self.result.as_dict())
        raise error

    def _finish(self) -> ApplyResult:
        result = self.result
        result.seconds = round(self.clock() - self.started, 3)
        if result.stopped_by_budget:
            self.log("apply_stopped", reason="time budget of %.0f s spent; the rest is left for the next run"
                     % self.settings.time_budget_seconds, **result.as_dict())
        else:
            self.log("apply_done", **result.as_dict())
        return result


def run(store: ManifestStore, replicator: replicate.Replicator, settings: ApplySettings, schema: KeySchema,
        clock: Callable[[], float] = time.monotonic, log: LogFunction = job_log.log_event,
        metrics: Optional[metrics_module.Publisher] = None, wall_clock: Callable[[], float] = time.time,
        spread: Optional[PassSpread] = None) -> ApplyResult:
    """Apply the manifests pending in `store` (manifest_store.ManifestStore) in passes until none is left
    or the time budget is spent; returns an ApplyResult.

    `metrics` (metrics.ApplyMetrics, or NoMetrics by default) gets each pass's numbers (docs/operations.md, "Watching the pipeline"):
    ManifestsPending is what the pass listed (at least that many wait; a count of all would need a full
    listing every pass), OldestPendingManifestAge the age of the first one listed (the oldest: time order).

    `spread` (spark_apply.SparkSpread) syncs each pass's keys elsewhere, e.g. over Spark's executors;
    by default they are synced in this process.

    A request that fails for good (e.g. RetryBudgetExceeded) is raised after the pass wrote its remainder."""
    return _Run(store, replicator, settings, schema, clock, log, metrics, wall_clock, spread).run()


def _written_at(entry: Listed, store: ManifestStore) -> Union[float, datetime.datetime, None]:
    """When the oldest listed manifest's changes were made: the time in its name (a remainder keeps the
    oldest it replaced, so a key held run after run shows its real age), else its LastModified."""
    order = manifest_format.order_of(entry.name, store.manifest_prefix)
    return manifest_format.order_time(order) if order else entry.last_modified


def _names(values: list[str]) -> str:
    shown = ", ".join(values[:MAX_NAMES_IN_MESSAGE])
    if len(values) > MAX_NAMES_IN_MESSAGE:
        shown += " and %d more" % (len(values) - MAX_NAMES_IN_MESSAGE)
    return shown


def check_failures(result: ApplyResult, log: LogFunction = job_log.log_event) -> None:
    """After everything else: raises ManifestsRejected when the run rejected any manifest, else
    KeysQuarantined when it quarantined a key, so that the run ends FAILED and the alarm fires."""
    parts = []
    if result.rejected:
        parts.append("%d malformed manifest(s) rejected and moved aside (their keys were NOT applied; see the "
                     "manifest_rejected log lines): %s"
                     % (len(result.rejected), _names(["%s -> %s" % (r["manifest"], r["moved_to"]) for r in result.rejected])))
    if result.quarantined:
        parts.append("%d key(s) could not be written to the backup and were quarantined (every other key was "
                     "applied; see the key_quarantined log lines and the README runbook): %s"
                     % (len(result.quarantined), _names(["%s (%s) -> %s" % (kid, q["reason"], q["object"])
                                                         for kid, q in sorted(result.quarantined.items())])))
    if not parts:
        return
    message = "; ".join(parts)
    log("apply_failed", reason=message, rejected=result.rejected, quarantined=result.quarantined)
    raise (ManifestsRejected if result.rejected else KeysQuarantined)(message)
