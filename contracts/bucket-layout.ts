/**
 * Where each kind of object lives in the pipeline's bucket: the stack grants and expires by these
 * prefixes, the change-trigger function and the replay command write manifests under one, and the
 * Glue jobs' default arguments name the same (a test compares them).
 */
export const BUCKET_LAYOUT = {
  scripts: "glue/",
  manifests: "changes/",
  rejected: "rejected/",
  /** Keys apply-changes could not write, one manifest each, with the error (README: "A key was quarantined"). */
  quarantine: "quarantine/",
  verifyReports: "verify/",
  restoreReports: "restore/",
  restoreDrillReports: "restore-drill/",
} as const;
