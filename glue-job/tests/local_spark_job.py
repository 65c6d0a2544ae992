"""Runs a Spark job of the package (restore, restore_drill, verify, full_copy in backup_replication.jobs) on
this machine, with the partitions of its segments run in-process (support.FakeSparkContext) instead of on
Spark executors: for tests that drive the jobs as processes, as Glue would, against local endpoints.
The package comes from PYTHONPATH (glue-job/, or the synthesized wheel as the end-to-end tests use).

    PYTHONPATH=glue-job python3 glue-job/tests/local_spark_job.py restore --backup_table ... (the job's own arguments)
"""

import importlib
import sys

import support

SPARK_JOBS = ("restore", "restore_drill", "verify", "full_copy")


def main(argv):
    if len(argv) < 2 or argv[1] not in SPARK_JOBS:
        sys.stderr.write("usage: local_spark_job.py {%s} --argument value ...\n" % "|".join(SPARK_JOBS))
        return 2
    job = importlib.import_module("backup_replication.jobs." + argv[1])
    job.main([argv[1] + ".py"] + argv[2:], spark_context=support.FakeSparkContext(2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
