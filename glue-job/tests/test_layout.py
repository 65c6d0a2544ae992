"""The layout of glue-job/: the code is one package found through the environment (PYTHONPATH, or the
wheel on Glue), never by a script editing its own import path; the benchmarks stand apart from the tests."""

import ast
import os
import unittest

import support


def python_files(folder):
    return sorted(os.path.join(where, name) for where, _, names in os.walk(folder)
                  for name in names if name.endswith(".py"))


def parsed(path):
    with open(path) as handle:
        return ast.parse(handle.read(), filename=path)


def imported_modules(path):
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


class LayoutTest(unittest.TestCase):
    def test_no_python_file_changes_the_import_path(self):
        files = python_files(support.GLUE_JOB)
        self.assertGreater(len(files), 40)
        for path in files:
            uses = [node.lineno for node in ast.walk(parsed(path))
                    if (isinstance(node, ast.Attribute) and node.attr == "path"
                        and isinstance(node.value, ast.Name) and node.value.id == "sys")
                    or (isinstance(node, ast.ImportFrom) and node.module == "sys")]
            with self.subTest(path=os.path.relpath(path, support.GLUE_JOB)):
                self.assertEqual(uses, [])

    def test_the_benchmarks_import_no_test_module(self):
        tests = set(os.path.splitext(os.path.basename(p))[0] for p in python_files(support.HERE))
        benchmarks = python_files(os.path.join(support.GLUE_JOB, "benchmarks"))
        self.assertEqual(len(benchmarks), 7)
        for path in benchmarks:
            with self.subTest(path=os.path.relpath(path, support.GLUE_JOB)):
                self.assertEqual(sorted(set(imported_modules(path)) & tests), [])


if __name__ == "__main__":
    unittest.main()
