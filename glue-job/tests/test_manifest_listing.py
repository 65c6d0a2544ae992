"""Manifests are taken oldest first, whatever their (content-hash) names."""

import time
import unittest

import manifests
import support


class ManifestListingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = support.s3()
        cls.bucket = support.create_bucket(cls.s3)

    def test_oldest_first_across_pages(self):
        prefix = support.unique("changes") + "/"
        # Written newest-name-first: listing order (by name) is the reverse of age.
        names = ["%s%s.json" % (prefix, letter) for letter in "zyx"]
        for name in names:
            self.s3.put_object(Bucket=self.bucket, Key=name, Body=b"{}")
            time.sleep(1.1)  # S3 LastModified has one-second resolution
        self.assertEqual(manifests.list_manifests(self.s3, self.bucket, prefix, limit=2, page_size=1), names[:2])
        self.assertEqual(manifests.list_manifests(self.s3, self.bucket, prefix, page_size=2, exclude={names[0]}), names[1:])


if __name__ == "__main__":
    unittest.main()
