"""Glue Python shell job `apply-changes`: applies the change manifests under
s3://<manifest_bucket>/<manifest_prefix> to the backup table (see apply.py).

Its arguments (job_args.ApplyChangesConfig): docs/glue-job-arguments.md. Glue's --JOB_RUN_ID marks the
remainders a run writes.

It never starts runs: the stack's sweep does (a rule on this job's runs ending, and a schedule).

Exit status: 0 when done or stopped by the time budget (the rest is in the manifests, remainders
included); 2 on a bad argument or transform; an exception (exit 1, run FAILED) when the backup could not
be updated (the unfinished keys are in a remainder), or, after all other work, when any manifest was
rejected as malformed (apply.ManifestsRejected) or a key was quarantined (apply.KeysQuarantined).
"""

import sys
import time
from typing import Optional, Sequence

from .. import apply, aws_clients, job_args, job_log, job_setup, manifest_store, metrics, replicate

JOB = "apply-changes"


def main(argv: Optional[Sequence[str]] = None, clock=None, retry=None, wall_clock=None) -> apply.ApplyResult:
    """Runs the job; `clock` (the time budget's), `wall_clock` (epoch seconds: manifest ages, latencies and the
    metrics' timestamps) and `retry` (a ddb_batch.RetryPolicy) are for tests."""
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
    kwargs = {} if clock is None else {"clock": clock}
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


if __name__ == "__main__":
    main()
