"""Glue Spark (glueetl) job `verify`: checks that the backup matches the source, item by item, with the
full-copy segment machinery (spark_segments.py; per segment verify_scan.py), and reports.

Its arguments (job_args.VerifyConfig): docs/glue-job-arguments.md. Exit status 2 on a bad argument;
drift is reported (report, metrics, log), not an exit status.
"""

import random
import sys
import time
from typing import Any, Dict, Optional, Sequence

from .. import (aws_clients, compare, ddb_batch, job_args, job_log, job_setup, spark_segments, verify_report,
               verify_scan)

JOB = "verify"


def unrepaired_report(unrepaired, sample_keys):
    """The keys repair could not settle: how many, and a sample with each one's reason."""
    return {"count": len(unrepaired),
            "sample": [{"key": compare.key_json(key), "reason": reason} for key, reason in unrepaired[:sample_keys]]}


def main(argv: Optional[Sequence[str]] = None, spark_context=None, retry=None, rng=None,
         sleep=time.sleep) -> Dict[str, Any]:
    argv = sys.argv if argv is None else argv
    started_wall, started = time.time(), time.monotonic()
    setup = job_setup.prepare(JOB, job_args.verify_config, argv, "verify_start", retry=retry, describe_backup=True)
    config: job_args.VerifyConfig = setup.config
    schema, policy, client = setup.schema, setup.policy, setup.client
    descriptions = [ddb_batch.call(client.describe_table, {"TableName": table}, setup.stats, policy)
                    for table in (config.source_table, config.backup_table)]
    estimate = verify_report.read_cost_estimate(descriptions[0], descriptions[1], config.sample_fraction)
    job_log.log_event("verify_cost_estimate", job=JOB, **estimate)
    sc = spark_context if spark_context is not None else spark_segments.spark_context()
    derived = config.scan_segments or spark_segments.derive_total_segments(sc)
    total, chosen = spark_segments.sampled_segments(derived, config.sample_fraction, bool(config.scan_segments),
                                     rng or random.Random())
    task = verify_scan.SegmentVerifyTask(
        repair=config.repair, sample_keys=config.sample_keys,
        # Seconds (float); the unannotated parameter's type is inferred from its default 0.
        settle_seconds=config.settle_seconds,
        source_table=config.source_table,
        backup_table=config.backup_table, schema=schema, transform=config.transform,
        delete_policy=config.delete_policy, total_segments=total, region=config.region,
        max_items_per_second=config.max_items_per_second, verify_writes=True, retry=policy,
        retained_attribute=config.retained_attribute)
    stats, results = spark_segments.run_segments(sc, total, task, segments=chosen)
    tally = compare.Tally(config.sample_keys)
    repaired = dict((name, 0) for name in compare.DRIFT)
    items_read = {"source": 0, "backup": 0}
    deferred = [entry for result in results for entry in result["deferred"]]
    waited = 0.0
    works = list(results)
    if deferred:
        job_log.log_event("verify_settling", job=JOB, keys=len(deferred), settle_seconds=config.settle_seconds)
        work, settle_stats, waited = task.settle(deferred, tally, sleep=sleep)
        works.append({"repaired": work.repaired, "items_read": work.items_read, "unrepaired": work.unrepaired})
        stats.add(settle_stats)
    unrepaired = []
    for result in works:
        unrepaired.extend(result["unrepaired"])
        if "tally" in result:
            tally.merge(result["tally"])
        for name in repaired:
            repaired[name] += result["repaired"][name]
        for side in items_read:
            items_read[side] += result["items_read"][side]
    seconds = round(time.monotonic() - started, 3)
    report = {
        "job": JOB, "job_run_id": config.job_run_id, "source_table": config.source_table,
        "backup_table": config.backup_table, "delete_policy": config.delete_policy,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall)), "seconds": seconds,
        "segments": {"total": total, "checked": total if chosen is None else len(chosen),
                     "sample_fraction": config.sample_fraction},
        "drift": tally.drift, "counts": tally.counts, "sample_keys": tally.samples, "items_read": items_read,
        "items_per_second": round(sum(items_read.values()) / seconds, 1) if seconds else None,
        "settle": {"seconds": config.settle_seconds, "deferred_keys": len(deferred), "waited": round(waited, 3)},
        "read_cost_estimate": estimate, "repair": config.repair, "repaired": repaired if config.repair else None,
        "unrepaired": unrepaired_report(unrepaired, config.sample_keys) if config.repair else None,
        "requests": stats.as_dict(),
    }
    key = verify_report.report_key(config.report_prefix, started_wall, config.job_run_id)
    report["report"] = verify_report.write_report(aws_clients.s3_client(config.region), config.report_bucket, key, report)
    if config.metrics_namespace:
        verify_report.publish_metrics(aws_clients.cloudwatch_client(config.region), config.metrics_namespace,
                                      verify_report.metric_data(tally, config.metrics_pipeline, sum(items_read.values())))
    for key, reason in unrepaired[:config.sample_keys]:
        job_log.log_event("repair_failed", job=JOB, key=compare.key_json(key), reason=reason,
                          action="the key is still drift (the alarm stays); see the README runbook")
    job_log.log_event("verify_done", job=JOB, drift=tally.drift, counts=tally.counts, report=report["report"],
                      seconds=seconds, items_read=items_read, repaired=report["repaired"],
                      unrepaired=len(unrepaired) if config.repair else None)
    return report


if __name__ == "__main__":
    main()
