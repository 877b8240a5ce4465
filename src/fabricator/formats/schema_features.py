"""The ``datasets`` features of a Pydantic model's fields, so a dataset's columns follow the schema.

``Literal`` and ``Enum`` fields of strings become ``ClassLabel`` (their values are the class names,
in the order written), lists become sequences, ``str``/``int``/``float``/``bool`` their ``Value``,
and a nested model a struct (a dict of its own fields' features). An optional field has the feature
of its type (a missing value is null). Any other type is a ``ConfigError`` naming the field.
"""

from __future__ import annotations

import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from datasets import ClassLabel, Value
from datasets import Sequence as SequenceFeature
from pydantic import BaseModel

from ..errors import ConfigError

_VALUES: dict[type, str] = {bool: "bool", int: "int64", float: "float64", str: "string"}
_SUPPORTED = "str, int, float, bool, Literal or Enum of strings, lists of these, or a nested model"


def features_of(model: type[BaseModel]) -> dict[str, Any]:
    """The features of ``model``'s fields, by field name (in their order)."""
    return {
        name: feature_of(field.annotation, f"{model.__name__}.{name}")
        for name, field in model.model_fields.items()
    }


def class_names(annotation: Any) -> list[str] | None:
    """The values of a ``Literal`` or ``Enum`` of strings (its class names), else ``None``."""
    annotation = _bare(annotation)
    if get_origin(annotation) is Literal:
        values = list(get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        values = [member.value for member in annotation]
    else:
        return None
    return [str(v) for v in values] if all(isinstance(v, str) for v in values) else None


def feature_of(annotation: Any, where: str) -> Any:
    """The feature of one field's type (``where`` names the field in errors)."""
    annotation = _bare(annotation)
    names = class_names(annotation)
    if names is not None:
        return ClassLabel(names=names)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (Any,)
        inner = feature_of(item, f"{where}[]")
        return [inner] if isinstance(inner, dict) else SequenceFeature(inner)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return features_of(annotation)
    if annotation in _VALUES:
        return Value(_VALUES[annotation])
    raise ConfigError(
        f"unsupported output schema: field {where} has type {annotation!r}, which has no dataset column type",
        hint=f"use {_SUPPORTED}",
    )


def _bare(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` constraints and without ``| None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation  # a real union: refused by ``feature_of``
            annotation = rest[0]
        else:
            return annotation


__all__ = ["class_names", "feature_of", "features_of"]
