"""Manifests are taken in time order from the first page(s) of the listing only (each pass
used to list every page under the prefix to take the oldest 1,000, quadratic in the backlog)."""

import random
import unittest

import support
from backup_replication import manifest_format, manifest_store
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
        names = [manifest_format.ordered_name(prefix, manifest_format.order_from(t, s), b) for (t, s), b in zip(moments, bodies)]
        for index in rng.sample(range(25), 25):  # written in any order
            self.s3.put_object(Bucket=self.bucket, Key=names[index], Body=bodies[index])
        store = manifest_store.ManifestStore(self.s3, self.bucket, prefix)
        listed = store.list(limit=7, page_size=3)
        self.assertEqual([e.name for e in listed], names[:7])
        self.assertEqual([e.size for e in listed], [len(b) for b in bodies[:7]])
        budget = len(bodies[0]) + len(bodies[1]) + len(bodies[2])
        self.assertEqual([e.name for e in store.list(max_bytes=budget)], names[:3])
        # Always one, however large.
        self.assertEqual([e.name for e in store.list(max_bytes=1)], names[:1])
        self.assertEqual([e.name for e in store.list(limit=2, exclude={names[0]})], names[1:3])
        # Any prefix of the bucket, the same way.
        self.assertEqual([e.name for e in manifest_store.ManifestStore(self.s3, self.bucket).list(prefix, limit=2)],
                         names[:2])
        self.assertEqual(manifest_format.order_of(names[4], prefix), names[4][len(prefix):len(prefix) + 57])
        # The vector __tests__/change-trigger-records.test.ts checks for the Lambda's names.
        self.assertEqual(manifest_format.order_from(1764620970.9, 123), "20251201T202930Z-" + "123".rjust(40, "0"))

    def test_the_store_writes_reads_deletes_and_moves_manifests_aside_in_its_own_prefixes(self):
        tag = support.unique("store")
        store = manifest_store.ManifestStore(self.s3, self.bucket, tag + "/changes/", tag + "/rejected/",
                                             tag + "/quarantine/")
        name, body = manifest_format.build_manifest([key(1)], order=manifest_format.order_from(1767225600, 1))
        store.write(store.manifest_prefix + name, body, metadata={"note": "caf\u00e9 " + "x" * 3000})
        head = self.s3.head_object(Bucket=self.bucket, Key=store.manifest_prefix + name)
        self.assertEqual((head["ContentType"], head["Metadata"]["note"]), ("application/json", "caf? " + "x" * 1763))
        self.assertEqual(store.read(store.manifest_prefix + name), (body, None))
        self.assertIsNone(store.read(store.manifest_prefix + "gone.json"))
        self.assertEqual(store.rejected_name(store.manifest_prefix + name), store.rejected_prefix + name)
        moved = store.reject(store.manifest_prefix + name, "not JSON: \u2026")
        self.assertEqual(moved, store.rejected_prefix + name)
        self.assertEqual(support.list_keys(self.s3, self.bucket, tag + "/"), [moved])
        metadata = self.s3.head_object(Bucket=self.bucket, Key=moved)["Metadata"]
        self.assertEqual(metadata, {"rejected-reason": "not JSON: ?", "rejected-from": store.manifest_prefix + name})
        self.assertEqual([e.name for e in store.list(store.rejected_prefix)], [moved])
        self.assertEqual(store.list(), [])
        store.delete(moved)
        self.assertEqual(support.list_keys(self.s3, self.bucket, tag + "/"), [])


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
