"""Glue Python shell job (or Spark, when configured) `apply-changes`: the script Glue runs. The job is
backup_replication.jobs.apply_changes; its arguments are in docs/glue-job-arguments.md. The package
comes from the wheel the stack passes to the job."""

from backup_replication.jobs import apply_changes

if __name__ == "__main__":
    apply_changes.main()
