"""The code of the Glue jobs that keep the backup table in step with the source: one package, shipped
to Glue as one wheel (build-tools/python-wheel.ts builds it at synth; glue-job/README.md). The jobs'
mains are in backup_replication.jobs; glue-job/<job>.py are the scripts Glue runs."""

__version__ = "1.0.0"
