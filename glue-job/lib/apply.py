"""apply-changes: drain the change manifests into the backup.

A pass lists up to `max_manifests_per_pass` manifests, reads them (a malformed one is moved to the
rejected prefix with its reason and does not block the others), takes the union of their keys and
syncs them in chunks of `keys_per_chunk` with the shared Replicator (current source state, consistent
read; put, or delete under "mirror"; verify). A manifest is deleted as soon as all of its keys have
been applied, never before. Passes repeat until a listing finds no manifest (so a change written
during a run is not stranded) or the time budget runs out, which is checked before every chunk: the
run then logs that it stopped and returns normally, leaving the remaining manifests for the next run.

Everything is idempotent: applying a key again copies the same current state, so a crash, a rerun, a
duplicated manifest or two runs at once all converge (see replicate.py for the two-writer race).
"""

import time

import ddb_batch
import job_log
import manifests
import table_keys


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
        self.keys = 0
        self.stopped_by_budget = False
        self.seconds = 0.0

    def as_dict(self):
        return dict(self.__dict__)


def _read_pass(s3, settings, names, schema, log, out_of_time):
    """[(manifest name, keys)] for the readable, valid manifests; rejects malformed ones."""
    parsed = []
    rejected = 0
    for name in names:
        if out_of_time():
            return parsed, rejected, True
        body = manifests.read_manifest(s3, settings.manifest_bucket, name)
        if body is None:
            continue
        try:
            keys = manifests.parse_manifest(body, schema)
        except manifests.ManifestError as error:
            target = manifests.reject_manifest(s3, settings.manifest_bucket, name, settings.manifest_prefix,
                                               settings.rejected_prefix, str(error))
            rejected += 1
            log("manifest_rejected", manifest=name, moved_to=target, reason=str(error))
            continue
        parsed.append((name, keys))
    return parsed, rejected, False


def _apply_pass(s3, replicator, settings, parsed, out_of_time):
    """Sync the union of the manifests' keys; delete each manifest once all its keys are applied."""
    remaining = {}
    owners = {}
    ordered = []
    for name, keys in parsed:
        ids = set()
        for key in keys:
            kid = table_keys.key_id(key)
            ids.add(kid)
            if kid not in owners:
                owners[kid] = []
                ordered.append((kid, key))
            if name not in owners[kid]:
                owners[kid].append(name)
        remaining[name] = ids
    applied_keys = 0
    deleted = 0
    for name in [n for n, ids in remaining.items() if not ids]:  # nothing to apply (not produced by parse_manifest)
        manifests.delete_manifest(s3, settings.manifest_bucket, name)
        deleted += 1
        del remaining[name]
    for start in range(0, len(ordered), settings.keys_per_chunk):
        if out_of_time():
            return applied_keys, deleted, True
        chunk = ordered[start:start + settings.keys_per_chunk]
        replicator.sync_keys([key for _, key in chunk])
        applied_keys += len(chunk)
        for kid, _ in chunk:
            for name in owners[kid]:
                left = remaining[name]
                left.discard(kid)
                if not left:
                    manifests.delete_manifest(s3, settings.manifest_bucket, name)
                    deleted += 1
                    del remaining[name]
            del owners[kid]
    return applied_keys, deleted, False


def run(s3, replicator, settings, schema, clock=time.monotonic, log=job_log.log_event):
    """Apply passes until no manifest is left or the time budget is spent; returns an ApplyResult."""
    result = ApplyResult()
    started = clock()
    stats = replicator.stats

    def out_of_time():
        return clock() - started >= settings.time_budget_seconds

    while True:
        if out_of_time():
            result.stopped_by_budget = True
            break
        names = manifests.list_manifests(s3, settings.manifest_bucket, settings.manifest_prefix,
                                         limit=settings.max_manifests_per_pass, page_size=settings.list_page_size)
        if not names:
            break
        result.passes += 1
        pass_started = clock()
        before = stats.as_dict()
        parsed, rejected, stopped = _read_pass(s3, settings, names, schema, log, out_of_time)
        keys = deleted = 0
        if not stopped:
            keys, deleted, stopped = _apply_pass(s3, replicator, settings, parsed, out_of_time)
        delta = stats.minus(before)
        result.manifests_applied += deleted
        result.manifests_rejected += rejected
        result.keys += keys
        log("apply_pass", **{
            "pass": result.passes, "manifests": deleted, "rejected": rejected, "keys": keys,
            "puts": delta["puts"], "deletes": delta["deletes"], "retries": delta["retries"],
            "verify_mismatches": delta["verify_mismatches"],
            "read_requests": delta["read_requests"], "write_requests": delta["write_requests"],
            "seconds": round(clock() - pass_started, 3),
        })
        if stopped:
            result.stopped_by_budget = True
            break
        if not deleted and not rejected:
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
