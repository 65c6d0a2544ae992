"""Glue Python shell job `apply-changes`: applies the change manifests under
s3://<manifest_bucket>/<manifest_prefix> to the backup table (see lib/apply.py).

Arguments: --source_table --backup_table --manifest_bucket (required); --delete_policy retain|mirror,
--transform JSON, --region, --retained_attribute (_deleted_from_source), --manifest_prefix (changes/), --rejected_prefix (rejected/),
--time_budget_seconds (2700); Glue's --JOB_NAME names the job for the follow-up run.

When the run leaves manifests on purpose (time budget spent, or manifests held for keys that kept
changing) it calls Glue StartJobRun(JobName=<--JOB_NAME>) once at the end (queued behind this run);
without --JOB_NAME it logs that no follow-up run was started.

Exit status: 0 when done, or stopped by the time budget / holding hot keys' manifests with the follow-up
run started (or no --JOB_NAME); 2 on a bad argument or transform; an exception (exit 1, run FAILED) when
the backup could not be updated, when StartJobRun failed (apply.FollowUpRunNotStarted), or, after all
other work, when any manifest was rejected as malformed (apply.ManifestsRejected, naming them).
"""

import os
import sys

_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
if os.path.isdir(_LIB) and _LIB not in sys.path:
    sys.path.insert(0, _LIB)  # running from a checkout; on Glue, --extra-py-files puts lib/*.py on the path

import apply  # noqa: E402
import aws_clients  # noqa: E402
import job_args  # noqa: E402
import job_log  # noqa: E402
import job_setup  # noqa: E402
import replicate  # noqa: E402

JOB = "apply-changes"


def main(argv=None, clock=None, retry=None):
    """Runs the job; `clock` and `retry` (a ddb_batch.RetryPolicy) are for tests."""
    argv = sys.argv if argv is None else argv
    setup = job_setup.prepare(JOB, job_args.apply_changes_config, argv, "apply_start", retry=retry)
    config = setup.config
    s3 = aws_clients.s3_client(config.region)
    replicator = replicate.Replicator(setup.client, config.source_table, config.backup_table, setup.schema,
                                      config.transform, config.delete_policy, setup.stats, setup.policy, verify=True,
                                      retained_attribute=config.retained_attribute)
    settings = apply.ApplySettings(config.manifest_bucket, config.manifest_prefix, config.rejected_prefix,
                                   config.time_budget_seconds)
    kwargs = {} if clock is None else {"clock": clock}
    result = apply.run(s3, replicator, settings, setup.schema, **kwargs)
    job_log.log_event("apply_summary", job=JOB, stats=setup.stats.as_dict(), **result.as_dict())
    apply.start_follow_up_run(result, config.job_name, lambda: aws_clients.glue_client(config.region))
    apply.check_rejected(result)
    return result


if __name__ == "__main__":
    main()
