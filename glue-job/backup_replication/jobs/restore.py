"""Glue Spark (glueetl) job `restore` (on demand only): copies the backup into a target table with the
full-copy segment machinery (spark_segments.py; per segment restore_copy.py).

Its arguments (job_args.RestoreConfig): docs/glue-job-arguments.md; into the source the guard's
(restore_guard.py) among them. Exit status 2 on a bad argument, a target that does not exist (without
--create_target) or has another key than the backup, or, into the source, a backup that has not caught
up (the message says what is behind).
"""

import dataclasses
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from botocore.exceptions import ClientError

from .. import (aws_clients, compare, ddb_batch, job_args, job_log, job_setup, restore_copy, restore_guard,
               restore_plan, retained, spark_segments, table_keys, verify_report)

JOB = "restore"


def _describe(client, table, stats, policy):
    """DescribeTable's response, or None when the table does not exist."""
    try:
        return ddb_batch.call(client.describe_table, {"TableName": table}, stats, policy, "DescribeTable %s" % table)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def create_like(client, backup_description, target, stats, policy):
    """Creates the target, on demand, with the backup's key schema (and only its key attributes defined),
    waits until it is active and returns its DescribeTable (the restore drill's table is made the same way)."""
    table = backup_description["Table"]
    names = set(k["AttributeName"] for k in table["KeySchema"])
    ddb_batch.call(client.create_table, {
        "TableName": target, "KeySchema": table["KeySchema"], "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [d for d in table["AttributeDefinitions"] if d["AttributeName"] in names],
    }, stats, policy, "CreateTable %s" % target)
    client.get_waiter("table_exists").wait(TableName=target, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    return ddb_batch.call(client.describe_table, {"TableName": target}, stats, policy)


@dataclasses.dataclass(frozen=True)
class Backup:
    """The backup as restore (and the restore drill) found it before copying anything."""

    client: Any  # DynamoDB
    stats: ddb_batch.Stats
    policy: ddb_batch.RetryPolicy
    description: Dict[str, Any]  # DescribeTable's
    schema: table_keys.KeySchema
    lost: List[str]  # what the inverse transform cannot bring back (restore_plan.lost_attributes)


def read_backup(job, config, retry) -> Backup:
    """Describes the backup and checks the transform against its key; exits 2 when they do not fit, and
    logs `restore_transform_not_invertible` before any copy when the transform loses something."""
    client = aws_clients.dynamodb_client(config.region)
    stats, policy = ddb_batch.Stats(), retry or ddb_batch.RetryPolicy()
    description = ddb_batch.call(client.describe_table, {"TableName": config.backup_table}, stats, policy)
    schema = table_keys.describe_key_schema(description)
    try:
        config.transform.check_key_names(schema.names)
    except ValueError as error:
        job_setup.fail(job, str(error))
    lost = restore_plan.lost_attributes(config.transform)
    if lost:
        job_log.log_event("restore_transform_not_invertible", job=job, notes=lost)
    return Backup(client, stats, policy, description, schema, lost)


def _target_schema(config: job_args.RestoreConfig, client, schema, backup_description, stats, policy) -> bool:
    """Checks (or creates) the target; returns whether it exists (a dry run creates nothing)."""
    description = _describe(client, config.target_table, stats, policy)
    if description is None:
        if not config.create_target:
            job_setup.fail(JOB, "target table %s does not exist: create it with the key of %s, or pass "
                                "--create_target true" % (config.target_table, table_keys.table_name(config.backup_table)))
        if config.dry_run:
            return False
        description = create_like(client, backup_description, config.target_table, stats, policy)
        job_log.log_event("restore_target_created", job=JOB, table=config.target_table)
    target_schema = table_keys.describe_key_schema(description)
    if target_schema != schema:
        job_setup.fail(JOB, "target table %s has key %r but the backup %s has %r"
                       % (config.target_table, target_schema, table_keys.table_name(config.backup_table), schema))
    return True


def _guard(config: job_args.RestoreConfig, started_wall: float, clock, sleep):
    """Into the source: the window's end (at most RECORD_TIME_MARGIN_SECONDS before the start) and the
    guard's settings, once the backup has caught up with the restore's start (restore_guard.py); exits 2
    when it has not."""
    latest = int(started_wall) - restore_guard.RECORD_TIME_MARGIN_SECONDS
    chosen = retained.epoch_seconds(config.deleted_before) if config.deleted_before else None
    before = latest if chosen is None else chosen
    if before > latest:
        job_setup.fail(JOB, "--deleted_before %s is too late: into the source it must be at least %d s before the "
                            "restore's start (at most %s), since a stream record's time is rounded down (to the "
                            "second on AWS, to the minute on DynamoDB Local) and a deletion made while the restore "
                            "runs must never fall inside the window"
                       % (config.deleted_before, restore_guard.RECORD_TIME_MARGIN_SECONDS, retained.deleted_at(latest)))
    guard = restore_guard.GuardSettings.of(config)
    log = lambda event, **fields: job_log.log_event(event, job=JOB, **fields)  # noqa: E731
    try:
        restore_guard.check_caught_up(aws_clients.s3_client(config.region), aws_clients.sqs_client(config.region),
                                      guard, started_wall, clock, sleep, log)
    except restore_guard.BackupNotCaughtUp as error:
        job_setup.fail(JOB, "not restoring into the source table %s: %s" % (config.target_table, error))
    return config.deleted_before or retained.deleted_at(latest), guard


def main(argv: Optional[Sequence[str]] = None, spark_context=None, retry=None, clock=time.time,
         sleep=time.sleep) -> Dict[str, Any]:
    argv = sys.argv if argv is None else argv
    started_wall, started = clock(), time.monotonic()
    try:
        config = job_args.restore_config(argv)
    except job_args.ArgumentError as error:
        return job_setup.fail(JOB, str(error))  # exits 2
    job_log.log_event("restore_start", job=JOB, config=job_args.describe(config))
    backup = read_backup(JOB, config, retry)
    client, stats, policy, backup_description, schema = (backup.client, backup.stats, backup.policy,
                                                         backup.description, backup.schema)
    lost = backup.lost
    exists = _target_schema(config, client, schema, backup_description, stats, policy)
    deleted_before, guard = config.deleted_before, None
    if config.into_source:
        deleted_before, guard = _guard(config, started_wall, clock, sleep)
    sc = spark_context if spark_context is not None else spark_segments.spark_context()
    total = config.scan_segments or spark_segments.derive_total_segments(sc)
    task = restore_copy.SegmentRestoreTask(
        config.backup_table, config.target_table, schema, config.transform, total, config.mode,
        config.include_retained, config.deleted_after, config.dry_run, config.retained_attribute,
        region=config.region, retry=policy, sample_keys=config.sample_keys, target_exists=exists,
        deleted_before=deleted_before, guard=guard,
        # A rate (float); the unannotated parameter's type is inferred from its default 0.
        max_items_per_second=config.max_items_per_second)
    totals, results = spark_segments.run_segments(sc, total, task)
    tally = compare.Tally(config.sample_keys, classes=restore_copy.CLASSES, counters=())
    held_back = {}
    for result in results:
        tally.merge(result["tally"])
        for reason, keys in result["not_written_because"].items():
            held_back[reason] = held_back.get(reason, 0) + keys
    seconds = round(time.monotonic() - started, 3)
    requests = totals.as_dict()
    report = {
        "job": JOB, "job_run_id": config.job_run_id, "backup_table": config.backup_table,
        "target_table": config.target_table, "mode": config.mode, "dry_run": config.dry_run,
        "include_retained": config.include_retained, "deleted_after": config.deleted_after or None,
        "deleted_before": deleted_before or None, "into_source": config.into_source,
        "not_restored_ambiguous": sum(tally.counts[name] for name in restore_copy.AMBIGUOUS),
        # Keys counted changed_since_start because a whole chunk was held back, by reason (an operator's
        # to act on: dead letters, rejected manifests; or apply-changes behind).
        "not_written_because": held_back,
        "transform_notes": lost, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall)),
        "seconds": seconds, "segments": total, "counts": tally.counts, "sample_keys": tally.samples,
        "items_read": requests["scanned"], "requests": requests,
    }
    key = verify_report.report_key(config.report_prefix, started_wall, config.job_run_id)
    report["report"] = verify_report.write_report(aws_clients.s3_client(config.region), config.report_bucket, key, report)
    job_log.log_event("restore_done", job=JOB, counts=tally.counts, report=report["report"], seconds=seconds,
                      dry_run=config.dry_run)
    return report


if __name__ == "__main__":
    main()
