"""Runs a Spark entry point of glue-job (restore.py, verify.py, full_copy.py) on this machine, with the
partitions of its segments run in-process (support.FakeSparkContext) instead of on Spark executors:
for tests that drive the jobs as processes, as Glue would, against local endpoints.

    python3 glue-job/tests/local_spark_job.py restore --backup_table ... (the job's own arguments)
"""

import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import support  # noqa: E402  (puts glue-job/ and glue-job/lib/ on the path)

SPARK_JOBS = ("restore", "verify", "full_copy")


def main(argv):
    if len(argv) < 2 or argv[1] not in SPARK_JOBS:
        sys.stderr.write("usage: local_spark_job.py {%s} --argument value ...\n" % "|".join(SPARK_JOBS))
        return 2
    job = importlib.import_module(argv[1])
    job.main([argv[1] + ".py"] + argv[2:], spark_context=support.FakeSparkContext(2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
