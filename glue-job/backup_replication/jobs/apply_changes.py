"""Glue job `apply-changes`: applies the change manifests under s3://<manifest_bucket>/<manifest_prefix>
to the backup table (see apply.py). As a Python shell job it syncs the keys in its own process; as a
Spark job (--spark true) it spreads each pass's keys over the executors (spark_apply.py).

Its arguments (job_args.ApplyChangesConfig): docs/glue-job-arguments.md. Glue's --JOB_RUN_ID marks the
remainders a run writes.

It never starts runs: the stack's sweep does (a rule on this job's runs ending, and a schedule).

Exit status: 0 when done or stopped by the time budget (the rest is in the manifests, remainders
included); 2 on a bad argument or transform; an exception (exit 1, run FAILED) when the backup could not
be updated (the unfinished keys are in a remainder), or, after all other work, when any manifest was
rejected as malformed (apply.ManifestsRejected) or a key was quarantined (apply.KeysQuarantined).
"""

import dataclasses
import sys
import time
from typing import Optional, Sequence

from .. import apply, aws_clients, job_args, job_log, job_setup, manifest_store, metrics, replicate, spark_apply, spark_segments

JOB = "apply-changes"


def main(argv: Optional[Sequence[str]] = None, clock=None, retry=None, wall_clock=None,
         spark_context=None) -> apply.ApplyResult:
    """Runs the job; `clock` (the time budget's), `wall_clock` (epoch seconds: manifest ages, latencies and the
    metrics' timestamps), `retry` (a ddb_batch.RetryPolicy) and `spark_context` (a SparkContext-like stand-in,
    used with --spark true) are for tests."""
    argv = sys.argv if argv is None else argv
    setup = job_setup.prepare(JOB, job_args.apply_changes_config, argv, "apply_start", retry=retry)
    config: job_args.ApplyChangesConfig = setup.config
    store = manifest_store.ManifestStore(aws_clients.s3_client(config.region), config.manifest_bucket,
                                         config.manifest_prefix, config.rejected_prefix, config.quarantine_prefix)
    replicator = replicate.Replicator(setup.client, config.source_table, config.backup_table, setup.schema,
                                      config.transform, config.delete_policy, setup.stats, setup.policy, verify=True,
                                      retained_attribute=config.retained_attribute)
    settings = apply.ApplySettings(config.time_budget_seconds, max_pass_bytes=config.max_pass_bytes,
                                   writer_id=config.job_run_id)
    kwargs: dict = {} if clock is None else {"clock": clock}
    if config.spark:
        spread = kwargs["spread"] = _spread(config, replicator, settings, spark_context)
        # A pass as large as the largest run can work on at once (the driver's worker has 16 GB): else a
        # run of many workers would wait on passes of the Python shell's size.
        settings = dataclasses.replace(settings, max_pass_keys=max(settings.max_pass_keys,
                                                                   spread.max_tasks * spread.keys_per_task))
        job_log.log_event("apply_spread", job=JOB, max_tasks=spread.max_tasks, keys_per_task=spread.keys_per_task,
                          max_pass_keys=settings.max_pass_keys)
    wall_clock = wall_clock or time.time
    published = metrics.apply_metrics(config.metrics_namespace, config.metrics_pipeline,
                                      lambda: aws_clients.cloudwatch_client(config.region), wall_clock)
    try:
        result = apply.run(store, replicator, settings, setup.schema, metrics=published, wall_clock=wall_clock, **kwargs)
    finally:
        published.run_finished()  # a run that failed has finished too (the stalled-apply alarm counts runs)
    job_log.log_event("apply_summary", job=JOB, stats=setup.stats.as_dict(), **result.as_dict())
    apply.check_failures(result)
    return result


def _spread(config: job_args.ApplyChangesConfig, replicator: replicate.Replicator, settings: apply.ApplySettings,
            spark_context: Optional[spark_segments.SparkContextLike]) -> spark_apply.SparkSpread:
    sc = spark_context if spark_context is not None else spark_segments.spark_context()
    return spark_apply.SparkSpread(sc, spark_apply.WriterSpec.of(replicator, config.region),
                                   config.max_tasks or spark_apply.max_tasks(sc), config.keys_per_task,
                                   settings.keys_per_chunk, settings.chunk_workers)


if __name__ == "__main__":
    main()
