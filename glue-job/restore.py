"""Glue Spark job (on demand) `restore`: the script Glue runs. The job is backup_replication.jobs.restore; its
arguments are in docs/glue-job-arguments.md. The package comes from the wheel the stack passes to the job."""

from backup_replication.jobs import restore

if __name__ == "__main__":
    restore.main()
