"""Glue Spark job `verify`: the script Glue runs. The job is backup_replication.jobs.verify; its
arguments are in docs/glue-job-arguments.md. The package comes from the wheel the stack passes to the job."""

from backup_replication.jobs import verify

if __name__ == "__main__":
    verify.main()
