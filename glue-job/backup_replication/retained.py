"""Versions of retained items (delete policy "retain"): what makes stream order, not write order, decide.

An item deleted from the source is kept in the backup as its last state (the REMOVE record's OldImage,
transformed) plus one attribute, named by --retained_attribute (default "_deleted_from_source"):

    {"M": {"sequenceNumber": {"S": "<the REMOVE record's sequence number, 40 digits, zero-padded>"},
           "deletedAt": {"S": "<ApproximateCreationDateTime of the record, ISO-8601 UTC>"}}}

plus "timeToLive": {"BOOL": true} when the table's Time to Live deleted the item (the stream record's
userIdentity says so): such an item is never restored into the source.

deletedAt is left out when the manifest does not carry the record's time (a manifest written before the
field existed, or a record without ApproximateCreationDateTime): unknown is absent, never a made-up time.

Stream sequence numbers have 21 to 40 digits (too many for a DynamoDB number, 38 digits) and increase
per item, across shard splits too. Zero-padded to a fixed width, they compare as DynamoDB compares
strings (UTF-8 bytes) exactly as they compare as numbers, so a condition expression can order them.
Live items (present in the source) never carry the attribute: they stay byte for byte as in the source.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Mapping, Optional, Union, overload

from . import ddb_batch
from . import table_keys
from .table_keys import AttributeValue, KeySchema

DEFAULT_ATTRIBUTE = "_deleted_from_source"
SEQUENCE_DIGITS = 40
SEQUENCE = "sequenceNumber"
DELETED_AT = "deletedAt"
TIME_TO_LIVE = "timeToLive"
# ApproximateCreationDateTime is epoch seconds; anything from 1970 to the year 9999 is a usable time.
_MAX_EPOCH_SECONDS = Decimal(253402300800)


class SourceItemHasRetainedAttribute(ddb_batch.ReplicationError):
    """A source item carries the attribute that marks retained items: written as it is, the backup would
    take it for a deleted item's last state (and conditional writes would compare its "version")."""


def check_attribute_name(name: object, setting: str = "--retained_attribute") -> str:
    """The name if usable as the retained attribute, else ValueError naming the setting."""
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise ValueError("%s must be 1 to 255 characters (a DynamoDB attribute name), got %r" % (setting, name))
    return name


def version(sequence: Union[int, str]) -> str:
    """The comparable version string of a REMOVE record's sequence number (int or digit string)."""
    text = "%d" % int(sequence)
    if int(sequence) < 0 or len(text) > SEQUENCE_DIGITS:
        raise ValueError("a stream sequence number has at most %d digits, got %r" % (SEQUENCE_DIGITS, sequence))
    return text.rjust(SEQUENCE_DIGITS, "0")


@overload
def deleted_at(epoch_seconds: None) -> None: ...
@overload
def deleted_at(epoch_seconds: Union[int, float, Decimal]) -> str: ...
def deleted_at(epoch_seconds: Union[int, float, Decimal, None]) -> Optional[str]:
    """ISO-8601 UTC text (millisecond precision, shown only when not whole) of epoch seconds, or None."""
    if epoch_seconds is None:
        return None
    value = Decimal(str(epoch_seconds))
    if not value.is_finite() or not 0 <= value < _MAX_EPOCH_SECONDS:
        raise ValueError("not a time in epoch seconds: %r" % (epoch_seconds,))
    millis = int((value * 1000).to_integral_value(rounding=ROUND_FLOOR))
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=millis)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if millis % 1000:
        text += ".%03d" % (millis % 1000)
    return text + "Z"


def epoch_seconds(text: str) -> Optional[float]:
    """Epoch seconds of a deletedAt text (ISO-8601 UTC, with or without milliseconds), or None. Times are
    compared as numbers, never as text: "...:00.500Z" sorts before "...:00Z"."""
    for layout in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            moment = datetime.datetime.strptime(text, layout)
        except (TypeError, ValueError):
            continue
        delta = moment - datetime.datetime(1970, 1, 1)
        return delta.days * 86400 + delta.seconds + delta.microseconds / 1e6
    return None


def marker(sequence: Union[int, str], deleted_at_text: Optional[str] = None, expired: bool = False) -> AttributeValue:
    """The attribute value that marks a retained item, version `sequence`; `expired`: Time to Live
    deleted it (member timeToLive, present only then)."""
    members: dict[str, AttributeValue] = {SEQUENCE: {"S": version(sequence)}}
    if deleted_at_text:
        members[DELETED_AT] = {"S": deleted_at_text}
    if expired:
        members[TIME_TO_LIVE] = {"BOOL": True}
    return {"M": members}


def expired(item_marker: Optional[AttributeValue]) -> bool:
    """Whether a marker says Time to Live deleted the item."""
    return ((item_marker or {}).get("M") or {}).get(TIME_TO_LIVE) == {"BOOL": True}


def check_source_item(item: Optional[Mapping[str, AttributeValue]], attribute: str, schema: KeySchema) -> None:
    """Raise SourceItemHasRetainedAttribute when a source item (or a deleted item's last image) carries
    the retained attribute. The one place that decides what happens to such an item (a halt today)."""
    if item is not None and attribute in item:
        raise SourceItemHasRetainedAttribute(
            "source item %s carries the attribute %r, which the backup uses to mark retained (deleted) items "
            "(setting retainedAttribute / --retained_attribute): it is not written; choose another "
            "retainedAttribute or remove the attribute from the source item"
            % (table_keys.key_id(table_keys.extract_key(item, schema)), attribute))


def stored_version(item: Optional[Mapping[str, AttributeValue]], attribute: str) -> Optional[str]:
    """The version string of a backup item read with projection of the attribute, or None when live/absent."""
    if not item or attribute not in item:
        return None
    members = item[attribute].get("M") or {}
    value = members.get(SEQUENCE) or {}
    return value.get("S")
