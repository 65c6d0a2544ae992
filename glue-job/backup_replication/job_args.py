"""Job arguments, each declared once: a field of its job's frozen dataclass (ApplyChangesConfig,
FullCopyConfig, VerifyConfig, RestoreConfig) holding an Argument, that is its default, its kind (what
the text may be and what it becomes) and one sentence saying what it does. reference() gives these
declarations as plain data; scripts/generate-docs.ts writes docs/glue-job-arguments.md from it.

Glue passes `--name value` pairs in sys.argv, plus its own (--JOB_ID, --JOB_RUN_ID, --JOB_NAME,
--job-bookmark-option, --TempDir, --enable-metrics, ...): of those only --JOB_RUN_ID is declared (by the
jobs that read it), the others are ignored.

awsglue.utils.getResolvedOptions is used when it can be imported (on Glue); elsewhere a small parser
with the same behaviour for these arguments (`--name value` or `--name=value`, the last one wins).
getResolvedOptions has no defaults, so only the arguments present are resolved and the declared
defaults fill in the rest. Each value then goes through its kind, in declaration order, and last each
job checks the arguments that depend on one another. A bad argument raises ArgumentError, which the
jobs turn into exit status 2 (job_setup.fail).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import retained
from . import table_keys
from . import transform as transform_module

DELETE_POLICIES = ("retain", "mirror")
RESTORE_MODES = ("missing-only", "overwrite")
RESTORE_TARGET_SUFFIX = "-restore-"
# The restore drill's own tables, `<backup><RESTORE_DRILL_INFIX><run>`: the only tables its role may create,
# write and delete (contracts/restore-targets.ts).
RESTORE_DRILL_INFIX = "-restore-drill-"
MAX_TABLE_NAME = 255  # DynamoDB's limit on a table name
# Arguments awsglue.utils.getResolvedOptions adds to its parser whatever it is asked for.
GLUE_DECLARED = ("JOB_ID", "JOB_RUN_ID")
# Where a field keeps its Argument (dataclasses.field metadata).
_ARGUMENT = "argument"


class ArgumentError(ValueError):
    """A job argument is missing or invalid."""


# What an argument's text may be ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Kind:
    """What an argument's text may be: `parse(flag, text)` is its value, or raises ArgumentError naming
    --flag; `name` and `allowed` are what the reference says."""

    name: str
    allowed: str
    parse: Callable[[str, str], Any]


def _text(flag: str, text: str) -> str:
    return text


def _text_or_none(flag: str, text: str) -> Optional[str]:
    return text or None


def _boolean(flag: str, text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ArgumentError("--%s must be true or false, got %r" % (flag, text))


def choice(*values: str) -> Kind:
    """One of `values`."""
    def parse(flag: str, text: str) -> str:
        if text not in values:
            raise ArgumentError("--%s must be %s, got %r" % (flag, " or ".join(values), text))
        return text
    return Kind("enum", ", ".join("`%s`" % value for value in values), parse)


def number(minimum: Union[int, float], integer: bool = False, above: bool = False,
           maximum: Optional[Union[int, float]] = None, maximum_reason: str = "") -> Kind:
    """A finite number (an int when `integer`) >= minimum (> with `above`), at most `maximum`."""
    convert = int if integer else float
    lower = "%s %s" % (">" if above else ">=", minimum)

    def parse(flag: str, text: str) -> Union[int, float]:
        try:
            value = convert(str(text).strip())
        except ValueError:
            raise ArgumentError("--%s must be a%s number, got %r" % (flag, "n integer" if integer else "", text))
        if value != value or value in (float("inf"), float("-inf")):
            raise ArgumentError("--%s must be a finite number, got %r" % (flag, text))
        if value < minimum or (above and value == minimum):
            raise ArgumentError("--%s must be %s, got %r" % (flag, lower, text))
        if maximum is not None and value > maximum:
            if maximum_reason:
                raise ArgumentError("--%s must be at most %s (%s)" % (flag, maximum, maximum_reason))
            raise ArgumentError("--%s must be %s and <= %s, got %r" % (flag, lower, maximum, value))
        return value

    name = "integer" if integer else "number"
    return Kind(name, "%s %s%s" % (name, lower, "" if maximum is None else " and <= %s" % maximum), parse)


def _transform(flag: str, text: str) -> transform_module.Transform:
    try:
        return transform_module.Transform.parse(text)
    except transform_module.TransformError as error:
        raise ArgumentError(str(error))


def _table(flag: str, text: str) -> str:
    """A table name or table ARN, kept as given (DynamoDB is called with it); `""` where a job allows the
    argument to be absent."""
    if text:
        try:
            table_keys.table_ref(text)
        except ValueError:
            raise ArgumentError("--%s must be %s, got %r" % (flag, table_keys.TABLE_FORMS, text))
    return text


def _table_name(flag: str, text: str) -> str:
    """A table name alone: restore writes only tables of the job's own account and region."""
    try:
        plain = table_keys.table_ref(text).region is None
    except ValueError:
        plain = False
    if not plain:
        raise ArgumentError("--%s must be %s, in the job's own account and region, got %r"
                            % (flag, table_keys.NAME_FORM, text))
    return text


def _table_names(flag: str, text: str) -> List[str]:
    try:
        names = json.loads(text or "[]")
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ArgumentError("--%s must be a JSON list of table names, got %r" % (flag, text))
    return [str(name) for name in names]


def _attribute_name(flag: str, text: str) -> str:
    try:
        return retained.check_attribute_name(text, "--" + flag)
    except ValueError as error:
        raise ArgumentError(str(error))


def _namespace(flag: str, text: str) -> str:
    if text and (len(text) > 255 or text.startswith(":") or text.startswith("AWS/")):
        raise ArgumentError("--%s must be 1-255 characters, not starting with ':' or 'AWS/', got %r" % (flag, text))
    return text


def _iso_time(flag: str, text: str) -> str:
    """"" or the same ISO-8601 UTC form as the retained marker's deletedAt (both are read back as times:
    retained.epoch_seconds)."""
    if not text:
        return ""
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            moment = datetime.datetime.strptime(text.strip(), layout)
        except ValueError:
            continue
        stamp = retained.deleted_at((moment - datetime.datetime(1970, 1, 1)).total_seconds())
        if stamp:
            return stamp
    raise ArgumentError("--%s must be an ISO-8601 UTC time such as 2026-01-31T09:30:00Z, got %r" % (flag, text))


TEXT = Kind("text", "text", _text)
TABLE = Kind("table", "a DynamoDB table name, or the table's ARN "
                     "(`arn:<partition>:dynamodb:<region>:<account>:table/<name>`)", _table)
TABLE_NAME = Kind("table", "a DynamoDB table name", _table_name)
BUCKET_NAME = Kind("bucket", "an S3 bucket name", _text)
KEY_PREFIX = Kind("prefix", "an S3 key prefix", _text)
AWS_REGION = Kind("region", 'an AWS region, or `""`', _text_or_none)
GLUE_RUN_ID = Kind("text", "Glue's job run id, or absent", _text_or_none)
BOOLEAN = Kind("boolean", "`true`, `false`", _boolean)
TRANSFORM_JSON = Kind("json", 'JSON object `{"rename": {"old": "new"}, "drop": ["name"]}`', _transform)
TABLE_NAME_LIST = Kind("json", "JSON list of table names", _table_names)
ATTRIBUTE_NAME = Kind("attribute", "an attribute name of 1 to 255 characters", _attribute_name)
CLOUDWATCH_NAMESPACE = Kind("namespace", "1-255 characters, not starting with `:` or `AWS/`; or `\"\"`", _namespace)
ISO_TIME = Kind("iso-time", "ISO-8601 UTC time (`2026-01-31T09:30:00Z`, `...:00.250Z`, `...T09:30Z`, `2026-01-31`), "
                            "or `\"\"`", _iso_time)


# The declarations -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Argument:
    """One job argument: its default (the text a run without it gets; None: required), its kind, and one
    sentence saying what it does and why the default. `glue`: Glue's own argument, passed to every run
    (its flag is the attribute's name in upper case)."""

    default: Optional[str]
    kind: Kind
    description: str
    glue: bool = False

    def flag(self, attribute: str) -> str:
        """The name after `--`."""
        return attribute.upper() if self.glue else attribute

    def to_dict(self, attribute: str) -> Dict[str, Any]:
        return {"name": self.flag(attribute), "attribute": attribute, "required": self.default is None,
                "default": self.default, "kind": self.kind.name, "allowed": self.kind.allowed,
                "description": self.description, "glue": self.glue}


def _field(argument: Argument, **changes: Any) -> Any:
    """A config field declaring `argument` (with `changes`, for a job that differs)."""
    return dataclasses.field(metadata={_ARGUMENT: dataclasses.replace(argument, **changes) if changes else argument})


# Arguments more than one job declares.
SOURCE_TABLE = Argument(None, TABLE, "The table replicated, read from and never written.")
BACKUP_TABLE = Argument(
    None, TABLE, "The table kept in step with the source, by name; by ARN when it is in another account (DynamoDB "
                 "takes only the ARN there) or region (its requests go to the ARN's region); its name must differ "
                 "from --source_table's.")
RETAINED_ATTRIBUTE = Argument(
    retained.DEFAULT_ATTRIBUTE, ATTRIBUTE_NAME,
    "Marks a retained (deleted-in-source) item in the backup, so source items must never carry it, no key "
    "attribute may be named so and the transform may not touch it.")
TRANSFORM = Argument("{}", TRANSFORM_JSON,
                     "Renames and drops of non-key attributes on the way to the backup; `{}` copies items unchanged.")
REGION = Argument("", AWS_REGION, "The AWS region of the job's own resources: the source table, the bucket, and the "
                                   "tables restore and the drill write (a table given by ARN is called in the ARN's "
                                   'region); `""` is the SDK\'s default region.')
SCAN_SEGMENTS = Argument(
    "0", number(0, integer=True, maximum=1000000, maximum_reason="DynamoDB's TotalSegments limit"),
    "DynamoDB parallel-scan segments (TotalSegments); `0` derives them from the Spark cluster's size "
    "(spark_segments.py).")
MAX_ITEMS_PER_SECOND = Argument(
    "0", number(0), "Items each segment reads per second at most, to spare a provisioned table's capacity; "
                    "`0` is no limit.")
REPORT_BUCKET = Argument(None, BUCKET_NAME, "The S3 bucket the run's JSON report is written to.")
SAMPLE_KEYS = Argument("20", number(0, integer=True), "Keys the report keeps per class, which bounds its size.")
METRICS_NAMESPACE = Argument(
    "", CLOUDWATCH_NAMESPACE, 'The CloudWatch namespace of the stack\'s metrics (contracts/metrics.ts); `""` '
                              "publishes none.")
METRICS_PIPELINE = Argument("", TEXT, "The value of the metrics' Pipeline dimension (the stack's name prefix); "
                                      "required with --metrics_namespace.")
MANIFEST_BUCKET = Argument(None, BUCKET_NAME, "The S3 bucket the change-trigger function writes the change "
                                              "manifests to.")
MANIFEST_PREFIX = Argument("changes/", KEY_PREFIX,
                           "Where the pending change manifests are (contracts/bucket-layout.ts).")
REJECTED_PREFIX = Argument("rejected/", KEY_PREFIX,
                           "Where malformed manifests are moved; non-empty and outside --manifest_prefix, or they "
                           "would be listed again.")
QUARANTINE_PREFIX = Argument("quarantine/", KEY_PREFIX,
                             "Where a key that cannot be written is set aside, one manifest each; non-empty, outside "
                             "--manifest_prefix and not --rejected_prefix.")
JOB_RUN_ID = Argument("", GLUE_RUN_ID, "Glue's id of the run, which names the report.", glue=True)
# What restore and the restore drill declare alike: the drill restores as restore does.
RESTORED_BACKUP = dataclasses.replace(BACKUP_TABLE, description=(
    "The backup restored from, read and never written: by name, or by ARN when it is in another account or region."))
INVERSE_TRANSFORM = dataclasses.replace(TRANSFORM, description=(
    "The replication's transform, inverted: renames are reversed, dropped attributes stay absent."))
RESTORED_MARKER = dataclasses.replace(RETAINED_ATTRIBUTE, description=(
    "Marks a retained item in the backup; restored items are written without it."))
INCLUDE_RETAINED = Argument(
    "false", BOOLEAN, "Also restore retained (deleted-in-source) items, without the marker; otherwise they are "
                      "counted `retained_skipped`.")


@dataclasses.dataclass(frozen=True)
class ReplicationConfig:
    """The arguments apply-changes, full-copy and verify share: the two tables and how items map."""

    source_table: str = _field(SOURCE_TABLE)
    backup_table: str = _field(BACKUP_TABLE)
    delete_policy: str = _field(Argument(
        "retain", choice(*DELETE_POLICIES),
        "What an item deleted from the source becomes in the backup: `retain` keeps its last state, marked "
        "with --retained_attribute, so a mistaken delete can be restored; `mirror` deletes it."))
    retained_attribute: str = _field(RETAINED_ATTRIBUTE)
    transform: transform_module.Transform = _field(TRANSFORM)
    region: Optional[str] = _field(REGION)


@dataclasses.dataclass(frozen=True)
class ApplyChangesConfig(ReplicationConfig):
    """apply-changes: the manifests, the run's bounds, the metrics."""

    manifest_bucket: str = _field(MANIFEST_BUCKET)
    manifest_prefix: str = _field(MANIFEST_PREFIX)
    rejected_prefix: str = _field(REJECTED_PREFIX)
    quarantine_prefix: str = _field(QUARANTINE_PREFIX)
    time_budget_seconds: float = _field(Argument(
        "600", number(0, above=True),
        "A run starts no new work after this long and leaves the rest to the next run; 600 keeps a run "
        "queued behind it well under Glue's 15 minutes of waiting (applyChangesJob.timeBudgetSeconds)."))
    max_pass_bytes: int = _field(Argument(
        "16777216", number(1024, integer=True),
        "Manifest JSON one pass reads, which bounds a run's memory (parsed, about 9 times this): 16 MiB "
        "peaks near a fifth of a Python shell job's 1 GB (applyChangesJob.maxPassMegabytes)."))
    metrics_namespace: str = _field(METRICS_NAMESPACE)
    metrics_pipeline: str = _field(METRICS_PIPELINE)
    spark: bool = _field(Argument(
        "false", BOOLEAN,
        "Spread each pass's keys over Spark's executors (the glueetl job type, spark_apply.py); `false` syncs "
        "them in the job's own process (Python shell)."))
    max_tasks: int = _field(Argument(
        "0", number(0, integer=True),
        "With --spark: the partitions a pass is spread over at most, one per executor core of the run's "
        "largest size; `0` derives them from the Spark configuration."))
    keys_per_task: int = _field(Argument(
        "1000", number(1, integer=True),
        "With --spark: a pass of N keys is spread over ceil(N / this) partitions (at most --max_tasks), so a "
        "large backlog asks Glue Auto Scaling for more executors than a small one."))
    job_run_id: Optional[str] = _field(JOB_RUN_ID, description=(
        "Glue's id of the run, which marks the remainders the run writes."))


@dataclasses.dataclass(frozen=True)
class ScanConfig(ReplicationConfig):
    """The arguments full-copy and verify add: how the source is scanned (scan_copy.py)."""

    scan_segments: int = _field(SCAN_SEGMENTS)
    max_items_per_second: float = _field(MAX_ITEMS_PER_SECOND)


@dataclasses.dataclass(frozen=True)
class FullCopyConfig(ScanConfig):
    """full-copy: what the copy does besides copying."""

    mirror_deletes: bool = _field(Argument(
        "false", BOOLEAN, "Also delete backup items absent from the source, which needs --delete_policy mirror."))
    consistent_scan: bool = _field(Argument(
        "false", BOOLEAN, "Scan the source with ConsistentRead, off by default because every write is verified "
                          "with consistent reads anyway."))
    verify_writes: bool = _field(Argument(
        "true", BOOLEAN, "Re-read each written key from the source and write it again if it changed meanwhile, "
                         "so a copy never leaves a state older than the source's (replicate.py)."))


@dataclasses.dataclass(frozen=True)
class VerifyConfig(ScanConfig):
    """verify: the sample, repair, the report and its metrics."""

    sample_fraction: float = _field(Argument(
        "1", number(0, above=True, maximum=1),
        "The share of the scan segments checked, chosen at random (derived segment counts are scaled up by "
        "1/fraction so as many run at once); `1` checks the whole table."))
    repair: bool = _field(Argument(
        "false", BOOLEAN, "Make the backup match where it differs, with full-copy's writer; off by default so "
                          "a run only reports."))
    settle_seconds: float = _field(Argument(
        "300", number(0),
        "A mismatch that survives the consistent re-read is read once more this long after it was seen, "
        "longer than the pipeline takes to apply a change, so a change in flight is not drift; `0` counts "
        "it at once."))
    report_bucket: str = _field(REPORT_BUCKET)
    report_prefix: str = _field(Argument("verify/", KEY_PREFIX,
                                         "Where the report goes, as `<prefix><UTC time>-<job run id>.json`."))
    metrics_namespace: Optional[str] = _field(METRICS_NAMESPACE)
    metrics_pipeline: str = _field(METRICS_PIPELINE)
    sample_keys: int = _field(SAMPLE_KEYS)
    job_run_id: Optional[str] = _field(JOB_RUN_ID)


@dataclasses.dataclass(frozen=True)
class RestoreConfig:
    """restore: what is restored into which table, how, the report, and into the source the guard's
    settings (restore_guard.GuardSettings.of reads them by name). `into_source` is derived: the target
    is the source."""

    backup_table: str = _field(RESTORED_BACKUP)
    target_table: str = _field(Argument(
        None, TABLE_NAME, "The table written, in the job's own account and region: never one named as the backup, "
                          "and either a new table named `<backup's name>-restore-<name>` or one --allowed_targets "
                          "names."))
    source_table: str = _field(SOURCE_TABLE, default="", description=(
        "The replicated source, a target only with --allow_source_target true and then with the checks of "
        "what the backup has not recorded yet (restore_guard.py)."))
    allow_source_target: bool = _field(Argument(
        "false", BOOLEAN, "Lets --target_table be --source_table; off so that no run writes the source by mistake."))
    allowed_targets: List[str] = _field(Argument(
        "[]", TABLE_NAME_LIST, "Tables a run may write besides new ones named `<backup's name>-restore-*` (the role "
                               "grants the same: restore.allowedTargets)."))
    mode: str = _field(Argument(
        "missing-only", choice(*RESTORE_MODES),
        "`missing-only` writes only items the target lacks (a conditional PutItem), so it never replaces newer "
        "data; `overwrite` puts every item (BatchWriteItem)."))
    include_retained: bool = _field(INCLUDE_RETAINED)
    deleted_after: str = _field(Argument(
        "", ISO_TIME, "With --include_retained true, only items whose deletedAt is at or after this time (an "
                      "item without deletedAt is not selected); required into the source."))
    deleted_before: str = _field(Argument(
        "", ISO_TIME, "With --include_retained true, only items whose deletedAt is before this time; into the "
                      "source `\"\"` means 60 s before the run's start, and a later time is refused."))
    dry_run: bool = _field(Argument(
        "false", BOOLEAN, "Write (and create) nothing and report what would be written (missing-only also "
                          "reads what the target already holds)."))
    create_target: bool = _field(Argument(
        "false", BOOLEAN, "Create a missing target with the backup's key schema, on demand; off so that a "
                          "mistyped name fails instead of creating a table."))
    transform: transform_module.Transform = _field(INVERSE_TRANSFORM)
    region: Optional[str] = _field(REGION)
    retained_attribute: str = _field(RESTORED_MARKER)
    scan_segments: int = _field(SCAN_SEGMENTS)
    max_items_per_second: float = _field(MAX_ITEMS_PER_SECOND, description=(
        "Items each segment reads and writes per second at most, for a provisioned target; `0` is no limit."))
    report_bucket: str = _field(REPORT_BUCKET)
    report_prefix: str = _field(Argument("restore/", KEY_PREFIX,
                                         "Where the report goes, as `<prefix><UTC time>-<job run id>.json`."))
    sample_keys: int = _field(SAMPLE_KEYS)
    manifest_bucket: str = _field(MANIFEST_BUCKET, default="", description=(
        "Into the source: the bucket of the change manifests the backup has not applied yet, which the "
        "restore must wait for; required there."))
    manifest_prefix: str = _field(MANIFEST_PREFIX)
    rejected_prefix: str = _field(REJECTED_PREFIX, description=(
        "Into the source: where apply-changes moves malformed manifests, whose keys count as changed."))
    quarantine_prefix: str = _field(QUARANTINE_PREFIX, description=(
        "Into the source: where apply-changes sets keys aside, which are not restored."))
    dead_letter_queue_name: str = _field(Argument(
        "", TEXT, "Into the source: the change-trigger function's dead-letter queue (this account and region), "
                  "which must be empty for a key to be written; `\"\"` skips the check."))
    delivery_seconds: float = _field(Argument(
        "450", number(0), "Into the source: how long a stream record may take to reach a manifest or the "
                          "dead-letter queue (the stack derives it from the stream and function settings)."))
    catch_up_seconds: float = _field(Argument(
        "900", number(0), "Into the source: how long to wait for apply-changes to catch up with the run's "
                          "start before refusing."))
    poll_seconds: float = _field(Argument("10", number(0), "Into the source: how often to look again while waiting."))
    job_run_id: Optional[str] = _field(JOB_RUN_ID)
    into_source: bool = dataclasses.field(default=False)


@dataclasses.dataclass(frozen=True)
class RestoreDrillConfig:
    """restore-drill: which share of the backup is restored (as restore would) into a table of its own, the
    report, the metrics, and the restore time the report compares the estimate with."""

    backup_table: str = _field(RESTORED_BACKUP)
    sample_fraction: float = _field(Argument(
        "0.05", number(0, above=True, maximum=1),
        "The share of the backup's scan segments restored, chosen at random (derived segment counts are scaled "
        "up by 1/fraction so as many run at once), which keeps a large table's drill cheap (restoreDrill.sampleFraction)."))
    include_retained: bool = _field(INCLUDE_RETAINED)
    transform: transform_module.Transform = _field(INVERSE_TRANSFORM)
    retained_attribute: str = _field(RESTORED_MARKER)
    region: Optional[str] = _field(REGION)
    scan_segments: int = _field(SCAN_SEGMENTS)
    max_items_per_second: float = _field(MAX_ITEMS_PER_SECOND, description=(
        "Items each segment reads and writes per second at most, to spare a provisioned backup; `0` is no limit "
        "(a limit slows the measured rate, and so lengthens the estimate)."))
    max_restore_minutes: float = _field(Argument(
        "240", number(0, above=True),
        "The estimated full-table restore time the report flags as too long, as the stack's alarm does "
        "(restoreDrill.maxRestoreMinutes)."))
    report_bucket: str = _field(REPORT_BUCKET)
    report_prefix: str = _field(Argument("restore-drill/", KEY_PREFIX,
                                         "Where the report goes, as `<prefix><UTC time>-<job run id>.json`."))
    metrics_namespace: Optional[str] = _field(METRICS_NAMESPACE)
    metrics_pipeline: str = _field(METRICS_PIPELINE)
    sample_keys: int = _field(SAMPLE_KEYS)
    job_run_id: Optional[str] = _field(JOB_RUN_ID, description=(
        "Glue's id of the run, which names the drill's table (`<backup's name>-restore-drill-<run id>`, in the job's "
        "own account and region) and the report."))


JOB_CONFIGS: Tuple[Tuple[str, type], ...] = (("apply-changes", ApplyChangesConfig), ("full-copy", FullCopyConfig),
                                             ("verify", VerifyConfig), ("restore", RestoreConfig),
                                             ("restore-drill", RestoreDrillConfig))


def declared(config_class: type) -> List[Tuple[str, Argument]]:
    """(attribute, Argument) of each argument a config class declares, in declaration order."""
    return [(field.name, field.metadata[_ARGUMENT]) for field in dataclasses.fields(config_class)
            if _ARGUMENT in field.metadata]


def default_of(config_class: type, attribute: str) -> Any:
    """The value a run without the argument gets: its declared default through its kind (so the code that
    runs a job outside Glue, e.g. apply.ApplySettings, takes the one default declared here)."""
    argument = dict(declared(config_class))[attribute]
    if argument.default is None:
        raise ValueError("--%s is required: it has no default" % argument.flag(attribute))
    return argument.kind.parse(argument.flag(attribute), argument.default)


def reference() -> Dict[str, Any]:
    """Each job's arguments as plain data, in declaration order (docs/glue-job-arguments.md)."""
    return {"jobs": [{"job": job, "config": config_class.__name__,
                      "arguments": [argument.to_dict(attribute) for attribute, argument in declared(config_class)]}
                     for job, config_class in JOB_CONFIGS]}


# Reading argv -----------------------------------------------------------------------------------------

def _present(argv: Sequence[str], name: str) -> bool:
    flag = "--" + name
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def parse_args(argv: Sequence[str], names: Sequence[str]) -> Dict[str, str]:
    """{name: value} for the `--name value` / `--name=value` arguments in `names` that are present."""
    wanted = set(names)
    values: Dict[str, str] = {}
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


def resolve(argv: Sequence[str], defaults: Dict[str, Optional[str]]) -> Dict[str, str]:
    """Argument values with defaults filled in; raises ArgumentError when a required one (default None)
    is missing."""
    names = sorted(defaults)
    present = [name for name in names if _present(argv, name)]
    try:
        from awsglue.utils import getResolvedOptions  # pyright: ignore[reportMissingImports] (only on Glue)
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
    return dict((name, values.get(name, defaults[name] or "")) for name in names)


def _values(config_class: type, argv: Sequence[str]) -> Dict[str, Any]:
    """The declared arguments' values by attribute: each one's text (or default) through its kind."""
    arguments = declared(config_class)
    texts = resolve(argv, dict((argument.flag(name), argument.default) for name, argument in arguments))
    return dict((name, argument.kind.parse(argument.flag(name), texts[argument.flag(name)]))
                for name, argument in arguments)


# Each job: its arguments, then the checks of arguments that depend on one another ---------------------

def _check_replication(config: ReplicationConfig) -> None:
    # By name: a job does not know its own account without a call of its own, so a backup named as the source
    # may be the source itself.
    name = table_keys.table_name(config.source_table)
    if name == table_keys.table_name(config.backup_table):
        raise ArgumentError("--source_table and --backup_table have the same table name (%s): the backup needs a name "
                            "of its own" % name)
    try:
        config.transform.check_reserved(config.retained_attribute, "--retained_attribute")
    except transform_module.TransformError as error:
        raise ArgumentError(str(error))


def _check_metrics(namespace: Optional[str], pipeline: str) -> None:
    if namespace and not pipeline:
        raise ArgumentError("--metrics_pipeline is required with --metrics_namespace (the Pipeline dimension's value)")


def apply_changes_config(argv: Sequence[str]) -> ApplyChangesConfig:
    config = ApplyChangesConfig(**_values(ApplyChangesConfig, argv))
    _check_replication(config)
    prefix = config.manifest_prefix
    for name, other, what in (("rejected_prefix", config.rejected_prefix, "rejected"),
                              ("quarantine_prefix", config.quarantine_prefix, "quarantined")):
        if not other or other == prefix or other.startswith(prefix):
            raise ArgumentError("--%s (%r) must be non-empty and outside --manifest_prefix (%r), or %s manifests "
                                "would be listed again" % (name, other, prefix, what))
    if config.rejected_prefix == config.quarantine_prefix:
        raise ArgumentError("--quarantine_prefix and --rejected_prefix must differ (%r)" % config.rejected_prefix)
    _check_metrics(config.metrics_namespace, config.metrics_pipeline)
    return config


def full_copy_config(argv: Sequence[str]) -> FullCopyConfig:
    config = FullCopyConfig(**_values(FullCopyConfig, argv))
    _check_replication(config)
    if config.mirror_deletes and config.delete_policy != "mirror":
        raise ArgumentError("--mirror_deletes true deletes backup items absent from the source, which contradicts "
                            "--delete_policy retain; use --delete_policy mirror with it")
    return config


def _publishing(config_class: Any, argv: Sequence[str]) -> Any:
    """The config of a job that publishes to the stack's namespace once a run (verify, the restore drill):
    `""` is no namespace."""
    values = _values(config_class, argv)
    values["metrics_namespace"] = values["metrics_namespace"] or None
    config = config_class(**values)
    _check_metrics(config.metrics_namespace, config.metrics_pipeline)
    return config


def verify_config(argv: Sequence[str]) -> VerifyConfig:
    config: VerifyConfig = _publishing(VerifyConfig, argv)
    _check_replication(config)
    return config


def restore_config(argv: Sequence[str]) -> RestoreConfig:
    values = _values(RestoreConfig, argv)
    # The target is a name of this account and region: a source given by ARN is compared by its name.
    values["into_source"] = (bool(values["source_table"])
                             and values["target_table"] == table_keys.table_name(values["source_table"]))
    config = RestoreConfig(**values)
    backup, target, allowed = table_keys.table_name(config.backup_table), config.target_table, config.allowed_targets
    # By name: whether a backup given by ARN is in this account would take a call to find out, and a backup
    # elsewhere that shares a target's name is refused at no cost.
    if target == backup:
        raise ArgumentError("--target_table is the backup's name (%s): restore reads the backup and never writes it"
                            % backup)
    if not (target in allowed or target.startswith(backup + RESTORE_TARGET_SUFFIX)):
        raise ArgumentError("--target_table %s is not allowed: use a new table named %s%s<name>, or add it to "
                            "restore.allowedTargets (%s)" % (target, backup, RESTORE_TARGET_SUFFIX,
                                                             ", ".join(allowed) or "none"))
    if config.into_source and not config.allow_source_target:
        raise ArgumentError("--target_table is the source table %s: writing into it needs --allow_source_target true"
                            % config.source_table)
    for name, value in (("deleted_after", config.deleted_after), ("deleted_before", config.deleted_before)):
        if value and not config.include_retained:
            raise ArgumentError("--%s selects retained items to restore: it needs --include_retained true" % name)
    if config.into_source:
        _check_into_source(config)
    return config


def _check_into_source(config: RestoreConfig) -> None:
    """Into the source only recorded deletions inside a window come back (restore_guard.py)."""
    if config.mode != "missing-only":
        raise ArgumentError("--mode %s into the source table would put the backup's states over newer ones the "
                            "application wrote: into the source only --mode missing-only is allowed" % config.mode)
    if not (config.include_retained and config.deleted_after):
        raise ArgumentError("into the source table only items whose deletion the backup recorded are restored: pass "
                            "--include_retained true and --deleted_after <ISO-8601 UTC time just before the "
                            "mistake> (and --deleted_before <just after it>)")
    if not config.manifest_bucket:
        raise ArgumentError("into the source table the restore checks what the backup has not recorded yet: "
                            "--manifest_bucket is required (the stack sets it)")


def restore_drill_config(argv: Sequence[str]) -> RestoreDrillConfig:
    return _publishing(RestoreDrillConfig, argv)


def restore_drill_table(backup_table: str, run: str) -> str:
    """The drill's own table, in the job's own account and region: named after the backup's name and the run,
    so one left behind says where it came from (and the role may create, write and delete no other)."""
    name = "%s%s%s" % (table_keys.table_name(backup_table), RESTORE_DRILL_INFIX, run)
    if len(name) > MAX_TABLE_NAME:
        raise ArgumentError("the drill's table %s would be longer than DynamoDB's %d characters: the backup's name "
                            "leaves too little room for the run id" % (name, MAX_TABLE_NAME))
    return name


def describe(config: Any) -> Dict[str, Any]:
    """A job's config as a JSON-friendly dict, for the start-of-run log line."""
    out: Dict[str, Any] = {}
    for field in sorted(dataclasses.fields(config), key=lambda field: field.name):
        value = getattr(config, field.name)
        out[field.name] = value.to_dict() if hasattr(value, "to_dict") else value
    return out
