"""Job arguments: Glue passes `--name value` pairs in sys.argv, plus its own (--JOB_ID, --JOB_RUN_ID,
--JOB_NAME, --job-bookmark-option, --TempDir, --enable-metrics, ...) which are ignored here, except
--JOB_RUN_ID for apply-changes (config.job_run_id, None when absent: it marks the remainders a run writes).

awsglue.utils.getResolvedOptions is used when it can be imported (on Glue); elsewhere a small parser
with the same behaviour for these arguments (`--name value` or `--name=value`, the last one wins).
getResolvedOptions has no defaults, so only the arguments present are resolved and the defaults below
fill in the rest.
"""

import json

from . import retained
from . import transform as transform_module

COMMON_DEFAULTS = {
    "source_table": None,          # required
    "backup_table": None,          # required
    "delete_policy": "retain",     # retain | mirror
    "transform": "{}",             # JSON: {"rename": {...}, "drop": [...]}
    "region": "",                  # "" = the SDK's default region
    "retained_attribute": retained.DEFAULT_ATTRIBUTE,  # marks retained items (retain); never in source items
}
APPLY_DEFAULTS = {
    "manifest_bucket": None,       # required
    "manifest_prefix": "changes/",
    "rejected_prefix": "rejected/",
    "quarantine_prefix": "quarantine/",
    "time_budget_seconds": "600",  # applyChangesJob.timeBudgetSeconds: a run drains this long, then leaves a remainder
    "max_pass_bytes": "16777216",  # manifest JSON per pass: bounds a run's memory (parsed, about 9 times this)
    "metrics_namespace": "",       # CloudWatch namespace of the stack's metrics (lib/metrics.py); "" = off
    "metrics_pipeline": "",        # value of the Pipeline dimension (the stack's name prefix); needed with a namespace
    "JOB_RUN_ID": "",              # passed by Glue to every run; "" = not run by Glue
}
FULL_COPY_DEFAULTS = {
    "scan_segments": "0",          # 0 = derive from the Spark cluster (see spark_segments.py)
    "max_items_per_second": "0",   # per segment; 0 = no limit
    "mirror_deletes": "false",     # true = also delete backup items absent from the source
    "consistent_scan": "false",    # Scan with ConsistentRead (writes are verified with consistent reads anyway)
    "verify_writes": "true",       # re-read written keys from the source (see replicate.py)
}
# Arguments awsglue.utils.getResolvedOptions adds to its parser whatever it is asked for.
GLUE_DECLARED = ("JOB_ID", "JOB_RUN_ID")
VERIFY_DEFAULTS = {
    "scan_segments": "0",          # 0 = derive from the Spark cluster
    "max_items_per_second": "0",   # per segment, per pass; 0 = no limit
    "sample_fraction": "1",        # > 0 and <= 1: the share of the scan segments checked
    "repair": "false",             # true = make the backup match (the shared writer, as full-copy)
    "settle_seconds": "300",       # a mismatch still there after the re-read is read again this long after
    "report_bucket": None,         # required: where the JSON report goes
    "report_prefix": "verify/",
    "metrics_namespace": "",       # the stack's namespace (contracts/metrics.ts); "" = publish no metrics
    "metrics_pipeline": "",        # value of the Pipeline dimension; needed with a namespace
    "sample_keys": "20",           # keys kept per class in the report
    "JOB_RUN_ID": "",              # passed by Glue; names the report
}
RESTORE_DEFAULTS = {
    "backup_table": None,          # required: read from, never written
    "target_table": None,          # required: written to
    "source_table": "",            # the replicated source: a target only with --allow_source_target true
    "allow_source_target": "false",
    "allowed_targets": "[]",       # JSON list of table names; <backup_table>-restore-* is always allowed
    "mode": "missing-only",        # missing-only | overwrite
    "include_retained": "false",   # true = also restore retained (deleted-in-source) items, unmarked
    "deleted_after": "",           # with include_retained: only items deleted at or after this ISO-8601 UTC time
    "deleted_before": "",          # with include_retained: only items deleted before this time (into the source:
                                   # at most 60 s before the restore's start, its default)
    "dry_run": "false",
    "create_target": "false",      # true = create a missing target with the backup's key schema (on demand)
    "transform": "{}",             # the replication transform, inverted here
    "region": "",
    "retained_attribute": retained.DEFAULT_ATTRIBUTE,
    "scan_segments": "0",
    "max_items_per_second": "0",   # per segment; for provisioned targets
    "report_bucket": None,
    "report_prefix": "restore/",
    "sample_keys": "20",
    # Into the source (restore_guard.py): where the pipeline keeps what the backup has not recorded yet.
    "manifest_bucket": "",
    "manifest_prefix": "changes/",
    "rejected_prefix": "rejected/",
    "quarantine_prefix": "quarantine/",
    "dead_letter_queue_name": "",  # the change-trigger function's (in this account and region)
    "delivery_seconds": "450",     # a stream record is in a manifest or dead-lettered by then (the stack derives it)
    "catch_up_seconds": "900",     # how long to wait for apply-changes to catch up before refusing
    "poll_seconds": "10",
    "JOB_RUN_ID": "",
}
RESTORE_MODES = ("missing-only", "overwrite")
RESTORE_TARGET_SUFFIX = "-restore-"


class ArgumentError(ValueError):
    """A job argument is missing or invalid."""


def _present(argv, name):
    flag = "--" + name
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def parse_args(argv, names):
    """{name: value} for the `--name value` / `--name=value` arguments in `names` that are present."""
    wanted = set(names)
    values = {}
    index = 1
    while index < len(argv):
        arg = argv[index]
        index += 1
        if not arg.startswith("--"):
            continue
        name = arg[2:]
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        elif index < len(argv) and not argv[index].startswith("--"):
            value = argv[index]
            index += 1
        if name not in wanted:
            continue
        if value is None:
            raise ArgumentError("argument --%s needs a value" % name)
        values[name] = value
    return values


def resolve(argv, defaults):
    """Argument values with defaults filled in; raises ArgumentError when a required one is missing."""
    names = sorted(defaults)
    present = [name for name in names if _present(argv, name)]
    try:
        from awsglue.utils import getResolvedOptions  # only on Glue
    except ImportError:
        getResolvedOptions = None
    # getResolvedOptions declares Glue's own --JOB_ID / --JOB_RUN_ID itself: asking it for them again is an
    # argparse conflict, so those are read by the small parser.
    own = [name for name in present if name not in GLUE_DECLARED]
    values = parse_args(argv, [name for name in present if name in GLUE_DECLARED])
    if getResolvedOptions is not None and own:
        resolved = getResolvedOptions(list(argv), own)
        values.update((name, resolved[name]) for name in own)
    else:
        values.update(parse_args(argv, own))
    missing = sorted(name for name in names if defaults[name] is None and not values.get(name))
    if missing:
        raise ArgumentError("missing required argument(s): %s" % ", ".join("--" + n for n in missing))
    result = dict(defaults)
    result.update(values)
    return result


def _boolean(name, value):
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ArgumentError("--%s must be true or false, got %r" % (name, value))


def _number(name, value, kind, minimum, strictly_greater=False):
    try:
        number = kind(str(value).strip())
    except ValueError:
        raise ArgumentError("--%s must be a%s number, got %r" % (name, "n integer" if kind is int else "", value))
    if number != number or number in (float("inf"), float("-inf")):
        raise ArgumentError("--%s must be a finite number, got %r" % (name, value))
    if number < minimum or (strictly_greater and number == minimum):
        raise ArgumentError("--%s must be %s %s, got %r" % (name, ">" if strictly_greater else ">=", minimum, value))
    return number


class JobConfig(object):
    """Validated arguments of either job (attributes named like the arguments)."""

    def __init__(self, values):
        self.__dict__.update(values)


def _common(values):
    if values["delete_policy"] not in ("retain", "mirror"):
        raise ArgumentError("--delete_policy must be retain or mirror, got %r" % (values["delete_policy"],))
    if values["source_table"] == values["backup_table"]:
        raise ArgumentError("--source_table and --backup_table are the same table (%s)" % values["source_table"])
    try:
        values["retained_attribute"] = retained.check_attribute_name(values["retained_attribute"])
    except ValueError as error:
        raise ArgumentError(str(error))
    try:
        values["transform"] = transform_module.Transform.parse(values["transform"])
        values["transform"].check_reserved(values["retained_attribute"], "--retained_attribute")
    except transform_module.TransformError as error:
        raise ArgumentError(str(error))
    values["region"] = values["region"] or None
    return values


def apply_changes_config(argv):
    defaults = dict(COMMON_DEFAULTS)
    defaults.update(APPLY_DEFAULTS)
    values = _common(resolve(argv, defaults))
    values["time_budget_seconds"] = _number("time_budget_seconds", values["time_budget_seconds"], float, 0,
                                            strictly_greater=True)
    values["max_pass_bytes"] = _number("max_pass_bytes", values["max_pass_bytes"], int, 1024)
    prefix = values["manifest_prefix"]
    for name, what in (("rejected_prefix", "rejected"), ("quarantine_prefix", "quarantined")):
        other = values[name]
        if not other or other == prefix or other.startswith(prefix):
            raise ArgumentError("--%s (%r) must be non-empty and outside --manifest_prefix (%r), or %s manifests "
                                "would be listed again" % (name, other, prefix, what))
    if values["rejected_prefix"] == values["quarantine_prefix"]:
        raise ArgumentError("--quarantine_prefix and --rejected_prefix must differ (%r)" % values["rejected_prefix"])
    values["job_run_id"] = values.pop("JOB_RUN_ID") or None
    namespace = values["metrics_namespace"]
    if namespace and (len(namespace) > 255 or namespace.startswith(":") or namespace.startswith("AWS/")):
        raise ArgumentError("--metrics_namespace must be 1-255 characters, not starting with ':' or 'AWS/', got %r" % (namespace,))
    if namespace and not values["metrics_pipeline"]:
        raise ArgumentError("--metrics_pipeline is required with --metrics_namespace (the Pipeline dimension's value)")
    return JobConfig(values)


def full_copy_config(argv):
    defaults = dict(COMMON_DEFAULTS)
    defaults.update(FULL_COPY_DEFAULTS)
    values = _scan_settings(_common(resolve(argv, defaults)))
    for name in ("mirror_deletes", "consistent_scan", "verify_writes"):
        values[name] = _boolean(name, values[name])
    if values["mirror_deletes"] and values["delete_policy"] != "mirror":
        raise ArgumentError("--mirror_deletes true deletes backup items absent from the source, which contradicts "
                            "--delete_policy retain; use --delete_policy mirror with it")
    return JobConfig(values)


def _scan_settings(values):
    values["scan_segments"] = _number("scan_segments", values["scan_segments"], int, 0)
    if values["scan_segments"] > 1000000:
        raise ArgumentError("--scan_segments must be at most 1000000 (DynamoDB's TotalSegments limit)")
    values["max_items_per_second"] = _number("max_items_per_second", values["max_items_per_second"], float, 0)
    return values


def _segments_and_rate(values):
    """Scan settings plus the report's (verify and restore)."""
    values = _scan_settings(values)
    values["sample_keys"] = _number("sample_keys", values["sample_keys"], int, 0)
    values["job_run_id"] = values.pop("JOB_RUN_ID") or None
    return values


def verify_config(argv):
    defaults = dict(COMMON_DEFAULTS)
    defaults.update(VERIFY_DEFAULTS)
    values = _segments_and_rate(_common(resolve(argv, defaults)))
    values["sample_fraction"] = _number("sample_fraction", values["sample_fraction"], float, 0, strictly_greater=True)
    if values["sample_fraction"] > 1:
        raise ArgumentError("--sample_fraction must be > 0 and <= 1, got %r" % (values["sample_fraction"],))
    values["repair"] = _boolean("repair", values["repair"])
    values["settle_seconds"] = _number("settle_seconds", values["settle_seconds"], float, 0)
    values["metrics_namespace"] = values["metrics_namespace"] or None
    if values["metrics_namespace"] and not values["metrics_pipeline"]:
        raise ArgumentError("--metrics_pipeline is required with --metrics_namespace (the Pipeline dimension's value)")
    return JobConfig(values)


def restore_config(argv):
    values = _segments_and_rate(resolve(argv, dict(RESTORE_DEFAULTS)))
    for name in ("allow_source_target", "include_retained", "dry_run", "create_target"):
        values[name] = _boolean(name, values[name])
    if values["mode"] not in RESTORE_MODES:
        raise ArgumentError("--mode must be missing-only or overwrite, got %r" % (values["mode"],))
    backup, target, source = values["backup_table"], values["target_table"], values["source_table"]
    if target == backup:
        raise ArgumentError("--target_table is the backup (%s): restore reads the backup and never writes it" % backup)
    try:
        allowed = json.loads(values["allowed_targets"] or "[]")
    except ValueError:
        allowed = None
    if not isinstance(allowed, list) or not all(isinstance(name, str) for name in allowed):
        raise ArgumentError("--allowed_targets must be a JSON list of table names, got %r" % (values["allowed_targets"],))
    values["allowed_targets"] = allowed
    if not (target in allowed or target.startswith(backup + RESTORE_TARGET_SUFFIX)):
        raise ArgumentError("--target_table %s is not allowed: use a new table named %s%s<name>, or add it to "
                            "restore.allowedTargets (%s)" % (target, backup, RESTORE_TARGET_SUFFIX,
                                                             ", ".join(allowed) or "none"))
    if source and target == source and not values["allow_source_target"]:
        raise ArgumentError("--target_table is the source table %s: writing into it needs --allow_source_target true"
                            % source)
    for name in ("deleted_after", "deleted_before"):
        if values[name] and not values["include_retained"]:
            raise ArgumentError("--%s selects retained items to restore: it needs --include_retained true" % name)
        if values[name]:
            values[name] = _iso_time(name, values[name])
    for name in ("delivery_seconds", "catch_up_seconds", "poll_seconds"):
        values[name] = _number(name, values[name], float, 0)
    values["into_source"] = bool(source) and target == source
    if values["into_source"]:
        _check_into_source(values)
    try:
        values["retained_attribute"] = retained.check_attribute_name(values["retained_attribute"])
        values["transform"] = transform_module.Transform.parse(values["transform"])
    except ValueError as error:
        raise ArgumentError(str(error))
    values["region"] = values["region"] or None
    return JobConfig(values)


def _check_into_source(values):
    """Into the source only recorded deletions inside a window come back (restore_guard.py)."""
    if values["mode"] != "missing-only":
        raise ArgumentError("--mode %s into the source table would put the backup's states over newer ones the "
                            "application wrote: into the source only --mode missing-only is allowed" % values["mode"])
    if not (values["include_retained"] and values["deleted_after"]):
        raise ArgumentError("into the source table only items whose deletion the backup recorded are restored: pass "
                            "--include_retained true and --deleted_after <ISO-8601 UTC time just before the "
                            "mistake> (and --deleted_before <just after it>)")
    if not values["manifest_bucket"]:
        raise ArgumentError("into the source table the restore checks what the backup has not recorded yet: "
                            "--manifest_bucket is required (the stack sets it)")


def _iso_time(name, text):
    """The same ISO-8601 UTC form as the retained marker's deletedAt (both are read back as times:
    retained.epoch_seconds)."""
    import datetime
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            moment = datetime.datetime.strptime(text.strip(), layout)
        except ValueError:
            continue
        return retained.deleted_at((moment - datetime.datetime(1970, 1, 1)).total_seconds())
    raise ArgumentError("--%s must be an ISO-8601 UTC time such as 2026-01-31T09:30:00Z, got %r" % (name, text))


def describe(config):
    """The config as JSON-friendly dict, for the start-of-run log line."""
    out = {}
    for name, value in sorted(config.__dict__.items()):
        out[name] = value.to_dict() if hasattr(value, "to_dict") else value
    return out
