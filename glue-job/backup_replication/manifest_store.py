"""Where the change manifests live, and every S3 call on them: listing the first page(s) of a prefix,
reading, writing (remainders, quarantine objects), deleting and moving aside. What a manifest holds and
how it is named is manifest_format.py.

One bucket holds three prefixes: the pending manifests (the Lambda's and apply-changes' remainders),
the rejected ones (malformed, moved aside with their reason) and the quarantine objects (one key each
that could not be written). Listing is in S3's order, UTF-8 binary, which the names make time order.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Collection, Optional


@dataclass(frozen=True)
class Listed:
    """One manifest object of a listing: name (the object key), size in bytes, last_modified (None when
    the listing did not say)."""

    __slots__ = ("name", "size", "last_modified")  # a pass lists up to thousands

    name: str
    size: int
    last_modified: Optional[datetime.datetime]

    def __repr__(self) -> str:
        return "Listed(%r, %d)" % (self.name, self.size)

    def __reduce__(self) -> tuple[type[Listed], tuple[str, int, Optional[datetime.datetime]]]:
        # Frozen with __slots__: copy and pickle must go through __init__ (before Python 3.10 they set the
        # slots one by one, which a frozen class refuses).
        return Listed, (self.name, self.size, self.last_modified)


@dataclass(frozen=True)
class ManifestStore:
    """The manifests of one pipeline: the S3 client, the bucket, and its three prefixes."""

    s3: Any
    bucket: str
    manifest_prefix: str = "changes/"
    rejected_prefix: str = "rejected/"
    quarantine_prefix: str = "quarantine/"

    def list(self, prefix: Optional[str] = None, limit: int = 1000, max_bytes: Optional[int] = None,
             page_size: int = 1000, exclude: Collection[str] = ()) -> list[Listed]:
        """The first manifests under `prefix` (default: the pending ones) in S3's listing order (time
        order, see manifest_format.py): at most `limit`, and at most `max_bytes` in total (but always
        the first one).

        Reads only the pages it needs, so a pass costs pages in proportion to what it takes, not to the
        backlog. "Folder" placeholders (keys ending in "/") and the names in `exclude` are skipped.
        """
        taken: list[Listed] = []
        total = 0
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.manifest_prefix if prefix is None else prefix,
                  "MaxKeys": page_size}
        while True:
            response = self.s3.list_objects_v2(**kwargs)
            for entry in response.get("Contents", []):
                name = entry["Key"]
                if name.endswith("/") or name in exclude:
                    continue
                size = int(entry.get("Size", 0))
                if taken and max_bytes is not None and total + size > max_bytes:
                    return taken
                taken.append(Listed(name, size, entry.get("LastModified")))
                total += size
                if len(taken) >= limit:
                    return taken
            if not response.get("IsTruncated"):
                return taken
            kwargs["ContinuationToken"] = response["NextContinuationToken"]

    def read(self, name: str) -> Optional[tuple[bytes, Optional[str]]]:
        """(body bytes, version id or None), or None when the object is gone (another run applied and
        deleted it)."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=name)
        except self.s3.exceptions.NoSuchKey:
            return None
        return response["Body"].read(), response.get("VersionId")

    def write(self, name: str, body: bytes, metadata: Optional[dict[str, str]] = None) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": name, "Body": body, "ContentType": "application/json"}
        if metadata:  # 2 KB at most in all: each value gets its share
            share = max(64, 1800 // len(metadata) - 32)
            kwargs["Metadata"] = dict((k, _metadata_text(v, share)) for k, v in metadata.items())
        self.s3.put_object(**kwargs)

    def delete(self, name: str, version_id: Optional[str] = None) -> None:
        """Deletes a consumed manifest. With the version read (a versioned bucket), that version itself:
        no delete marker is left in front of the live manifests of the listing, and a version written
        since (a retried batch) stays to be applied."""
        if version_id:
            self.s3.delete_object(Bucket=self.bucket, Key=name, VersionId=version_id)
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=name)

    def rejected_name(self, name: str) -> str:
        """Where a pending manifest goes when it is rejected: the same name under the rejected prefix."""
        relative = name[len(self.manifest_prefix):] if name.startswith(self.manifest_prefix) else name
        return self.rejected_prefix + relative

    def reject(self, name: str, reason: str, version_id: Optional[str] = None) -> str:
        """Moves a malformed manifest aside (copy, then delete); returns the new object key."""
        target = self.rejected_name(name)
        source: dict[str, str] = {"Bucket": self.bucket, "Key": name}
        if version_id:
            source["VersionId"] = version_id
        self.s3.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource=source,
            MetadataDirective="REPLACE",
            Metadata={"rejected-reason": _metadata_text(reason, 900), "rejected-from": _metadata_text(name, 900)},
        )
        self.delete(name, version_id)
        return target


def _metadata_text(text: str, limit: int = 1024) -> str:
    """Printable ASCII, cut at `limit`: S3 keeps at most 2 KB of user metadata (names and values) an object."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:limit]
