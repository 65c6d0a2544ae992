"""Glue Spark job `full-copy`: the script Glue runs. The job is backup_replication.jobs.full_copy; its
arguments are in docs/glue-job-arguments.md. The package comes from the wheel the stack passes to the job."""

from backup_replication.jobs import full_copy

if __name__ == "__main__":
    full_copy.main()
