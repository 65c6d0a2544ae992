"""The change manifest format: what a manifest holds, its validation, its encoding, and its name.
Where manifests live and every S3 call on them is manifest_store.py.

A manifest is a JSON object written by the change-trigger Lambda at
s3://<bucket>/<manifest_prefix><order>-<sha256-hex>.json, where <order> is
<YYYYMMDDTHHMMSSZ>-<40-digit sequence number> of the batch's first record (its
ApproximateCreationDateTime, UTC, and SequenceNumber): S3 lists keys in UTF-8 binary order, so the
listing is in time order and a pass reads only the first page(s) it needs. The hash of the body keeps
the name of a retried batch the same. Names of the older form, <sha256-hex>.json, are still read (in
name order, so after or before the others: order is fairness, never correctness, see retained.py).
apply-changes writes manifests of the same format too: the keys a run left unfinished (a "remainder",
named with the order of the oldest manifest it replaces, so it keeps its place in line) and the keys it
set aside (under the quarantine prefix, see apply.py):

    {"version": 1,
     "keys": [{"id": {"S": "a"}}, {"pk": {"N": "1"}, "sk": {"S": "x"}}],
     "eventNames": ["INSERT", "MODIFY"], "sequenceNumbers": {"first": "111", "last": "222"},
     "records": 3, "eventSourceArn": "arn:aws:dynamodb:...:table/api-pagos/stream/..."}

Optional (version stays 1; a manifest without it is valid), written only under DELETE_POLICY=retain:

     "removed": [{"key": {"id": {"S": "a"}}, "sequenceNumber": "333", "oldImage": {"id": {"S": "a"}, ...},
                  "approximateCreationDateTime": 1764620970}]

one entry per key whose last selected record in the batch is a REMOVE carrying an OldImage (the item's
last state before the delete); every such key is also in "keys". approximateCreationDateTime (optional,
the record's dynamodb.ApproximateCreationDateTime, epoch seconds) becomes the retained item's deletedAt;
"timeToLive": true (optional) says the table's Time to Live deleted the item, and the retained item says
so too (a restore into the source never brings an expired item back).
The entry's sequence number is the retained item's version (retained.py), so an entry is applied right
whatever manifest it comes in and whenever: one rebuilt later from the stream is handled the same way.

"version", "keys" and "removed" drive the job; the rest is audit. Values are typed DynamoDB JSON, binary
as base64 (as in DynamoDB's JSON wire format); the parser returns them in the boto3 client's form (B and
BS elements as bytes).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import retained
from . import table_keys
from .table_keys import AttributeValue, Item, Key, KeySchema

MANIFEST_VERSION = 1
_NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_DIGITS = re.compile(r"^[0-9]+$")
_MAX_KEY_BYTES = {0: 2048, 1: 1024}  # partition key, sort key
_MAX_DEPTH = 32  # DynamoDB's nesting limit for maps and lists
_REMOVED_MEMBERS = frozenset(["key", "sequenceNumber", "oldImage"])
_REMOVED_OPTIONAL = frozenset(["approximateCreationDateTime", "timeToLive"])
_MAX_SEQUENCE_DIGITS = retained.SEQUENCE_DIGITS
_SET_ELEMENT = {"SS": "S", "NS": "N", "BS": "B"}
_ORDERED_NAME = re.compile(r"^(\d{8}T\d{6}Z-\d{%d})-[0-9a-f]{64}\.json$" % retained.SEQUENCE_DIGITS)


class ManifestError(ValueError):
    """The manifest is malformed; the reason is the message."""


def _decode_value(name: str, typed: Any, where: str) -> AttributeValue:
    if not isinstance(typed, dict) or len(typed) != 1:
        raise ManifestError("%s: attribute %r must be exactly one of {\"S\": str}, {\"N\": str}, {\"B\": base64 str}, "
                            "got %r" % (where, name, typed))
    type_name, value = next(iter(typed.items()))
    if type_name not in ("S", "N", "B") or not isinstance(value, str):
        raise ManifestError("%s: attribute %r must be exactly one of {\"S\": str}, {\"N\": str}, {\"B\": base64 str}, "
                            "got %r" % (where, name, typed))
    if type_name == "N":
        return {"N": _check_number(value, name, where)}
    if type_name == "B":
        return {"B": _decode_base64(value, name, where)}
    return {"S": value}


def _check_number(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str) or not _NUMBER.match(value):
        raise ManifestError("%s: attribute %r is not a number: %r" % (where, name, value))
    number = Decimal(value)
    if number != 0:
        digits = len(number.normalize(table_keys.EXACT_CONTEXT).as_tuple().digits)
        if digits > 38 or not -130 <= number.adjusted() <= 125:
            raise ManifestError("%s: attribute %r is outside DynamoDB's number range or precision: %r"
                                % (where, name, value))
    return value


def _decode_base64(value: Any, name: str, where: str) -> bytes:
    if not isinstance(value, str):
        raise ManifestError("%s: attribute %r must be a base64 string, got %r" % (where, name, value))
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ManifestError("%s: attribute %r is not valid base64: %r" % (where, name, value[:80]))


def _decode_attribute(typed: Any, name: str, where: str, depth: int = 1) -> AttributeValue:
    """Any typed attribute value of an item (S N B SS NS BS M L NULL BOOL), in the client's form."""
    if not isinstance(typed, dict) or len(typed) != 1:
        raise ManifestError("%s: attribute %r must be exactly one typed DynamoDB value, got %r"
                            % (where, name, typed))
    type_name, value = next(iter(typed.items()))
    if type_name == "S":
        if not isinstance(value, str):
            raise ManifestError("%s: attribute %r: S must be a string, got %r" % (where, name, value))
        return {"S": value}
    if type_name == "N":
        return {"N": _check_number(value, name, where)}
    if type_name == "B":
        return {"B": _decode_base64(value, name, where)}
    if type_name == "BOOL":
        if type(value) is not bool:
            raise ManifestError("%s: attribute %r: BOOL must be true or false, got %r" % (where, name, value))
        return {"BOOL": value}
    if type_name == "NULL":
        if value is not True:
            raise ManifestError("%s: attribute %r: NULL must be true, got %r" % (where, name, value))
        return {"NULL": True}
    if type_name in _SET_ELEMENT:
        if not isinstance(value, list) or not value:
            raise ManifestError("%s: attribute %r: %s must be a non-empty list, got %r" % (where, name, type_name, value))
        element = _SET_ELEMENT[type_name]
        decoded = [_decode_attribute({element: v}, name, where, depth)[element] for v in value]
        identities = set(table_keys.canonical_value(element, v) for v in decoded)
        if len(identities) != len(decoded):
            raise ManifestError("%s: attribute %r: %s has duplicate elements" % (where, name, type_name))
        return {type_name: decoded}
    if type_name in ("M", "L"):
        if depth > _MAX_DEPTH:
            raise ManifestError("%s: attribute %r is nested deeper than DynamoDB allows (%d)" % (where, name, _MAX_DEPTH))
        if type_name == "M":
            if not isinstance(value, dict):
                raise ManifestError("%s: attribute %r: M must be an object, got %r" % (where, name, value))
            return {"M": dict((k, _decode_attribute(v, name, where, depth + 1)) for k, v in value.items())}
        if not isinstance(value, list):
            raise ManifestError("%s: attribute %r: L must be a list, got %r" % (where, name, value))
        return {"L": [_decode_attribute(v, name, where, depth + 1) for v in value]}
    raise ManifestError("%s: attribute %r has unknown type %r" % (where, name, type_name))


def _check_against_schema(key: Key, schema: KeySchema, where: str) -> None:
    if set(key) != set(schema.names):
        raise ManifestError("%s: key attributes %s do not match the table key (%s)"
                            % (where, ", ".join(sorted(key)), ", ".join(schema.names)))
    for position, name in enumerate(schema.names):
        type_name, value = next(iter(key[name].items()))
        if type_name != schema.types[name]:
            raise ManifestError("%s: key attribute %r has type %s, the table declares %s"
                                % (where, name, type_name, schema.types[name]))
        size = len(value) if type_name == "B" else len(value.encode("utf-8"))
        if type_name in ("S", "B") and size == 0:
            raise ManifestError("%s: key attribute %r is empty" % (where, name))
        if size > _MAX_KEY_BYTES[position]:
            raise ManifestError("%s: key attribute %r is longer than DynamoDB allows (%d bytes)" % (where, name, size))


@dataclass(frozen=True)
class RemovedEntry:
    """One "removed" entry: the key, its REMOVE record's sequence number (int), the item's last state,
    and the record's time as ISO-8601 UTC text (None when the manifest does not carry it)."""

    key: Key
    sequence: int
    old_image: Item
    deleted_at: Optional[str] = None
    # The approximateCreationDateTime as given (epoch seconds), carried on as it is.
    created: Union[int, float, Decimal, None] = None
    expired: bool = False  # Time to Live deleted it

    def __repr__(self) -> str:
        return "RemovedEntry(%r, %d)" % (table_keys.key_id(self.key), self.sequence)


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: `keys` (typed key maps), `removed` (RemovedEntry list, [] when absent) and
    `latest_change` (the newest record's ApproximateCreationDateTime, epoch seconds, or None)."""

    keys: list[Key]
    removed: list[RemovedEntry]
    latest_change: Optional[float] = None


def _latest_change(document: Mapping[str, Any]) -> Optional[float]:
    """approximateCreationDateTime.latest when it is a usable time (it is audit, for the replication
    latency metric: a missing or odd value means no latency for that manifest, never a rejection)."""
    span = document.get("approximateCreationDateTime")
    value = span.get("latest") if isinstance(span, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or not 0 <= value < 253402300800:
        return None
    return float(value)


def _decode_key(raw_key: Any, schema: Optional[KeySchema], where: str) -> Key:
    if not isinstance(raw_key, dict) or not raw_key:
        raise ManifestError("%s must be a non-empty object of typed key attributes, got %r" % (where, raw_key))
    key: Key = {}
    for name, typed in raw_key.items():
        key[name] = _decode_value(name, typed, where)
    if schema is not None:
        _check_against_schema(key, schema, where)
    return key


def _same_key_value(kid: str, key: Key, image: Item) -> bool:
    """True when `image` holds every attribute of `key` (whose key_id is `kid`) with an equal value."""
    if not all(name in image for name in key):
        return False
    try:
        return table_keys.key_id(dict((name, image[name]) for name in key)) == kid
    except ValueError:  # an image attribute of another type (e.g. a set) where the key has S/N/B
        return False


def _decode_time(value: Any, where: str) -> Optional[str]:
    """ISO-8601 text of an approximateCreationDateTime (epoch seconds, as in the stream record), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ManifestError("%s.approximateCreationDateTime must be a number (epoch seconds), got %r" % (where, value))
    try:
        return retained.deleted_at(value)
    except ValueError:
        raise ManifestError("%s.approximateCreationDateTime is not a time in epoch seconds: %r" % (where, value))


def _decode_removed(raw_removed: Any, key_ids: set[str], schema: Optional[KeySchema]) -> list[RemovedEntry]:
    if not isinstance(raw_removed, list):
        raise ManifestError("removed must be a list, got %r" % (type(raw_removed).__name__,))
    entries: list[RemovedEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_removed):
        where = "removed[%d]" % index
        if (not isinstance(raw, dict) or not _REMOVED_MEMBERS <= set(raw)
                or not set(raw) <= _REMOVED_MEMBERS | _REMOVED_OPTIONAL):
            raise ManifestError("%s must be an object with exactly key, sequenceNumber and oldImage, and optionally "
                                "approximateCreationDateTime, got %r"
                                % (where, sorted(raw) if isinstance(raw, dict) else raw))
        key = _decode_key(raw["key"], schema, where + ".key")
        sequence = raw["sequenceNumber"]
        if not isinstance(sequence, str) or not _DIGITS.match(sequence) or len(sequence) > _MAX_SEQUENCE_DIGITS:
            raise ManifestError("%s.sequenceNumber must be a string of at most %d digits, got %r"
                                % (where, _MAX_SEQUENCE_DIGITS, sequence))
        deleted_at = _decode_time(raw.get("approximateCreationDateTime"), where)
        if raw.get("timeToLive", True) is not True:
            raise ManifestError("%s.timeToLive must be true when present, got %r" % (where, raw["timeToLive"]))
        raw_image = raw["oldImage"]
        if not isinstance(raw_image, dict) or not raw_image:
            raise ManifestError("%s.oldImage must be a non-empty object of typed attributes" % where)
        image: Item = {}
        for name, typed in raw_image.items():
            if not isinstance(name, str) or not name:
                raise ManifestError("%s.oldImage has an empty attribute name" % where)
            image[name] = _decode_attribute(typed, name, where + ".oldImage")
        kid = table_keys.key_id(key)
        if not _same_key_value(kid, key, image):
            raise ManifestError("%s.oldImage does not hold the entry's key attributes with the same values" % where)
        if kid not in key_ids:
            raise ManifestError("%s.key is not one of the manifest's keys" % where)
        if kid in seen:
            raise ManifestError("%s.key appears in more than one removed entry" % where)
        seen.add(kid)
        entries.append(RemovedEntry(key, int(sequence), image, deleted_at, raw.get("approximateCreationDateTime"),
                                    "timeToLive" in raw))
    return entries


def parse_manifest(body: Union[bytes, str], schema: Optional[KeySchema] = None) -> list[Key]:
    """The typed keys of a manifest (bytes or str body); raises ManifestError when it is malformed."""
    return parse_manifest_document(body, schema).keys


def parse_manifest_document(body: Union[bytes, str], schema: Optional[KeySchema] = None) -> Manifest:
    """The Manifest (keys and removed entries) of a body; raises ManifestError when it is malformed.

    With a KeySchema, each key must also name exactly the table's key attributes with their types, so
    that a bad key cannot fail a whole BatchGetItem of good ones.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ManifestError("not UTF-8 text: %s" % error)
    try:
        document = json.loads(body, parse_float=Decimal)  # exact fractional seconds
    except ValueError as error:
        raise ManifestError("not JSON: %s" % error)
    except RecursionError:
        raise ManifestError("not usable JSON: nested too deeply")
    if not isinstance(document, dict):
        raise ManifestError("not a JSON object")
    version = document.get("version")
    if type(version) is not int or version != MANIFEST_VERSION:
        raise ManifestError("version must be %d, got %r" % (MANIFEST_VERSION, version))
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ManifestError("keys must be a non-empty list")
    keys = [_decode_key(raw_key, schema, "keys[%d]" % index) for index, raw_key in enumerate(raw_keys)]
    removed: list[RemovedEntry] = []
    if "removed" in document:
        removed = _decode_removed(document["removed"], set(table_keys.key_id(k) for k in keys), schema)
    return Manifest(keys, removed, _latest_change(document))


def _encode_value(typed: AttributeValue) -> AttributeValue:
    """A typed value in the client's form -> DynamoDB JSON (binary as base64)."""
    type_name, value = next(iter(typed.items()))
    if type_name == "B":
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if type_name == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in value]}
    if type_name == "M":
        return {"M": dict((k, _encode_value(v)) for k, v in value.items())}
    if type_name == "L":
        return {"L": [_encode_value(v) for v in value]}
    return {type_name: value}


def _encode_key(key: Mapping[str, AttributeValue]) -> Item:
    return dict((name, _encode_value(typed)) for name, typed in key.items())


def _encode_removed(entry: Sequence[Any]) -> dict[str, Any]:
    key, sequence, image = entry[:3]
    encoded: dict[str, Any] = {"key": _encode_key(key), "sequenceNumber": str(sequence), "oldImage": _encode_key(image)}
    if len(entry) > 3 and entry[3] is not None:
        encoded["approximateCreationDateTime"] = entry[3]
    if len(entry) > 4 and entry[4]:
        encoded["timeToLive"] = True
    return encoded


def build_manifest(keys: Iterable[Key], event_names: Iterable[str] = ("MODIFY",), first_sequence: Union[int, str] = "0",
                   last_sequence: Union[int, str] = "0", records: Optional[int] = None,
                   event_source_arn: str = "arn:aws:dynamodb:local:000000000000:table/api-pagos/stream/local",
                   removed: Optional[Sequence[Sequence[Any]]] = None, order: Optional[str] = None,
                   changed_between: Optional[Sequence[Any]] = None) -> tuple[str, bytes]:
    """(file name, body bytes) of a manifest in the Lambda's format: keys deduplicated, name =
    <order>-<sha256 of body>.json (with `order`, see order_from) or <sha256 of body>.json (the older form).

    `changed_between`: (earliest, latest) ApproximateCreationDateTime of the batch's records.
    `removed`: (key, sequence number, old image[, approximateCreationDateTime[, Time to Live]]) tuples in the client's
    form; their keys are added to "keys" and the member is written only when given. Used by the tests and the benchmarks; the production
    writer is the Lambda (functions/).
    """
    keys = list(keys)
    unique: list[Item] = []
    seen: set[str] = set()
    for key in keys + [entry[0] for entry in removed or ()]:
        kid = table_keys.key_id(key)
        if kid not in seen:
            seen.add(kid)
            unique.append(_encode_key(key))
    document: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "keys": unique,
        "eventNames": sorted(set(event_names)),
        "sequenceNumbers": {"first": str(first_sequence), "last": str(last_sequence)},
        "records": len(keys) if records is None else records,
        "eventSourceArn": event_source_arn,
    }
    if changed_between is not None:
        document["approximateCreationDateTime"] = {"earliest": changed_between[0], "latest": changed_between[1]}
    if removed is not None:
        document["removed"] = sorted((_encode_removed(entry) for entry in removed),
                                     key=lambda entry: json.dumps(entry["key"], sort_keys=True))
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if order is not None:
        return ordered_name("", order, body), body
    return hashlib.sha256(body).hexdigest() + ".json", body


def order_of(name: str, prefix: str, last_modified: Optional[datetime.datetime] = None) -> Optional[str]:
    """The <time>-<sequence> part of a manifest name; for a name of the older form, one made from its
    LastModified (sequence 0), or None without it."""
    relative = name[len(prefix):] if name.startswith(prefix) else name
    match = _ORDERED_NAME.match(relative)
    if match:
        return match.group(1)
    if last_modified is None:
        return None
    return last_modified.strftime("%Y%m%dT%H%M%SZ") + "-" + "0" * retained.SEQUENCE_DIGITS


def order_time(order: str) -> Optional[float]:
    """Epoch seconds of an order's time part (the batch's first record), or None."""
    try:
        moment = datetime.datetime.strptime(order[:16], "%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return None
    delta = moment - datetime.datetime(1970, 1, 1)
    return float(delta.days * 86400 + delta.seconds)


def order_from(epoch_seconds: float, sequence: Union[int, str]) -> str:
    """The <time>-<sequence> name part for a record time (epoch seconds) and sequence number."""
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(epoch_seconds))
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + retained.version(sequence)


def ordered_name(prefix: str, order: str, body: bytes) -> str:
    """<prefix><order>-<sha256 of body>.json."""
    return "%s%s-%s.json" % (prefix, order, hashlib.sha256(body).hexdigest())


def encode_document(keys: Iterable[Key], removed_entries: Sequence[RemovedEntry] = (),
                    extra: Optional[Mapping[str, Any]] = None) -> bytes:
    """Body bytes of a manifest holding `keys` (typed, client form) and `removed_entries`
    (RemovedEntry, each key also in `keys`), plus audit members `extra`; canonical JSON."""
    document: dict[str, Any] = {"version": MANIFEST_VERSION, "keys": [_encode_key(k) for k in keys]}
    if removed_entries:
        document["removed"] = [_encode_removed((e.key, e.sequence, e.old_image, e.created, e.expired))
                               for e in removed_entries]
    document.update(extra or {})
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=_json_number).encode("utf-8")


def _json_number(value: Any) -> Union[int, float]:
    """Decimal (a time read with parse_float=Decimal) as a JSON number."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError("not JSON serializable: %r" % (value,))
