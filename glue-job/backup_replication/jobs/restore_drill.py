"""Glue Spark (glueetl) job `restore-drill` (scheduled: restoreDrill.schedule): rehearses a restore and
measures it. It restores a random share of the backup's scan segments into a fresh table of its own,
`<backup's name>-restore-drill-<job run id>` in the job's own account and region, exactly as restore
restores into a new table (the table made as `--create_target` makes it; per segment restore_copy.py,
with the inverse transform, retained items skipped unless --include_retained); reads what it wrote back and compares it item by item with what the
backup held, and counts the table (drill_check.py); estimates a full restore's time from the measured rate
and the backup's item count (drill_report.py); writes a report under --report_prefix, publishes the
metrics; and deletes its table whatever happened before.

It reads the backup and never writes it; it does not even name the source. Its role may create, write
and delete only tables named `<backup's name>-restore-drill-*`.

Its arguments (job_args.RestoreDrillConfig): docs/glue-job-arguments.md. Exit status 2 on a bad argument;
the run fails (RestoreDrillFailed, or the error that stopped it) when what it restored did not match the
backup, when its table could not be deleted or its metrics not published: always after its table is
deleted (or named as left behind) and its report written.
"""

import random
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from botocore.exceptions import ClientError

from .. import (aws_clients, compare, ddb_batch, drill_check, drill_report, job_args, job_log, job_setup,
               restore_copy, spark_segments, table_keys, verify_report)
from . import restore

JOB = "restore-drill"


class RestoreDrillFailed(Exception):
    """The restored sample differed from the backup, or the drill could not clean up or publish."""


def drill_table(config: job_args.RestoreDrillConfig, started_wall: float) -> str:
    """The run's own table (a run Glue did not start is named after its start time instead)."""
    run = config.job_run_id or "manual-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started_wall))
    return job_args.restore_drill_table(config.backup_table, run)


def restore_and_check(config: job_args.RestoreDrillConfig, backup: restore.Backup, table: str, sc: Any,
                      total: int, chosen: Optional[List[int]], report: Dict[str, Any]) -> None:
    """Creates the table, restores the sample into it, checks it: fills in `report` as it goes, so a run
    that fails half way still reports how far it got."""
    started = time.monotonic()
    restore.create_like(backup.client, backup.description, table, backup.stats, backup.policy)
    report["drill_table"]["created"] = True
    create_seconds = time.monotonic() - started
    job_log.log_event("restore_drill_table_created", job=JOB, table=table, seconds=round(create_seconds, 3))
    task = drill_check.DrillSegmentTask(
        config.backup_table, table, backup.schema, config.transform, total, "missing-only", config.include_retained,
        None, False, config.retained_attribute, region=config.region, retry=backup.policy,
        sample_keys=config.sample_keys, max_items_per_second=config.max_items_per_second)
    copied = time.monotonic()
    totals, results = spark_segments.run_segments(sc, total, task, segments=chosen)
    copy_seconds = time.monotonic() - copied
    restored = compare.Tally(config.sample_keys, classes=restore_copy.CLASSES, counters=())
    check = compare.Tally(config.sample_keys, classes=drill_check.MISMATCHES, counters=(drill_check.MATCH,))
    for result in results:
        restored.merge(result["tally"])
        check.merge(result["check"])
    written = restored.counts[restore_copy.WRITTEN]
    planned = written + restored.counts[restore_copy.ALREADY_PRESENT]
    report["restore"] = {
        "counts": restored.counts, "sample_keys": restored.samples, "items_read": totals.scanned,
        "items_restored": written, "create_seconds": round(create_seconds, 3), "copy_seconds": round(copy_seconds, 3),
        "seconds": round(create_seconds + copy_seconds, 3),
        "items_per_second": round(written / copy_seconds, 3) if copy_seconds > 0 else None,
    }
    report["estimate"] = drill_report.estimate(backup.description, written, create_seconds, copy_seconds,
                                               config.max_restore_minutes)
    job_log.log_event("restore_drill_restored", job=JOB, table=table, restore=report["restore"],
                      estimate=report["estimate"])
    count_segments = len(chosen) if chosen is not None else total
    counted_stats, counted = spark_segments.run_segments(
        sc, count_segments, drill_check.DrillCountTask(table, count_segments, config.region, backup.policy))
    totals.add(counted_stats)
    table_items = sum(result["items"] for result in counted)
    missing = check.counts[drill_check.MISSING]
    # Items the table holds beyond those the read-back found (negative: fewer, gone since the read-back).
    unexpected = table_items - (planned - missing)
    report["check"] = {
        "items_compared": sum(check.counts.values()), "counts": check.counts, "sample_keys": check.samples,
        "expected_items": planned, "table_items": table_items, "count_matches": table_items == planned,
        "unexpected_items": unexpected,
        "mismatches": missing + check.counts[drill_check.DIFFERENT] + abs(unexpected),
        "read_back_seconds": round(sum(result["check_seconds"] for result in results), 3),
    }
    report["requests"] = totals.as_dict()


def delete_table(backup: restore.Backup, table: str) -> Dict[str, Any]:
    """Deletes the run's table (and only a table named as the drill's are). Whatever AWS answers, it
    returns what happened for the report instead of raising: the run fails afterwards when the table is
    left behind, once the report is written."""
    if not table.startswith(table_keys.table_name(backup.description["Table"]["TableName"]) + job_args.RESTORE_DRILL_INFIX):
        raise ValueError("the restore drill deletes only its own tables, not %s" % table)
    delete = {"TableName": table}
    try:
        try:
            ddb_batch.call(backup.client.delete_table, delete, backup.stats, backup.policy, "DeleteTable %s" % table)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":  # never created (CreateTable failed)
                return {"name": table, "deleted": True, "existed": False}
            if code != "ResourceInUseException":
                raise
            # Still being created: DeleteTable takes an active table only.
            backup.client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
            ddb_batch.call(backup.client.delete_table, delete, backup.stats, backup.policy, "DeleteTable %s" % table)
    except Exception as error:  # noqa: BLE001 - reported, and the run fails once the report is written
        reason = "%s: %s" % (type(error).__name__, error)
        job_log.log_event("restore_drill_table_left", job=JOB, table=table, error=reason,
                          action="delete it: aws dynamodb delete-table --table-name %s" % table)
        return {"name": table, "deleted": False, "error": reason}
    job_log.log_event("restore_drill_table_deleted", job=JOB, table=table)
    return {"name": table, "deleted": True, "existed": True}


def main(argv: Optional[Sequence[str]] = None, spark_context=None, retry=None, rng=None,
         clock=time.time) -> Dict[str, Any]:
    argv = sys.argv if argv is None else argv
    started_wall, started = clock(), time.monotonic()
    try:
        config = job_args.restore_drill_config(argv)
        table = drill_table(config, started_wall)
    except job_args.ArgumentError as error:
        return job_setup.fail(JOB, str(error))  # exits 2
    job_log.log_event("restore_drill_start", job=JOB, table=table, config=job_args.describe(config))
    backup = restore.read_backup(JOB, config, retry)
    sc = spark_context if spark_context is not None else spark_segments.spark_context()
    derived = config.scan_segments or spark_segments.derive_total_segments(sc)
    total, chosen = spark_segments.sampled_segments(derived, config.sample_fraction, bool(config.scan_segments),
                                                    rng or random.Random())
    report: Dict[str, Any] = {
        "job": JOB, "job_run_id": config.job_run_id, "backup_table": config.backup_table,
        "drill_table": {"name": table, "created": False},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall)),
        "segments": {"total": total, "restored": total if chosen is None else len(chosen),
                     "sample_fraction": config.sample_fraction},
        "include_retained": config.include_retained, "transform_notes": backup.lost,
    }
    failure: Optional[BaseException] = None
    try:
        restore_and_check(config, backup, table, sc, total, chosen, report)
    except Exception as error:  # noqa: BLE001 - reported, then raised again once the table is gone
        failure = error
        report["error"] = "%s: %s" % (type(error).__name__, error)
    finally:
        report["drill_table"].update(delete_table(backup, table))
    problems = _problems(report)
    if config.metrics_namespace and "check" in report:
        try:
            verify_report.publish_metrics(aws_clients.cloudwatch_client(config.region), config.metrics_namespace,
                                          drill_report.metric_data(config.metrics_pipeline, report["restore"]["seconds"],
                                                                   report["restore"]["items_restored"],
                                                                   report["estimate"], report["check"]["mismatches"],
                                                                   clock()))
        except Exception as error:  # noqa: BLE001 - the alarm would not see this run: fail it, after the report
            problems.append("its metrics were not published (%s: %s)" % (type(error).__name__, error))
    report["problems"] = problems
    report["passed"] = failure is None and not problems
    report["seconds"] = round(time.monotonic() - started, 3)
    key = verify_report.report_key(config.report_prefix, started_wall, config.job_run_id)
    report["report"] = verify_report.write_report(aws_clients.s3_client(config.region), config.report_bucket, key, report)
    job_log.log_event("restore_drill_done", job=JOB, passed=report["passed"], report=report["report"],
                      check=report.get("check"), estimate=report.get("estimate"), drill_table=report["drill_table"],
                      seconds=report["seconds"])
    if failure is not None:
        raise failure
    if problems:
        raise RestoreDrillFailed("restore drill of %s: %s; report: %s" % (table_keys.table_name(config.backup_table),
                                                                          "; ".join(problems), report["report"]))
    return report


def _problems(report: Dict[str, Any]) -> List[str]:
    """What fails a drill that ran to its end."""
    problems = []
    check = report.get("check")
    if check is not None and check["mismatches"]:
        problems.append("%d item(s) restored did not match the backup (missing %d, different %d, table holds %d "
                        "where %d were restored)" % (check["mismatches"], check["counts"][drill_check.MISSING],
                                                      check["counts"][drill_check.DIFFERENT], check["table_items"],
                                                      check["expected_items"]))
    if not report["drill_table"]["deleted"]:
        problems.append("its table %s was left behind: delete it (aws dynamodb delete-table --table-name %s)"
                        % (report["drill_table"]["name"], report["drill_table"]["name"]))
    return problems


if __name__ == "__main__":
    main()
