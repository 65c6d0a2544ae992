"""apply-changes: drain the change manifests into the backup.

A pass lists up to `max_manifests_per_pass` manifests, reads them (a malformed one is moved to the
rejected prefix with its reason and does not block the others), takes the union of their keys and
syncs them in chunks of `keys_per_chunk` with the shared Replicator (current source state, consistent
read; put, or delete under "mirror"; verify). A manifest is deleted as soon as all of its keys have
been applied, never before. Passes repeat until a listing finds no manifest (so a change written
during a run is not stranded) or the time budget runs out, which is checked before every chunk: the
run then logs that it stopped and returns normally, leaving the remaining manifests for the next run.

Deleted items under "retain": a manifest's optional "removed" entries carry the last state (OldImage)
of keys whose last record in the batch was a REMOVE, with the record's sequence number. For a key
absent from the source, the entry with the highest sequence number among the pass's manifests is
written as a retained item, versioned by that sequence number; the write is conditional (item_writer.py),
so an older entry, in a later pass, a later run, a run stopped or crashed half way, or a run going on at
the same time, never replaces a newer one. A key present in the source is synced from the source
(re-inserted: the source wins). Under "mirror" the entries are ignored (absent => deleted).

Hot keys: a key that still changes after the Replicator's max_rounds of read-write-verify is reported
(`keys_kept_changing` log line, ApplyResult.hot_keys); the manifests holding it are kept (not deleted,
not listed again in this run: ApplyResult.manifests_held) and the run carries on with the others.
A key that cannot be written at all (DynamoDB refuses the item, e.g. over 400 KB once the retained
marker is added; or it carries the retained attribute in a form no condition can order) is set aside
the same way (`key_not_written`, ApplyResult.unwritable), and the run fails at its end, naming it.

Everything is idempotent: applying a key again copies the same current state, so a crash, a rerun, a
duplicated manifest or two runs at once all converge (see replicate.py for the two-writer race).

What a run that could not finish everything must do afterwards (start_follow_up_run, check_rejected)
is called by the entry point, apply_changes.py.
"""

import time

import ddb_batch
import job_log
import manifests
import replicate
import table_keys

# Names listed in the failure messages at most (the log lines carry them all).
MAX_NAMES_IN_MESSAGE = 20


class ApplyRunFailed(RuntimeError):
    """The run did what it could but must end FAILED, so that the job-failure alarm fires."""


class ManifestsRejected(ApplyRunFailed):
    """Malformed manifests were moved to the rejected prefix during the run."""


class FollowUpRunNotStarted(ApplyRunFailed):
    """Manifests were left for a next run, and StartJobRun for that run failed."""


class ApplySettings(object):
    def __init__(self, manifest_bucket, manifest_prefix="changes/", rejected_prefix="rejected/",
                 time_budget_seconds=2700.0, keys_per_chunk=ddb_batch.MAX_GET_KEYS,
                 max_manifests_per_pass=1000, list_page_size=1000):
        self.manifest_bucket = manifest_bucket
        self.manifest_prefix = manifest_prefix
        self.rejected_prefix = rejected_prefix
        self.time_budget_seconds = float(time_budget_seconds)
        self.keys_per_chunk = int(keys_per_chunk)
        self.max_manifests_per_pass = int(max_manifests_per_pass)
        self.list_page_size = int(list_page_size)


class ApplyResult(object):
    def __init__(self):
        self.passes = 0
        self.manifests_applied = 0
        self.manifests_rejected = 0
        self.rejected = []           # [{"manifest", "moved_to", "reason"}]
        self.manifests_held = []     # kept for a next run: a key in them kept changing or cannot be written
        self.hot_keys = []           # key ids of the keys that kept changing
        self.unwritable = {}         # key id -> why it cannot be written (its manifests are held too)
        self.keys = 0
        self.stopped_by_budget = False
        self.seconds = 0.0

    @property
    def needs_follow_up(self):
        """Manifests were left on purpose (budget spent, or held for hot keys): a next run must start."""
        # Not for keys that cannot be written: a run started for them alone would fail the same way, at
        # once, again and again; their manifests wait for the next run the stream or a person starts.
        return bool(self.stopped_by_budget or self.hot_keys)

    def as_dict(self):
        return dict(self.__dict__)


class _PassOutcome(object):
    def __init__(self):
        self.keys = 0
        self.deleted = 0
        self.held = []
        self.hot_keys = []
        self.unwritable = {}
        self.stopped = False


def _read_pass(s3, settings, names, schema, log, out_of_time, rejected):
    """[(manifest name, Manifest)] for the readable, valid manifests; rejects malformed ones (appended to
    `rejected`). Returns (parsed, stopped)."""
    parsed = []
    for name in names:
        if out_of_time():
            return parsed, True
        body = manifests.read_manifest(s3, settings.manifest_bucket, name)
        if body is None:
            continue
        try:
            manifest = manifests.parse_manifest_document(body, schema)
        except manifests.ManifestError as error:
            target = manifests.reject_manifest(s3, settings.manifest_bucket, name, settings.manifest_prefix,
                                               settings.rejected_prefix, str(error))
            rejected.append({"manifest": name, "moved_to": target, "reason": str(error)})
            log("manifest_rejected", manifest=name, moved_to=target, reason=str(error))
            continue
        parsed.append((name, manifest))
    return parsed, False


def _latest_removals(parsed):
    """{key_id: RemovedEntry} with the highest sequence number per key over the pass's manifests."""
    latest = {}
    for _, manifest in parsed:
        for entry in manifest.removed:
            kid = table_keys.key_id(entry.key)
            best = latest.get(kid)
            if best is None or entry.sequence > best.sequence:
                latest[kid] = entry
    return latest


def _apply_pass(s3, replicator, settings, parsed, out_of_time, log):
    """Sync the union of the manifests' keys; delete each manifest once all its keys are applied."""
    outcome = _PassOutcome()
    remaining = {}
    owners = {}
    ordered = []
    for name, manifest in parsed:
        ids = set()
        for key in manifest.keys:
            kid = table_keys.key_id(key)
            ids.add(kid)
            if kid not in owners:
                owners[kid] = []
                ordered.append((kid, key))
            if name not in owners[kid]:
                owners[kid].append(name)
        remaining[name] = ids
    removals = _latest_removals(parsed) if replicator.delete_policy == "retain" else {}
    for name in [n for n, ids in remaining.items() if not ids]:  # nothing to apply (not produced by the parser)
        manifests.delete_manifest(s3, settings.manifest_bucket, name)
        outcome.deleted += 1
        del remaining[name]
    held = set()
    for start in range(0, len(ordered), settings.keys_per_chunk):
        if out_of_time():
            outcome.stopped = True
            break
        chunk = ordered[start:start + settings.keys_per_chunk]
        retained = dict((kid, removals[kid]) for kid, _ in chunk if kid in removals)
        hot = set()
        try:
            replicator.sync_keys([key for _, key in chunk], retained=retained)
        except replicate.KeysSetAside as error:
            hot = set(table_keys.key_id(key) for key in error.keys)
            changing = sorted(table_keys.key_id(key) for key in error.hot)
            if changing:
                log("keys_kept_changing", keys=changing, rounds=replicator.max_rounds,
                    manifests=sorted(set(n for kid in changing for n in owners[kid])),
                    action="their manifests are kept for the next run; the run carries on")
            for kid, reason in sorted(error.unwritable.items()):
                outcome.unwritable[kid] = reason
                log("key_not_written", key=kid, reason=reason, manifests=sorted(owners[kid]),
                    action="its manifests are kept; the run carries on and then fails so that the alarm fires")
        for kid, _ in chunk:
            if kid in hot:  # stays in its manifests' remaining sets: they are never deleted in this run
                held.update(owners[kid])
                if kid not in outcome.unwritable:
                    outcome.hot_keys.append(kid)
                continue
            outcome.keys += 1
            for name in owners[kid]:
                left = remaining[name]
                left.discard(kid)
                if not left:
                    manifests.delete_manifest(s3, settings.manifest_bucket, name)
                    outcome.deleted += 1
                    del remaining[name]
            del owners[kid]
    outcome.held = sorted(held)
    return outcome


def run(s3, replicator, settings, schema, clock=time.monotonic, log=job_log.log_event):
    """Apply passes until no manifest is left or the time budget is spent; returns an ApplyResult."""
    result = ApplyResult()
    started = clock()
    stats = replicator.stats
    held = set()              # manifests kept for hot keys: not listed again in this run

    def out_of_time():
        return clock() - started >= settings.time_budget_seconds

    while True:
        if out_of_time():
            result.stopped_by_budget = True
            break
        names = manifests.list_manifests(s3, settings.manifest_bucket, settings.manifest_prefix,
                                         limit=settings.max_manifests_per_pass, page_size=settings.list_page_size,
                                         exclude=held)
        if not names:
            break
        result.passes += 1
        pass_started = clock()
        before = stats.as_dict()
        rejected = []
        parsed, stopped = _read_pass(s3, settings, names, schema, log, out_of_time, rejected)
        outcome = _PassOutcome()
        if not stopped:
            outcome = _apply_pass(s3, replicator, settings, parsed, out_of_time, log)
            stopped = outcome.stopped
        delta = stats.minus(before)
        held.update(outcome.held)
        result.manifests_applied += outcome.deleted
        result.manifests_rejected += len(rejected)
        result.rejected.extend(rejected)
        result.manifests_held.extend(outcome.held)
        result.hot_keys.extend(outcome.hot_keys)
        result.unwritable.update(outcome.unwritable)
        result.keys += outcome.keys
        log("apply_pass", **{
            "pass": result.passes, "manifests": outcome.deleted, "rejected": len(rejected),
            "held": len(outcome.held), "keys": outcome.keys, "hot_keys": len(outcome.hot_keys),
            "puts": delta["puts"], "deletes": delta["deletes"], "retained_images": delta["retained_images"],
            "retained_skipped": delta["retained_skipped"], "condition_failures": delta["condition_failures"],
            "live_writes_dropped": delta["live_writes_dropped"],
            "retries": delta["retries"], "verify_mismatches": delta["verify_mismatches"],
            "read_requests": delta["read_requests"], "write_requests": delta["write_requests"],
            "seconds": round(clock() - pass_started, 3),
        })
        if stopped:
            result.stopped_by_budget = True
            break
        if not outcome.deleted and not rejected and not outcome.held:
            # Every manifest listed had vanished before it could be read: another run is draining the
            # same prefix (it loops until none is left), so stop here rather than spin on the listing.
            log("apply_yield", reason="listed manifests were taken by another run")
            break
    result.seconds = round(clock() - started, 3)
    if result.stopped_by_budget:
        log("apply_stopped", reason="time budget of %.0f s spent; remaining manifests are left for the next run"
            % settings.time_budget_seconds, **result.as_dict())
    else:
        log("apply_done", **result.as_dict())
    return result


def _names(values):
    shown = ", ".join(values[:MAX_NAMES_IN_MESSAGE])
    if len(values) > MAX_NAMES_IN_MESSAGE:
        shown += " and %d more" % (len(values) - MAX_NAMES_IN_MESSAGE)
    return shown


def rejected_message(result):
    """The failure message for the manifests rejected in the run, or None when there were none."""
    if not result.rejected:
        return None
    return ("%d malformed manifest(s) rejected and moved aside (their keys were NOT applied; see the "
            "manifest_rejected log lines for the reasons): %s"
            % (len(result.rejected), _names(["%s -> %s" % (r["manifest"], r["moved_to"]) for r in result.rejected])))


def start_follow_up_run(result, job_name, glue_client_factory, log=job_log.log_event):
    """When the run left manifests on purpose (budget, hot keys), StartJobRun(JobName=job_name) once.

    With job run queuing on and max concurrent runs 1, the new run waits (WAITING) until this one ends.
    Without a job name (a run outside Glue) it only logs that no run was started. Returns the new
    JobRunId or None; raises FollowUpRunNotStarted when StartJobRun fails (the run must then fail).
    """
    if not result.needs_follow_up:
        return None
    reasons = []
    if result.stopped_by_budget:
        reasons.append("time budget spent")
    if result.hot_keys:
        reasons.append("%d key(s) kept changing; their manifests are held" % len(result.hot_keys))
    reason = "; ".join(reasons)
    if not job_name:
        log("follow_up_run_not_started", reason=reason,
            why="no --JOB_NAME argument (not run by Glue): start apply-changes again by hand")
        return None
    try:
        response = glue_client_factory().start_job_run(JobName=job_name)
    except Exception as error:  # noqa: BLE001 - any failure to start the run fails this run
        log("follow_up_run_failed", job_name=job_name, reason=reason, error="%s: %s" % (type(error).__name__, error))
        message = "StartJobRun(JobName=%r) for the follow-up run failed (%s): %s" % (job_name, reason, error)
        rejected = rejected_message(result)
        if rejected:
            message += "; also: " + rejected
        raise FollowUpRunNotStarted(message)
    run_id = response.get("JobRunId")
    log("follow_up_run_started", job_name=job_name, job_run_id=run_id, reason=reason)
    return run_id


def unwritable_message(result):
    """The failure message for the keys that could not be written, or None when there were none."""
    if not result.unwritable:
        return None
    return ("%d key(s) could not be written to the backup (their manifests are kept, every other key was "
            "applied; see the key_not_written log lines): %s"
            % (len(result.unwritable), _names(["%s (%s)" % item for item in sorted(result.unwritable.items())])))


class KeysNotWritten(ApplyRunFailed):
    """Some keys could not be written; everything else was applied."""


def check_rejected(result, log=job_log.log_event):
    """After everything else: raises ManifestsRejected when the run rejected any manifest, else
    KeysNotWritten when a key could not be written, so that the run ends FAILED and the alarm fires."""
    rejected, unwritable = rejected_message(result), unwritable_message(result)
    message = "; ".join(m for m in (rejected, unwritable) if m)
    if not message:
        return
    log("apply_failed", reason=message, rejected=result.rejected, unwritable=result.unwritable)
    raise (ManifestsRejected if rejected else KeysNotWritten)(message)
