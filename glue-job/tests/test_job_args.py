import ast
import dataclasses
import glob
import json
import os
import unittest

from backup_replication import job_args
from backup_replication.jobs import apply_changes, full_copy, restore, restore_drill, verify

GLUE_EXTRAS = ["--JOB_ID", "j_123", "--JOB_RUN_ID", "jr_456", "--JOB_NAME", "apply-changes",
               "--job-bookmark-option", "job-bookmark-disable", "--TempDir", "s3://tmp/x/",
               "--enable-metrics", "true", "--enable-continuous-cloudwatch-log", "true"]


class JobArgsTest(unittest.TestCase):
    def test_apply_arguments_among_glue_extras_with_defaults(self):
        argv = ["script.py"] + GLUE_EXTRAS[:6] + ["--source_table", "api-pagos", "--backup_table", "api-pos-backup",
                                                  "--manifest_bucket", "bucket"] + GLUE_EXTRAS[6:]
        config = job_args.apply_changes_config(argv)
        self.assertEqual(config.source_table, "api-pagos")
        self.assertEqual(config.backup_table, "api-pos-backup")
        self.assertEqual(config.manifest_bucket, "bucket")
        self.assertEqual(config.manifest_prefix, "changes/")
        self.assertEqual(config.rejected_prefix, "rejected/")
        self.assertEqual(config.time_budget_seconds, 600.0)
        self.assertEqual(config.delete_policy, "retain")
        self.assertTrue(config.transform.is_identity)
        self.assertIsNone(config.region)
        self.assertEqual(config.retained_attribute, "_deleted_from_source")

    def test_glue_job_run_id_marks_remainders_and_prefixes_and_pass_size_are_checked(self):
        required = ["--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m"]
        config = job_args.apply_changes_config(["x"] + GLUE_EXTRAS + required)
        self.assertEqual((config.job_run_id, config.quarantine_prefix, config.max_pass_bytes),
                         ("jr_456", "quarantine/", 16 * 1024 * 1024))
        self.assertIsNone(job_args.apply_changes_config(["x"] + required).job_run_id)  # not run by Glue
        self.assertEqual(job_args.apply_changes_config(["x", "--max_pass_bytes", "4096"] + required).max_pass_bytes, 4096)
        for extra, message in ((["--quarantine_prefix", "changes/q/"], "--quarantine_prefix"),
                               (["--quarantine_prefix", ""], "--quarantine_prefix"),
                               (["--quarantine_prefix", "rejected/"], "must differ"),
                               (["--max_pass_bytes", "10"], "--max_pass_bytes must be >= 1024"),
                               (["--max_pass_bytes", "lots"], "--max_pass_bytes must be an integer")):
            with self.assertRaises(job_args.ArgumentError) as caught:
                job_args.apply_changes_config(["x"] + required + extra)
            self.assertIn(message, str(caught.exception))

    def test_all_apply_arguments_both_spellings(self):
        argv = ["x", "--source_table=s", "--backup_table", "b", "--manifest_bucket", "m", "--delete_policy", "mirror",
                "--transform", '{"rename": {"a": "b"}, "drop": ["c"]}', "--region", "eu-west-1",
                "--manifest_prefix", "in/", "--rejected_prefix", "bad/", "--time_budget_seconds", "60"]
        config = job_args.apply_changes_config(argv)
        self.assertEqual((config.source_table, config.delete_policy, config.region), ("s", "mirror", "eu-west-1"))
        self.assertEqual(config.transform.to_dict(), {"rename": {"a": "b"}, "drop": ["c"]})
        self.assertEqual((config.manifest_prefix, config.rejected_prefix, config.time_budget_seconds),
                         ("in/", "bad/", 60.0))

    def test_full_copy_arguments(self):
        argv = ["x"] + GLUE_EXTRAS + ["--source_table", "s", "--backup_table", "b", "--scan_segments", "16",
                                      "--max_items_per_second", "250", "--mirror_deletes", "true",
                                      "--delete_policy", "mirror"]
        config = job_args.full_copy_config(argv)
        self.assertEqual((config.scan_segments, config.max_items_per_second, config.mirror_deletes),
                         (16, 250.0, True))
        self.assertEqual((config.consistent_scan, config.verify_writes), (False, True))
        defaults = job_args.full_copy_config(["x", "--source_table", "s", "--backup_table", "b"])
        self.assertEqual((defaults.scan_segments, defaults.max_items_per_second, defaults.mirror_deletes),
                         (0, 0.0, False))

    def test_retained_attribute_for_both_jobs(self):
        required = ["--source_table", "s", "--backup_table", "b"]
        for parse, extra in ((job_args.apply_changes_config, ["--manifest_bucket", "m"]), (job_args.full_copy_config, [])):
            config = parse(["x"] + required + extra + ["--retained_attribute", "borrado"])
            self.assertEqual(config.retained_attribute, "borrado")
            self.assertEqual(job_args.describe(config)["retained_attribute"], "borrado")
            for transform in ('{"drop": ["borrado"]}', '{"rename": {"borrado": "x"}}', '{"rename": {"x": "borrado"}}'):
                with self.assertRaises(job_args.ArgumentError) as caught:
                    parse(["x"] + required + extra + ["--retained_attribute", "borrado", "--transform", transform])
                self.assertIn("--retained_attribute", str(caught.exception))
            with self.assertRaises(job_args.ArgumentError) as caught:
                parse(["x"] + required + extra + ["--retained_attribute", "y" * 256])
            self.assertIn("--retained_attribute must be 1 to 255 characters", str(caught.exception))

    def test_errors_are_clear(self):
        cases = [
            (["x", "--backup_table", "b", "--manifest_bucket", "m"], "--source_table"),
            (["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m", "--delete_policy", "keep"],
             "--delete_policy"),
            (["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m", "--transform", "{oops"],
             "not valid JSON"),
            (["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m",
              "--time_budget_seconds", "soon"], "--time_budget_seconds"),
            (["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m",
              "--rejected_prefix", "changes/rejected/"], "outside --manifest_prefix"),
            (["x", "--source_table", "t", "--backup_table", "t", "--manifest_bucket", "m"], "same table"),
            (["x", "--source_table", "s", "--backup_table", "b", "--manifest_bucket"], "needs a value"),
        ]
        for argv, expected in cases:
            with self.assertRaises(job_args.ArgumentError) as caught:
                job_args.apply_changes_config(argv)
            self.assertIn(expected, str(caught.exception), argv)
        full_cases = [
            (["x", "--source_table", "s", "--backup_table", "b", "--scan_segments", "-1"], "--scan_segments"),
            (["x", "--source_table", "s", "--backup_table", "b", "--mirror_deletes", "maybe"], "--mirror_deletes"),
            (["x", "--source_table", "s", "--backup_table", "b", "--mirror_deletes", "true"], "--delete_policy mirror"),
        ]
        for argv, expected in full_cases:
            with self.assertRaises(job_args.ArgumentError) as caught:
                job_args.full_copy_config(argv)
            self.assertIn(expected, str(caught.exception), argv)


class VerifyAndRestoreArgsTest(unittest.TestCase):
    def test_verify_and_restore_arguments_are_validated_with_the_setting_named(self):
        verify = ["x", "--source_table", "s", "--backup_table", "b", "--report_bucket", "r"] + GLUE_EXTRAS
        config = job_args.verify_config(verify)
        self.assertEqual((config.sample_fraction, config.repair, config.metrics_namespace, config.job_run_id),
                         (1.0, False, None, "jr_456"))
        for extra, message in ((["--sample_fraction", "0"], "--sample_fraction must be >"),
                               (["--sample_fraction", "1.5"], "--sample_fraction must be > 0 and <= 1"),
                               (["--repair", "maybe"], "--repair must be true or false")):
            with self.assertRaisesRegex(job_args.ArgumentError, message):
                job_args.verify_config(verify + extra)
        restore = ["x", "--backup_table", "b", "--target_table", "b-restore-1", "--report_bucket", "r",
                   "--source_table", "s"]
        config = job_args.restore_config(restore)
        self.assertEqual((config.mode, config.include_retained, config.dry_run, config.allowed_targets),
                         ("missing-only", False, False, []))
        for extra, message in ((["--target_table", "b"], "never writes it"),
                               (["--target_table", "other"], "is not allowed"),
                               (["--target_table", "s", "--allowed_targets", '["s"]'], "--allow_source_target true"),
                               (["--allowed_targets", "s"], "JSON list"),
                               (["--mode", "merge"], "--mode must be missing-only or overwrite"),
                               (["--deleted_after", "2026-01-01"], "needs --include_retained true"),
                               (["--include_retained", "true", "--deleted_after", "yesterday"], "ISO-8601")):
            with self.assertRaisesRegex(job_args.ArgumentError, message):
                job_args.restore_config(restore + extra)
        self.assertEqual(job_args.restore_config(restore + ["--include_retained", "true", "--deleted_after",
                                                            "2026-01-01"]).deleted_after, "2026-01-01T00:00:00Z")

    def test_a_table_is_a_name_or_a_table_arn_and_names_are_compared_and_derived_by_name(self):
        backup = "arn:aws:dynamodb:eu-west-1:222222222222:table/api-pos-backup"
        config = job_args.full_copy_config(["x", "--source_table", "api-pagos", "--backup_table", backup])
        self.assertEqual(config.backup_table, backup)  # DynamoDB is called with the ARN
        for text in ("arn:aws:dynamodb:eu-west-1:2222:table/b", "arn:aws:dynamodb:eu-west-1:222222222222:table/b/index/i",
                     "arn:aws:s3:::b", "api pos backup"):
            with self.assertRaisesRegex(job_args.ArgumentError, "--backup_table must be a table name .* or a DynamoDB "
                                                                "table ARN .*table/<name>"):
                job_args.full_copy_config(["x", "--source_table", "api-pagos", "--backup_table", text])
        with self.assertRaisesRegex(job_args.ArgumentError, "same table name \\(api-pagos\\)"):
            job_args.full_copy_config(["x", "--source_table", "api-pagos", "--backup_table",
                                       "arn:aws:dynamodb:eu-west-1:222222222222:table/api-pagos"])
        restore = ["x", "--backup_table", backup, "--report_bucket", "r", "--source_table", "api-pagos"]
        config = job_args.restore_config(restore + ["--target_table", "api-pos-backup-restore-1"])
        self.assertFalse(config.into_source)
        for target, message in (("api-pos-backup", "is the backup's name \\(api-pos-backup\\)"),
                                (backup + "-restore-1", "--target_table must be a table name .* own account"),
                                ("other", "named api-pos-backup-restore-<name>")):
            with self.assertRaisesRegex(job_args.ArgumentError, message):
                job_args.restore_config(restore + ["--target_table", target])
        source = "arn:aws:dynamodb:us-east-1:111111111111:table/api-pagos"
        into = job_args.restore_config(["x", "--backup_table", backup, "--report_bucket", "r", "--source_table", source,
                                        "--target_table", "api-pagos", "--allowed_targets", '["api-pagos"]',
                                        "--allow_source_target", "true", "--include_retained", "true",
                                        "--deleted_after", "2026-01-01", "--manifest_bucket", "m"])
        self.assertTrue(into.into_source)  # the source by name, with its checks
        self.assertEqual(job_args.restore_drill_table(backup, "jr_1"), "api-pos-backup-restore-drill-jr_1")

    def test_glue_run_id_is_not_asked_of_getResolvedOptions_which_declares_it_itself(self):
        """awsglue's getResolvedOptions adds --JOB_ID and --JOB_RUN_ID to its argparse parser on its own;
        asking it for them too would be an argparse conflict. A stand-in with that behaviour:"""
        import argparse
        import sys
        import types

        def get_resolved_options(args, options):
            parser = argparse.ArgumentParser()
            for reserved in ("--JOB_ID", "--JOB_RUN_ID"):
                parser.add_argument(reserved, required=False)
            for option in options:
                parser.add_argument("--" + option, required=True)
            return vars(parser.parse_known_args(args[1:])[0])

        awsglue = types.ModuleType("awsglue")
        awsglue.utils = types.ModuleType("awsglue.utils")
        awsglue.utils.getResolvedOptions = get_resolved_options
        sys.modules["awsglue"], sys.modules["awsglue.utils"] = awsglue, awsglue.utils
        try:
            config = job_args.verify_config(["x", "--source_table", "s", "--backup_table", "b", "--report_bucket", "r"] + GLUE_EXTRAS)
        finally:
            del sys.modules["awsglue"], sys.modules["awsglue.utils"]
        self.assertEqual((config.job_run_id, config.source_table, config.report_bucket), ("jr_456", "s", "r"))


# Each job's parser with the arguments it requires.
REQUIRED = {
    "apply-changes": (job_args.apply_changes_config, ["--source_table", "s", "--backup_table", "b", "--manifest_bucket", "m"]),
    "full-copy": (job_args.full_copy_config, ["--source_table", "s", "--backup_table", "b"]),
    "verify": (job_args.verify_config, ["--source_table", "s", "--backup_table", "b", "--report_bucket", "r"]),
    "restore": (job_args.restore_config, ["--backup_table", "b", "--target_table", "b-restore-1", "--report_bucket", "r"]),
    "restore-drill": (job_args.restore_drill_config, ["--backup_table", "b", "--report_bucket", "r"]),
}
GLUE_JOB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReferenceTest(unittest.TestCase):
    """Each argument is declared once, and docs/glue-job-arguments.md is generated from job_args.reference()."""

    def test_each_argument_is_declared_once_and_its_declared_default_is_the_one_parsing_uses(self):
        jobs = job_args.reference()["jobs"]
        self.assertEqual([job["job"] for job in jobs], list(REQUIRED))
        for job in jobs:
            parse, required = REQUIRED[job["job"]]
            names = [argument["name"] for argument in job["arguments"]]
            self.assertEqual(len(names), len(set(names)), job["job"])
            self.assertEqual(sorted(name for name, argument in zip(names, job["arguments"]) if argument["required"]),
                             sorted(flag[2:] for flag in required[::2]), job["job"])
            implicit = job_args.describe(parse(["x"] + required))
            self.assertLessEqual(set(argument["attribute"] for argument in job["arguments"]), set(implicit), job["job"])
            for argument in job["arguments"]:
                if argument["required"]:
                    self.assertIsNone(argument["default"])
                    continue
                # The declared default passed explicitly gives what its absence gives: there is no other default.
                explicit = parse(["x"] + required + ["--%s=%s" % (argument["name"], argument["default"])])
                self.assertEqual(job_args.describe(explicit), implicit, (job["job"], argument["name"]))

    def test_the_reference_is_plain_data_saying_what_each_argument_allows_and_does(self):
        reference = job_args.reference()
        self.assertEqual(json.loads(json.dumps(reference)), reference)
        for job in reference["jobs"]:
            self.assertTrue(job["config"].endswith("Config"))
            for argument in job["arguments"]:
                where = (job["job"], argument["name"])
                self.assertEqual(set(argument), {"name", "attribute", "required", "default", "kind", "allowed",
                                                 "description", "glue"}, where)
                self.assertTrue(argument["kind"] and argument["allowed"], where)
                # One sentence: what it does and why the default.
                self.assertRegex(argument["description"], r"^[A-Z`\-].*\.$", where)
                self.assertNotRegex(argument["description"], r"\.\s+[A-Z]", where)
        glue = dict((job["job"], [a["name"] for a in job["arguments"] if a["glue"]]) for job in reference["jobs"])
        self.assertEqual(glue, {"apply-changes": ["JOB_RUN_ID"], "full-copy": [], "verify": ["JOB_RUN_ID"],
                                "restore": ["JOB_RUN_ID"], "restore-drill": ["JOB_RUN_ID"]})
        by_name = dict((a["name"], a) for a in reference["jobs"][0]["arguments"])
        self.assertEqual((by_name["time_budget_seconds"]["default"], by_name["time_budget_seconds"]["kind"]),
                         ("600", "number"))
        self.assertEqual((by_name["JOB_RUN_ID"]["attribute"], by_name["delete_policy"]["allowed"]),
                         ("job_run_id", "`retain`, `mirror`"))

    def test_each_job_parses_into_a_frozen_dataclass_named_in_the_reference(self):
        for job in job_args.reference()["jobs"]:
            parse, required = REQUIRED[job["job"]]
            config = parse(["x"] + required)
            self.assertTrue(dataclasses.is_dataclass(config))
            self.assertEqual(type(config).__name__, job["config"])
            with self.assertRaises(dataclasses.FrozenInstanceError):
                setattr(config, "backup_table", "other")

    def test_the_job_docstrings_point_to_the_reference_instead_of_listing_arguments(self):
        scripts = sorted(glob.glob(os.path.join(GLUE_JOB, "*.py")))
        self.assertEqual(len(scripts), 5)
        docstrings = []
        for path in scripts:
            with open(path) as handle:
                docstrings.append(ast.get_docstring(ast.parse(handle.read())))
        docstrings += [module.__doc__ for module in (apply_changes, full_copy, verify, restore, restore_drill)]
        for docstring in docstrings:
            self.assertIn("docs/glue-job-arguments.md", docstring)
            self.assertNotIn("Arguments:", docstring)
            self.assertNotIn("(required)", docstring)


if __name__ == "__main__":
    unittest.main()
