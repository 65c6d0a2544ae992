"""One module a Glue job, each with main(argv=None, ...): apply_changes (Python shell, or Spark when
configured), full_copy, verify and restore (Spark). The entry scripts glue-job/<job>.py call them."""
