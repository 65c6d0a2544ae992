"""verify's classification of one key: what the backup holds against what the source holds.

    classify(source_item, backup_item) -> one of CLASSES

- match: the backup holds transform(source item) (typed values compared, set order ignored), or both lack it;
- missing: the source has the item, the backup does not;
- different: both have it and the backup is not transform(source item) (a retained item whose key is back
  in the source is different too: the live state must replace it);
- retained: only the backup has it, marked with the retained attribute (retained.py), under delete policy
  "retain": a deleted item's last state, kept on purpose, not drift;
- extra: only the backup has it, unmarked (under "retain"), or marked or not under "mirror";
- in_flight (decided by the re-check, not here): a mismatch whose source item changed between the scan
  and the consistent re-read; the pipeline is still delivering that change.

DRIFT are the classes that count as drift (the alarm's metric). Tally accumulates counts and a bounded
sample of keys per class, and merges the tallies of the segments on the driver.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from . import table_keys
from .table_keys import AttributeValue, Item, Key
from .transform import Transform

MATCH = "match"
MISSING = "missing"
EXTRA = "extra"
DIFFERENT = "different"
RETAINED = "retained"
IN_FLIGHT = "in_flight"
CLASSES = (MISSING, EXTRA, DIFFERENT, RETAINED, IN_FLIGHT)
DRIFT = (MISSING, EXTRA, DIFFERENT)
DEFAULT_SAMPLE_KEYS = 20


@dataclass(frozen=True)
class Classifier:
    transform: Transform
    delete_policy: str
    retained_attribute: str

    def classify(self, source_item: Optional[Item], backup_item: Optional[Item]) -> str:
        if source_item is None:
            if backup_item is None:
                return MATCH
            if self.delete_policy == "retain" and self.retained_attribute in backup_item:
                return RETAINED
            return EXTRA
        if backup_item is None:
            return MISSING
        return MATCH if table_keys.items_equal(self.transform.apply(source_item), backup_item) else DIFFERENT


def fingerprint(item: Optional[Item]) -> Optional[str]:
    """A digest of a typed item that two equal items (table_keys.items_equal) share; None for absent."""
    if item is None:
        return None
    canonical = dict((name, table_keys.comparable(value)) for name, value in item.items())
    text = json.dumps(canonical, sort_keys=True, default=lambda raw: {"bytes": base64.b64encode(bytes(raw)).decode("ascii")})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_json(key: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """A typed key as DynamoDB JSON the AWS CLI accepts (`--key`): binary values base64-encoded."""
    out: dict[str, AttributeValue] = {}
    for name, typed in sorted(key.items()):
        (type_name, value), = typed.items()
        out[name] = {type_name: base64.b64encode(bytes(value)).decode("ascii") if type_name == "B" else value}
    return out


class Tally(object):
    """Counts per class (plus plain counters) and up to `sample_keys` keys per class; restore keeps its
    own classes in one too."""

    def __init__(self, sample_keys: int = DEFAULT_SAMPLE_KEYS, classes: Iterable[str] = CLASSES,
                 counters: Iterable[str] = (MATCH, "rechecked", "settled", "deferred")) -> None:
        classes = tuple(classes)
        self.sample_keys = int(sample_keys)
        self.counts: dict[str, int] = dict((name, 0) for name in classes + tuple(counters))
        self.samples: dict[str, list[dict[str, AttributeValue]]] = dict((name, []) for name in classes)

    def count(self, kind: str, key: Optional[Key] = None, number: int = 1) -> None:
        self.counts[kind] += number
        if key is not None and kind in self.samples and len(self.samples[kind]) < self.sample_keys:
            self.samples[kind].append(key_json(key))

    @property
    def drift(self) -> int:
        return sum(self.counts.get(name, 0) for name in DRIFT)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "samples": dict((k, list(v)) for k, v in self.samples.items())}

    def merge(self, data: Mapping[str, Any]) -> Tally:
        for name, value in data["counts"].items():
            self.counts[name] = self.counts.get(name, 0) + int(value)
        for name, keys in data["samples"].items():
            room = self.sample_keys - len(self.samples[name])
            self.samples[name].extend(keys[:max(0, room)])
        return self
