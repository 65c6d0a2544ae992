"""Manifests are taken in time order from the first page(s) of the listing only (each pass
used to list every page under the prefix to take the oldest 1,000, quadratic in the backlog)."""

import random
import unittest

import support
from backup_replication import manifests
from test_apply import ApplyTestCase, key


class ManifestListingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = support.s3()
        cls.bucket = support.create_bucket(cls.s3)

    def test_names_sort_by_record_time_then_sequence_and_a_pass_takes_a_bounded_prefix(self):
        prefix = support.unique("changes") + "/"
        rng = random.Random(12)
        moments = sorted((1767225600 + rng.randrange(0, 10 ** 6), rng.randrange(1, 10 ** 30)) for _ in range(25))
        bodies = [("%d" % n).encode() * (50 + n) for n in range(25)]
        names = [manifests.ordered_name(prefix, manifests.order_from(t, s), b) for (t, s), b in zip(moments, bodies)]
        for index in rng.sample(range(25), 25):  # written in any order
            self.s3.put_object(Bucket=self.bucket, Key=names[index], Body=bodies[index])
        listed = manifests.list_manifests(self.s3, self.bucket, prefix, limit=7, page_size=3)
        self.assertEqual([e.name for e in listed], names[:7])
        self.assertEqual([e.size for e in listed], [len(b) for b in bodies[:7]])
        budget = len(bodies[0]) + len(bodies[1]) + len(bodies[2])
        self.assertEqual([e.name for e in manifests.list_manifests(self.s3, self.bucket, prefix, max_bytes=budget)],
                         names[:3])
        # Always one, however large.
        self.assertEqual([e.name for e in manifests.list_manifests(self.s3, self.bucket, prefix, max_bytes=1)], names[:1])
        self.assertEqual([e.name for e in manifests.list_manifests(self.s3, self.bucket, prefix, limit=2, exclude={names[0]})],
                         names[1:3])
        self.assertEqual(manifests.order_of(names[4], prefix), names[4][len(prefix):len(prefix) + 57])
        # The vector __tests__/change-trigger-records.test.ts checks for the Lambda's names.
        self.assertEqual(manifests.order_from(1764620970.9, 123), "20251201T202930Z-" + "123".rjust(40, "0"))


class DrainListingCostTest(ApplyTestCase):
    def test_draining_a_backlog_lists_pages_in_proportion_to_what_it_takes(self):
        self.seed(3)
        backlog, per_pass, page = 60, 20, 10
        for n in range(backlog):
            support.put_manifest(self.s3, self.bucket, self.prefix, [key(n % 3)])
        counting = support.FlakyDynamoDB(self.s3)  # forwards every call; counts them
        result, _ = self.run_apply(s3=counting, settings=self.settings(max_manifests_per_pass=per_pass, list_page_size=page))
        self.assertEqual((result.passes, result.manifests_applied, self.manifests_left()), (3, backlog, []))
        # Each pass reads the pages holding what it takes (2), and the last listing finds none (1).
        # Listing every page each time took 6 + 4 + 2 + 1 = 13.
        self.assertEqual(counting.counts["list_objects_v2"], 3 * (per_pass // page) + 1)


class DrainListingCostOnDynamoDbLocalTest(support.OnDynamoDbLocal, DrainListingCostTest):
    """The same with AWS's DynamoDB Local holding the tables."""


if __name__ == "__main__":
    unittest.main()
