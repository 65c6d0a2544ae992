"""Items that exercise every DynamoDB type and limit (the fidelity tests)."""


def nested_map(depth, leaf):
    value = leaf
    for level in range(depth):
        value = {"M": {"level%d" % level: value, "n": {"N": str(level)}}}
    return value


def nested_list(depth, leaf):
    value = leaf
    for level in range(depth):
        value = {"L": [value, {"S": "at %d" % level}]}
    return value


def all_types_item(key="all-types"):
    return {
        "id": {"S": key},
        "s": {"S": "h\u00e9llo \u2713 \U0001F600 \"quoted\" \\ back\nslash \u0000 nul"},
        "s_empty": {"S": ""},
        "n_38_digits": {"N": "12345678901234567890123456789012345678"},
        "n_negative_tiny": {"N": "-0.000000000000000000000000000000000000001"},
        "n_max": {"N": "9.9999999999999999999999999999999999999E+125"},
        "n_min_positive": {"N": "1E-130"},
        "n_negative_38": {"N": "-0.12345678901234567890123456789012345678"},
        "n_zero": {"N": "0"},
        "b_all_bytes": {"B": bytes(range(256))},
        "b_empty": {"B": b""},
        "ss": {"SS": ["a", "", "\u00fc", "z" * 100]},
        "ns": {"NS": ["1", "-1.5", "12345678901234567890123456789012345678", "1E-130"]},
        "bs": {"BS": [bytes([value]) for value in range(256)] + [bytes(range(256)), b""]},
        "bool_true": {"BOOL": True},
        "bool_false": {"BOOL": False},
        "null": {"NULL": True},
        "list": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x00\xff"}, {"NULL": True}, {"BOOL": False}, {"L": []},
                       {"M": {}}, {"SS": ["q"]}, {"NS": ["2"]}, {"BS": [b"\x01"]}, {"S": ""}, {"B": b""}]},
        "map": {"M": {"inner s": {"S": "v"}, "inner n": {"N": "-0"},
                      "inner b": {"B": bytes(range(255, -1, -1))}, "inner l": {"L": [{"M": {"x": {"NULL": True}}}]}}},
        "attribute name with spaces and \u00fcnicode": {"S": "ok"},
    }


def deep_item(key="deep"):
    return {
        "id": {"S": key},
        "map10": nested_map(10, {"S": "leaf"}),
        "list10": nested_list(10, {"N": "10"}),
        "mixed10": nested_map(5, nested_list(5, {"B": bytes(range(16))})),
    }


def big_item(key="big", total=405000):
    """An item of about `total` bytes by DynamoDB's size rules (limit 409,600)."""
    blob_size = 250000
    text_size = total - blob_size - 200
    return {
        "id": {"S": key},
        "blob": {"B": bytes(i % 256 for i in range(blob_size))},
        "text": {"S": ("0123456789abcdef" * (text_size // 16 + 1))[:text_size]},
        "n": {"N": "1"},
    }


def item_size(item):
    """DynamoDB's item size: names + values (approximation good to a few bytes for these items)."""
    def value_size(typed):
        (type_name, value), = typed.items()
        if type_name == "S":
            return len(value.encode("utf-8"))
        if type_name == "B":
            return len(value)
        if type_name == "N":
            return len(value.strip("-").replace(".", "")) // 2 + 1
        if type_name in ("BOOL", "NULL"):
            return 1
        if type_name in ("SS", "BS", "NS"):
            return sum(value_size({type_name[0]: v}) for v in value)
        if type_name == "L":
            return 3 + sum(1 + value_size(v) for v in value)
        if type_name == "M":
            return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in value.items())
        raise ValueError(type_name)
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())
