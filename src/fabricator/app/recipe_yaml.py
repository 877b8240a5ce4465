"""Reading a recipe's YAML and its paths: duplicate keys refused, ``~`` expanded with a clear error.

Kept apart from the recipe's sections (``recipe.py``) so each file has one job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping of the recipe gives one key twice (YAML would keep the last one silently)."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(
            problem=f"the key {key!r} is given twice (lines {first.line + 1} and {again.line + 1})",
            problem_mark=again,
        )
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: a second ``generation:``
    section must not drop the first (and its ``max_prompt_calls``) without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # << merges: keys given there may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base loader says so
                continue
            if first is not key_node.start_mark:
                raise DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (``DuplicateKey``, a ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def expand_user(path: str | Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; ``ValueError`` when that user has no
    home here (``Path.expanduser`` raises ``RuntimeError`` for it)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        user = str(path).split("/", 1)[0]
        raise ValueError(
            f"{str(path)!r} starts with {user}, and no such user has a home folder here"
        ) from None


def user_path(path: str | Path, what: str) -> Path:
    """``expand_user`` for a path given by the user: a ``ConfigError`` naming ``what`` it is."""
    try:
        return expand_user(path)
    except ValueError as exc:
        raise ConfigError(
            f"{what}: {exc}", hint="write the path out in full, or use ~/ for your own home folder"
        ) from None


def expandable(value: str) -> str:
    expand_user(value)
    return value


def one_of(name: str, known: list[str], what: str) -> str:
    """``name`` if it is one of the ``known`` names of a registry, else a ``ValueError`` listing them."""
    if name not in known:
        raise ValueError(f"unknown {what} {name!r}; use one of {', '.join(known)} (or register yours)")
    return name


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())
