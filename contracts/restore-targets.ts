/**
 * The restore job may always write a new table named `<backup table><RESTORE_TARGET_SUFFIX><anything>`:
 * the stack grants that pattern, and the job's own guard (glue-job/backup_replication/job_args.py) refuses any other
 * target that restore.allowedTargets does not name (a test compares the two).
 */
export const RESTORE_TARGET_SUFFIX = "-restore-";

/**
 * The restore drill's own tables, `<backup table><RESTORE_DRILL_INFIX><job run id>`: the only tables its
 * role may create, write and delete (job_args.RESTORE_DRILL_INFIX names the same; a test compares them).
 * They match RESTORE_TARGET_SUFFIX's pattern too, which lets restore write one, never delete it.
 */
export const RESTORE_DRILL_INFIX = "-restore-drill-";
