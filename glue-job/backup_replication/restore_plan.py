"""What restore writes for one backup item: the inverse of the replication transform, and whether a
retained (deleted-in-source) item is restored at all.

Inverse transform: renames are reversed (the backup's "new" name goes back to the "old" one; a swap stays
a swap). Dropped attributes are not in the backup and cannot come back: lost_attributes() names them (and
the renames whose target already existed in a source item, whose value the rename replaced), and restore
logs it before it copies anything.

Retained items (the backup's last state of an item deleted from the source, marked with the retained
attribute) are restored only with include_retained, optionally only those deleted at or after
deleted_after and before deleted_before (the marker's deletedAt, ISO-8601 UTC, compared as a time);
restored, they lose the marker (a live item never carries it). An item without deletedAt is not selected
by a time window: its time is unknown.
"""

from __future__ import annotations

from typing import Optional

from . import retained
from . import transform as transform_module
from .table_keys import AttributeValue, Item
from .transform import Transform

RESTORE = "restore"
RETAINED_SKIPPED = "retained_skipped"
EXPIRED = "expired"  # Time to Live deleted it: not brought back where expired items must stay gone


def inverse(transform: Transform) -> Transform:
    return transform_module.Transform(rename=dict((new, old) for old, new in transform.rename.items()))


def lost_attributes(transform: Transform) -> list[str]:
    """Human-readable notes on what the backup does not hold (empty when the transform loses nothing)."""
    notes = []
    if transform.drop:
        notes.append("dropped by the transform, not in the backup, not restored: %s" % ", ".join(sorted(transform.drop)))
    for old, new in sorted(transform.rename.items()):
        notes.append("renamed %s -> %s, restored as %s (a source item that had both lost its own %s)" % (old, new, old, new))
    return notes


class RestorePlan:
    def __init__(self, transform: Transform, retained_attribute: str, include_retained: bool = False,
                 deleted_after: Optional[str] = None, deleted_before: Optional[str] = None,
                 include_expired: bool = True) -> None:
        self.inverse = inverse(transform)
        self.attribute = retained_attribute
        self.include_retained = include_retained
        self.deleted_after = retained.epoch_seconds(deleted_after) if deleted_after else None
        self.deleted_before = retained.epoch_seconds(deleted_before) if deleted_before else None
        self.include_expired = include_expired

    def _selected(self, marker: Optional[AttributeValue]) -> bool:
        if not self.include_retained:
            return False
        if self.deleted_after is None and self.deleted_before is None:
            return True
        text = ((marker or {}).get("M") or {}).get(retained.DELETED_AT, {}).get("S")
        when = retained.epoch_seconds(text) if text else None
        return (when is not None and (self.deleted_after is None or when >= self.deleted_after)
                and (self.deleted_before is None or when < self.deleted_before))

    def item(self, backup_item: Item) -> tuple[str, Optional[Item], Optional[str]]:
        """(RESTORE, the item to write, the marker's version or None for a live item), or
        (RETAINED_SKIPPED or EXPIRED, None, None)."""
        version = None
        if self.attribute in backup_item:
            if not self._selected(backup_item[self.attribute]):
                return RETAINED_SKIPPED, None, None
            if not self.include_expired and retained.expired(backup_item[self.attribute]):
                return EXPIRED, None, None
            version = retained.stored_version(backup_item, self.attribute)
            backup_item = dict((k, v) for k, v in backup_item.items() if k != self.attribute)
        return RESTORE, self.inverse.apply(backup_item), version
