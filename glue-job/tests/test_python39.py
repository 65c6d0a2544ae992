"""Glue's Python shell runs Python 3.9: the job code must not use newer syntax."""

import ast
import glob
import os
import unittest

import support


class Python39SyntaxTest(unittest.TestCase):
    def test_job_code_parses_as_python_3_9(self):
        package = [os.path.join(folder, name) for folder, _, names in os.walk(support.PACKAGE_SOURCES)
                   for name in names if name.endswith(".py")]
        files = sorted(glob.glob(os.path.join(support.GLUE_JOB, "*.py")) + package)
        self.assertGreater(len(files), 25)
        for path in files:
            with open(path) as handle:
                source = handle.read()
            with self.subTest(path=os.path.relpath(path, support.GLUE_JOB)):
                ast.parse(source, filename=path, feature_version=(3, 9))


if __name__ == "__main__":
    unittest.main()
