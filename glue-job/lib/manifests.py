"""Change manifests in S3: format, validation, listing, deletion, rejection.

A manifest is a JSON object written by the change-trigger Lambda at
s3://<bucket>/<manifest_prefix><sha256-hex>.json:

    {"version": 1,
     "keys": [{"id": {"S": "a"}}, {"pk": {"N": "1"}, "sk": {"S": "x"}}],
     "eventNames": ["INSERT", "MODIFY"], "sequenceNumbers": {"first": "111", "last": "222"},
     "records": 3, "eventSourceArn": "arn:aws:dynamodb:...:table/api-pagos/stream/..."}

Only "version" and "keys" drive the job; the rest is audit. Key values are typed DynamoDB JSON, binary
as base64 (as in DynamoDB's JSON wire format); parse_manifest returns them in the boto3 client's form
(B as bytes).
"""

import base64
import binascii
import hashlib
import json
import re
from decimal import Decimal

import table_keys

MANIFEST_VERSION = 1
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_MAX_KEY_BYTES = {0: 2048, 1: 1024}  # partition key, sort key


class ManifestError(ValueError):
    """The manifest is malformed; the reason is the message."""


def _decode_value(name, typed, where):
    if not isinstance(typed, dict) or len(typed) != 1:
        raise ManifestError("%s: attribute %r must be exactly one of {\"S\": str}, {\"N\": str}, {\"B\": base64 str}, "
                            "got %r" % (where, name, typed))
    type_name, value = next(iter(typed.items()))
    if type_name not in ("S", "N", "B") or not isinstance(value, str):
        raise ManifestError("%s: attribute %r must be exactly one of {\"S\": str}, {\"N\": str}, {\"B\": base64 str}, "
                            "got %r" % (where, name, typed))
    if type_name == "N":
        if not _NUMBER.match(value):
            raise ManifestError("%s: attribute %r is not a number: %r" % (where, name, value))
        number = Decimal(value)
        if number != 0:
            digits = len(number.normalize(table_keys.EXACT_CONTEXT).as_tuple().digits)
            if digits > 38 or not -130 <= number.adjusted() <= 125:
                raise ManifestError("%s: attribute %r is outside DynamoDB's number range or precision: %r"
                                    % (where, name, value))
        return {"N": value}
    if type_name == "B":
        try:
            return {"B": base64.b64decode(value.encode("ascii"), validate=True)}
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ManifestError("%s: attribute %r is not valid base64: %r" % (where, name, value[:80]))
    return {"S": value}


def _check_against_schema(key, schema, where):
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


def parse_manifest(body, schema=None):
    """The typed keys of a manifest (bytes or str body); raises ManifestError when it is malformed.

    With a KeySchema, each key must also name exactly the table's key attributes with their types, so
    that a bad key cannot fail a whole BatchGetItem of good ones.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ManifestError("not UTF-8 text: %s" % error)
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ManifestError("not JSON: %s" % error)
    if not isinstance(document, dict):
        raise ManifestError("not a JSON object")
    version = document.get("version")
    if type(version) is not int or version != MANIFEST_VERSION:
        raise ManifestError("version must be %d, got %r" % (MANIFEST_VERSION, version))
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ManifestError("keys must be a non-empty list")
    keys = []
    for index, raw_key in enumerate(raw_keys):
        where = "keys[%d]" % index
        if not isinstance(raw_key, dict) or not raw_key:
            raise ManifestError("%s must be a non-empty object of typed key attributes, got %r" % (where, raw_key))
        key = {}
        for name, typed in raw_key.items():
            key[name] = _decode_value(name, typed, where)
        if schema is not None:
            _check_against_schema(key, schema, where)
        keys.append(key)
    return keys


def _encode_key(key):
    encoded = {}
    for name, typed in key.items():
        type_name, value = next(iter(typed.items()))
        if type_name == "B":
            value = base64.b64encode(bytes(value)).decode("ascii")
        encoded[name] = {type_name: value}
    return encoded


def build_manifest(keys, event_names=("MODIFY",), first_sequence="0", last_sequence="0", records=None,
                   event_source_arn="arn:aws:dynamodb:local:000000000000:table/api-pagos/stream/local"):
    """(file name, body bytes) of a manifest in the Lambda's format: keys deduplicated, name = sha256 of body.

    Used by the tests and bench.py; the production writer is the Lambda (functions/).
    """
    unique = []
    seen = set()
    for key in keys:
        kid = table_keys.key_id(key)
        if kid not in seen:
            seen.add(kid)
            unique.append(_encode_key(key))
    document = {
        "version": MANIFEST_VERSION,
        "keys": unique,
        "eventNames": sorted(set(event_names)),
        "sequenceNumbers": {"first": str(first_sequence), "last": str(last_sequence)},
        "records": len(keys) if records is None else records,
        "eventSourceArn": event_source_arn,
    }
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return hashlib.sha256(body).hexdigest() + ".json", body


def list_manifests(s3, bucket, prefix, limit=1000, page_size=1000):
    """Object keys under `prefix` (ListObjectsV2, paginated), at most `limit`, in listing order.

    "Folder" placeholders (keys ending in "/") are skipped.
    """
    names = []
    kwargs = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    while len(names) < limit:
        response = s3.list_objects_v2(**kwargs)
        for entry in response.get("Contents", []):
            if not entry["Key"].endswith("/"):
                names.append(entry["Key"])
        if not response.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = response["NextContinuationToken"]
    return names[:limit]


def read_manifest(s3, bucket, name):
    """The body bytes, or None when the object is gone (another run applied and deleted it)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=name)
    except s3.exceptions.NoSuchKey:
        return None
    return response["Body"].read()


def delete_manifest(s3, bucket, name):
    s3.delete_object(Bucket=bucket, Key=name)


def rejected_name(name, manifest_prefix, rejected_prefix):
    relative = name[len(manifest_prefix):] if name.startswith(manifest_prefix) else name
    return rejected_prefix + relative


def _metadata_text(text):
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:1024]


def reject_manifest(s3, bucket, name, manifest_prefix, rejected_prefix, reason):
    """Move a malformed manifest aside (copy, then delete); returns the new object key."""
    target = rejected_name(name, manifest_prefix, rejected_prefix)
    s3.copy_object(
        Bucket=bucket,
        Key=target,
        CopySource={"Bucket": bucket, "Key": name},
        MetadataDirective="REPLACE",
        Metadata={"rejected-reason": _metadata_text(reason), "rejected-from": _metadata_text(name)},
    )
    s3.delete_object(Bucket=bucket, Key=name)
    return target
