"""Key schema of a table, the identity of a typed DynamoDB key, and what a table argument names.

Values are the low-level client's typed form ({"S": str}, {"N": str}, {"B": bytes}); nothing here turns
them into Python values that are written back. key_id() is only an identity used for deduplication
and lookups: two keys DynamoDB considers equal (e.g. {"N": "1"} and {"N": "1.0"}) get the same id.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Optional

# A typed attribute value in the low-level client's form: {"S": "a"}, {"N": "1"}, {"M": {...}}, ...
AttributeValue = dict[str, Any]
# An item, or a key map (the key attributes only), as the client sends and receives them.
Item = dict[str, AttributeValue]
Key = dict[str, AttributeValue]

# Wide enough that normalize() never rounds (DynamoDB numbers have at most 38 digits); the default
# context's 28 digits would make distinct 38-digit keys look equal.
EXACT_CONTEXT = Context(prec=1000)

KEY_TYPES = ("S", "N", "B")


# A table name's characters (DynamoDB's pattern; its minimum of 3 characters is left to DynamoDB, which
# refuses a shorter name at the first call) and a table ARN, whose name is the same.
_NAME = r"[a-zA-Z0-9_.-]{1,255}"
_TABLE_NAME = re.compile(r"\A%s\Z" % _NAME)
_TABLE_ARN = re.compile(r"\Aarn:(aws(?:-[a-z]+)*):dynamodb:([a-z]{2}(?:-[a-z]+)+-[0-9]+):([0-9]{12}):table/(%s)\Z" % _NAME)
NAME_FORM = "a table name (a-z, A-Z, 0-9, _ . -; at most 255 characters)"
TABLE_FORMS = NAME_FORM + " or a DynamoDB table ARN (arn:<partition>:dynamodb:<region>:<12-digit account>:table/<name>)"


@dataclass(frozen=True)
class TableRef:
    """A table as a job argument names it: by name alone (in the job's own account and region: `region` and
    `account` None), or by ARN, which DynamoDB requires for a table of another account (resource-based
    policies) and which also says the table's region. DynamoDB is called with the text as given."""

    name: str
    region: Optional[str] = None
    account: Optional[str] = None


def table_ref(text: str) -> TableRef:
    """Parses a table name or DynamoDB table ARN; ValueError (saying both forms) for anything else."""
    if _TABLE_NAME.match(text):
        return TableRef(text)
    arn = _TABLE_ARN.match(text)
    if arn is None:
        raise ValueError("%r is not %s" % (text, TABLE_FORMS))
    return TableRef(arn.group(4), arn.group(2), arn.group(3))


def table_name(text: str) -> str:
    """The name of the table `text` names (itself unless an ARN). Names derived from a table and messages
    use it; DynamoDB is still called with `text`."""
    return table_ref(text).name if text.startswith("arn:") else text


class KeySchemaError(ValueError):
    """The tables' key schemas are missing, unusable or different."""


@dataclass(frozen=True, init=False)
class KeySchema:
    """Key attribute names (hash first, then range if any) and their scalar types. Equal when both are
    equal; picklable (Spark ships it inside the segment tasks)."""

    names: tuple[str, ...]
    types: dict[str, str]

    def __init__(self, names: Iterable[str], types: Mapping[str, str]) -> None:
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "types", dict(types))

    def __repr__(self) -> str:
        return "KeySchema(%s)" % ", ".join("%s:%s" % (n, self.types[n]) for n in self.names)


def describe_key_schema(describe_table_response: Mapping[str, Any]) -> KeySchema:
    """KeySchema from a DescribeTable response (the caller makes the call, with retries)."""
    table = describe_table_response["Table"]
    types: dict[str, str] = {}
    for definition in table.get("AttributeDefinitions", []):
        types[definition["AttributeName"]] = definition["AttributeType"]
    hash_names = [k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH"]
    range_names = [k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "RANGE"]
    if len(hash_names) != 1 or len(range_names) > 1:
        raise KeySchemaError("table %s has an unexpected key schema %r" % (table.get("TableName"), table["KeySchema"]))
    names = hash_names + range_names
    for name in names:
        if types.get(name) not in KEY_TYPES:
            raise KeySchemaError("key attribute %s of table %s has no S/N/B type" % (name, table.get("TableName")))
    return KeySchema(names, dict((n, types[n]) for n in names))


def _canonical_number(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number: %r" % (text,))
    if not value.is_finite():
        raise ValueError("not a finite number: %r" % (text,))
    if value == 0:
        return "0"
    return str(value.normalize(EXACT_CONTEXT))


def canonical_value(type_name: str, value: Any) -> str:
    """The form of an S, N or B value that key_id uses: equal for two values DynamoDB considers equal."""
    if type_name == "S":
        return value
    if type_name == "N":
        return _canonical_number(value)
    if type_name == "B":
        return base64.b64encode(bytes(value)).decode("ascii")
    raise ValueError("key values must be S, N or B, not %s" % type_name)


def key_id(key: Mapping[str, AttributeValue]) -> str:
    """A string that identifies a typed key map (order-free, numbers normalised)."""
    parts: list[list[str]] = []
    for name in sorted(key):
        typed = key[name]
        if not isinstance(typed, dict) or len(typed) != 1:
            raise ValueError("key attribute %s is not a single typed value: %r" % (name, typed))
        type_name, value = next(iter(typed.items()))
        parts.append([name, type_name, canonical_value(type_name, value)])
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def extract_key(item: Mapping[str, AttributeValue], schema: KeySchema) -> Key:
    """The key map of an item (typed values shared, not copied)."""
    key: Key = {}
    for name in schema.names:
        if name not in item:
            raise ValueError("item has no key attribute %s" % name)
        key[name] = item[name]
    return key


def comparable(value: Any) -> Any:
    """A form of a typed value in which set element order does not matter."""
    if isinstance(value, dict):
        if len(value) == 1:
            type_name, inner = next(iter(value.items()))
            if type_name in ("SS", "NS", "BS") and isinstance(inner, list):
                return {type_name: sorted(inner)}
            if type_name == "M" and isinstance(inner, dict):
                return {"M": dict((k, comparable(v)) for k, v in inner.items())}
            if type_name == "L" and isinstance(inner, list):
                return {"L": [comparable(v) for v in inner]}
        return value
    return value


def items_equal(a: Optional[Mapping[str, AttributeValue]], b: Optional[Mapping[str, AttributeValue]]) -> bool:
    """True when two typed items (or None for absent) hold the same data."""
    if a is None or b is None:
        return a is None and b is None
    if a == b:  # the usual answer, found by dict comparison alone; sets in another order need the rest
        return True
    if a.keys() != b.keys():
        return False
    for name in a:
        if comparable(a[name]) != comparable(b[name]):
            return False
    return True
