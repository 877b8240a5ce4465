"""Tag ids <-> tag names: reading an ``id2label`` and writing tags in the scheme it uses.

An ``id2label`` (a dict ``{0: "O", 1: "B-PER", ...}`` as the paper and ``transformers`` write it,
or a list of tags in id order) fixes both the ids and the tag scheme:

* ``BIO``: ``O`` plus ``B-X``/``I-X`` tags;
* ``BIOES``: as BIO, with ``E-X`` on an entity's last token and ``S-X`` for one-token entities;
* ``IO``: ``O`` plus bare entity types (``{0: "O", 1: "PER", 2: "LOC"}``): every token of an
  entity gets its type.

Anything else (no ``O``, ids that are not ``0..n-1``, names that are not strings, duplicates, a mix
of tags and bare types) is a :class:`ConfigError`, never a dataset of silently empty tags.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fabricator.errors import ConfigError
from fabricator.parsing import bio_to_bioes, split_tag

__all__ = ["TagSet", "expanded_types_by_id", "keyed_by_ids", "tag_set", "types_from_tags"]

_ID2LABEL_HINT = (
    "id2label maps label ids 0..n-1 to tags, e.g. {0: 'O', 1: 'B-PER', 2: 'I-PER'} "
    "(or lists the tags in id order); to rename entity types use expanded_label_mapping={'PER': 'person'}"
)


def types_from_tags(tags: Iterable[Any]) -> list[str]:
    """The entity types named by prefixed tags, in first-seen order (``O`` and others skipped)."""
    seen: dict[str, None] = {}
    for tag in tags:
        if tag != "O" and isinstance(tag, str) and len(tag) > 2 and tag[1] == "-":
            seen.setdefault(tag[2:], None)
    return list(seen)


def _label_id(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, str):
        return int(key) if key.strip().isdigit() else None
    try:
        return operator.index(key)
    except TypeError:
        return None


def keyed_by_ids(mapping: Mapping[Any, Any]) -> bool:
    """Whether every key is a label id (an int, or digits as JSON writes dict keys)."""
    return bool(mapping) and all(_label_id(key) is not None for key in mapping)


def _ids_in_order(mapping: Mapping[Any, Any], what: str) -> list[Any]:
    """The values of an id-keyed mapping in id order; keys must be the ids ``0..n-1``."""
    table: dict[int, Any] = {}
    for key, value in mapping.items():
        id_ = _label_id(key)
        if id_ is None:
            raise ConfigError(f"{what} key {key!r} is not a label id", hint=_ID2LABEL_HINT)
        table[id_] = value
    ids = sorted(table)
    if ids != list(range(len(ids))):
        raise ConfigError(f"{what} ids must be 0..n-1, got {ids}", hint=_ID2LABEL_HINT)
    return [table[i] for i in ids]


def _is_prefixed(tag: str) -> bool:
    try:
        return split_tag(tag)[0] != "O"
    except ConfigError:
        return False


@dataclass(frozen=True)
class TagSet:
    """The tags of an ``id2label`` in id order, and the scheme they follow."""

    names: tuple[str, ...]
    scheme: str  # "BIO", "BIOES" or "IO"

    def types(self) -> list[str]:
        """The entity types, in id order."""
        if self.scheme == "IO":
            return [name for name in self.names if name != "O"]
        return types_from_tags(self.names)

    @cached_property
    def ids(self) -> dict[str, int]:
        """Tag name -> id (built once, not per row)."""
        return {name: i for i, name in enumerate(self.names)}

    def encode(self, bio_tags: Sequence[str]) -> tuple[list[int] | None, str | None]:
        """``(ids, None)`` for BIO tags written in this scheme, or ``(None, error)``."""
        if self.scheme == "BIOES":
            tags = bio_to_bioes(bio_tags)
        elif self.scheme == "IO":
            tags = [tag if tag == "O" else split_tag(tag)[1] for tag in bio_tags]
        else:
            tags = list(bio_tags)
        ids = self.ids
        missing = sorted({t for t in tags if t not in ids})
        if missing:
            return None, f"tags {missing} are not in id2label"
        return [ids[t] for t in tags], None


def tag_set(id2label: Mapping[int, str] | Sequence[str]) -> TagSet:
    """The :class:`TagSet` of an ``id2label`` dict or tag list; ConfigError if it cannot be read."""
    if isinstance(id2label, Mapping):
        names = _ids_in_order(id2label, "id2label")
    elif isinstance(id2label, Sequence) and not isinstance(id2label, (str, bytes)):
        names = list(id2label)
    else:
        raise ConfigError(
            f"id2label must be a dict id -> tag or a list of tags, got {type(id2label).__name__}",
            hint=_ID2LABEL_HINT,
        )
    bad = [name for name in names if not isinstance(name, str) or not name.strip()]
    if not names or bad:
        raise ConfigError(f"id2label needs tag names, got {bad or 'nothing'}", hint=_ID2LABEL_HINT)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"id2label names the tags {twice} more than once", hint=_ID2LABEL_HINT)
    if "O" not in names:
        raise ConfigError(
            f"id2label has no 'O' tag for tokens outside entities: {names}", hint=_ID2LABEL_HINT
        )
    prefixed = [name for name in names if _is_prefixed(name)]
    bare = [name for name in names if name != "O" and name not in prefixed]
    if prefixed and bare:
        raise ConfigError(
            f"id2label mixes tags {prefixed[:3]} with bare entity types {bare[:3]}",
            hint="use one scheme: 'O' plus 'B-X'/'I-X' tags, or 'O' plus entity types alone",
        )
    if not prefixed and not bare:
        raise ConfigError("id2label has no entity tags, only 'O'", hint=_ID2LABEL_HINT)
    scheme = "IO" if bare else "BIOES" if any(n[0] in "ES" for n in prefixed) else "BIO"
    return TagSet(tuple(names), scheme)


def expanded_types_by_id(mapping: Mapping[Any, Any], names: Sequence[str] | None) -> dict[str, str]:
    """Type -> expanded type from the paper's ``{id: expanded tag}`` (``{1: "B-person", ...}``).

    ``names`` are the dataset's tags in id order (its ``ClassLabel`` names); each expanded tag
    must keep its tag's prefix, and every tag of a type must expand to the same type.
    """
    if names is None:
        raise ConfigError(
            "expanded_label_mapping is keyed by label ids but the tags are not ClassLabel ids",
            hint="map entity types instead, e.g. {'PER': 'person'}",
        )
    expanded = _ids_in_order(mapping, "expanded_label_mapping")
    if len(expanded) != len(names):
        raise ConfigError(
            f"expanded_label_mapping has {len(expanded)} ids but the dataset has {len(names)} tags",
            hint=f"give one expanded tag per tag of {list(names)}",
        )
    types: dict[str, str] = {}
    for tag, new in zip(names, expanded, strict=True):
        (prefix, type_), (new_prefix, new_type) = split_tag(tag), split_tag(new)
        hint = "keep each tag's prefix and expand every tag of a type the same way"
        if prefix != new_prefix:
            raise ConfigError(f"expanded_label_mapping turns {tag!r} into {new!r}", hint=hint)
        if types.setdefault(type_, new_type) != new_type:
            raise ConfigError(
                f"expanded_label_mapping expands {type_!r} to {types[type_]!r} and to {new_type!r}",
                hint=hint,
            )
    return {type_: new for type_, new in types.items() if type_}
