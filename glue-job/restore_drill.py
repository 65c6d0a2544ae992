"""Glue Spark job `restore-drill` (scheduled): the script Glue runs. The job is
backup_replication.jobs.restore_drill; its arguments are in docs/glue-job-arguments.md. The package comes
from the wheel the stack passes to the job."""

from backup_replication.jobs import restore_drill

if __name__ == "__main__":
    restore_drill.main()
