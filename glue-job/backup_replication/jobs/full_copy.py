"""Glue Spark (glueetl) job `full-copy`: copies the whole source table to the backup with DynamoDB
parallel-scan segments spread over the Spark executors (see scan_copy.py, spark_segments.py).

Its arguments (job_args.FullCopyConfig): docs/glue-job-arguments.md. Exit status 2 on a bad argument or
transform.
"""

import sys
import time
from typing import Any, Dict, Optional, Sequence

from .. import job_args, job_log, job_setup, scan_copy, spark_segments

JOB = "full-copy"


def main(argv: Optional[Sequence[str]] = None, spark_context=None, retry=None) -> Dict[str, Any]:
    """Runs the copy; `spark_context` lets a test pass a SparkContext-like fake."""
    argv = sys.argv if argv is None else argv
    started = time.monotonic()
    setup = job_setup.prepare(JOB, job_args.full_copy_config, argv, "full_copy_start", retry=retry,
                              describe_backup=True)
    config: job_args.FullCopyConfig = setup.config
    schema, policy = setup.schema, setup.policy
    sc = spark_context if spark_context is not None else spark_segments.spark_context()
    total = config.scan_segments or spark_segments.derive_total_segments(sc)
    common: Dict[str, Any] = dict(
        source_table=config.source_table, backup_table=config.backup_table, schema=schema,
        transform=config.transform, delete_policy=config.delete_policy, total_segments=total,
        region=config.region, consistent_scan=config.consistent_scan,
        max_items_per_second=config.max_items_per_second, verify_writes=config.verify_writes,
        retry=policy, retained_attribute=config.retained_attribute)
    copied, _ = spark_segments.run_segments(sc, total, scan_copy.SegmentCopyTask(**common))
    summary: Dict[str, Any] = {"segments": total, "copy": copied.as_dict()}
    job_log.log_event("full_copy_copied", job=JOB, segments=total, seconds=round(time.monotonic() - started, 3),
                      **copied.as_dict())
    if config.mirror_deletes:
        pruned, _ = spark_segments.run_segments(sc, total, scan_copy.SegmentPruneTask(**common))
        summary["mirror_deletes"] = pruned.as_dict()
        job_log.log_event("full_copy_pruned", job=JOB, segments=total, **pruned.as_dict())
    summary["seconds"] = round(time.monotonic() - started, 3)
    job_log.log_event("full_copy_done", job=JOB, **summary)
    return summary


if __name__ == "__main__":
    main()
