/**
 * The restore job may always write a new table named `<backup table><RESTORE_TARGET_SUFFIX><anything>`:
 * the stack grants that pattern, and the job's own guard (glue-job/backup_replication/job_args.py) refuses any other
 * target that restore.allowedTargets does not name (a test compares the two).
 */
export const RESTORE_TARGET_SUFFIX = "-restore-";
