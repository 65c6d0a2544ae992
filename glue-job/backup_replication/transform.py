"""Optional item transformation, applied identically by apply-changes and full-copy.

Config (JSON): {"rename": {"old": "new", ...}, "drop": ["attr", ...]}; {} (the default) copies items
unchanged. Only top-level, non-key attributes can be touched; values are moved as they are (typed).

Semantics: renames are simultaneous (a swap {"a": "b", "b": "a"} works); a renamed value replaces an
attribute that already has the target name; dropped attributes are removed. An attribute may not be
both renamed (as source or target) and dropped, and two sources may not share a target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

from .table_keys import Item


class TransformError(ValueError):
    """The transform config is invalid or touches a key attribute."""


@dataclass(frozen=True, init=False)
class Transform:
    """Renames {old: new} and dropped attribute names, validated when made. Equal when both are equal;
    picklable (Spark ships it inside the segment tasks)."""

    rename: dict[str, str]
    drop: frozenset[str]

    def __init__(self, rename: Optional[Mapping[str, str]] = None, drop: Optional[Iterable[str]] = None) -> None:
        object.__setattr__(self, "rename", dict(rename or {}))
        object.__setattr__(self, "drop", frozenset(drop or ()))
        self._validate()

    @classmethod
    def parse(cls, text: Union[str, dict[str, Any], None]) -> Transform:
        """From the --transform argument (a JSON string) or an already parsed dict."""
        config: Any
        if isinstance(text, dict):
            config = text
        else:
            source = (text or "").strip() or "{}"
            try:
                config = json.loads(source)
            except ValueError as error:
                raise TransformError("--transform is not valid JSON (%s): %r" % (error, source))
        if not isinstance(config, dict):
            raise TransformError("--transform must be a JSON object, got %r" % (config,))
        unknown = sorted(set(config) - set(["rename", "drop"]))
        if unknown:
            raise TransformError("--transform has unknown field(s) %s; allowed: rename, drop" % ", ".join(unknown))
        rename = config.get("rename", {})
        drop = config.get("drop", [])
        if not isinstance(rename, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in rename.items()):
            raise TransformError('"rename" must be an object of non-empty attribute names, got %r' % (rename,))
        if not isinstance(drop, list) or not all(isinstance(name, str) and name for name in drop):
            raise TransformError('"drop" must be a list of non-empty attribute names, got %r' % (drop,))
        return cls(rename, drop)

    def _validate(self) -> None:
        targets = list(self.rename.values())
        shared = sorted(set(t for t in targets if targets.count(t) > 1))
        if shared:
            raise TransformError("several attributes are renamed to %s" % ", ".join(shared))
        both = sorted(self.drop & (set(self.rename) | set(targets)))
        if both:
            raise TransformError("attribute(s) %s are both renamed and dropped" % ", ".join(both))
        identities = sorted(k for k, v in self.rename.items() if k == v)
        if identities:
            raise TransformError("attribute(s) %s are renamed to themselves" % ", ".join(identities))

    @property
    def is_identity(self) -> bool:
        return not self.rename and not self.drop

    def touched(self) -> set[str]:
        return set(self.rename) | set(self.rename.values()) | set(self.drop)

    def check_key_names(self, key_names: Iterable[str]) -> None:
        """Raise TransformError if the transform renames or drops a key attribute (or renames onto one)."""
        key_names = list(key_names)
        touched = sorted(self.touched() & set(key_names))
        if touched:
            raise TransformError(
                "the transform touches key attribute(s) %s (table key: %s); key attributes cannot be "
                "renamed or dropped" % (", ".join(touched), ", ".join(key_names)))

    def check_reserved(self, name: str, setting: str) -> None:
        """Raise TransformError if the transform renames (from or to) or drops `name`, an attribute the
        jobs themselves write (e.g. the retained-item marker, named by `setting`)."""
        if name in self.touched():
            raise TransformError(
                "the transform renames or drops %r, the attribute that marks retained items (%s); choose "
                "another %s or leave the attribute out of the transform" % (name, setting, setting))

    def to_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.rename:
            config["rename"] = dict(self.rename)
        if self.drop:
            config["drop"] = sorted(self.drop)
        return config

    def apply(self, item: Item) -> Item:
        """The transformed item (the same object when the transform is the identity)."""
        if self.is_identity:
            return item
        replaced = set(self.rename[name] for name in item if name in self.rename)
        result: Item = {}
        for name, value in item.items():
            if name in self.drop:
                continue
            if name in self.rename:
                result[self.rename[name]] = value
            elif name not in replaced:
                result[name] = value
        return result
