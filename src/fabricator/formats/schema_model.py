"""A user's schema as a Pydantic model: a JSON Schema dict turned into one, or a model by dotted path.

A dict is converted once, when the format is made, so every answer is validated by the same model.
Only the common subset is supported (what rows of typed fields need); anything else is a
``ConfigError`` that names the property and the keyword, rather than a schema silently weakened.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..errors import ConfigError

#: JSON Schema types and the Python types their values validate as
SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
#: keywords a property may use, by what they constrain (anything else is refused)
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_LENGTHS = {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"}
_ITEMS = {"minItems": "min_length", "maxItems": "max_length"}
_NOTES = {"type", "description", "title", "default", "enum", "items", "properties", "required"}
_OBJECT_KEYS = {"type", "properties", "required", "title", "description", "additionalProperties", "$schema"}
SUPPORTED = (
    "an object whose properties are string, integer, number, boolean, enum (of strings), "
    "array (of those) or object; required; minimum/maximum, minLength/maxLength/pattern, minItems/maxItems"
)


def model_of_schema(schema: Mapping[str, Any], where: str = "schema") -> type[BaseModel]:
    """The Pydantic model that validates what ``schema`` (a JSON Schema object) describes."""
    if not isinstance(schema, Mapping) or schema.get("type") != "object":
        raise _unsupported(where, "must be a JSON Schema object ({'type': 'object', 'properties': ...})")
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        raise _unsupported(where, "needs 'properties': the fields of a row")
    _check_keys(where, schema, _OBJECT_KEYS)
    required = schema.get("required", [])
    if not isinstance(required, list) or not set(required) <= set(properties):
        raise _unsupported(where, f"'required' must list some of its properties {sorted(properties)}")
    fields: dict[str, Any] = {}
    for name, prop in properties.items():
        annotation = field_type(prop, f"{where}.{name}")
        description = prop.get("description") if isinstance(prop, Mapping) else None
        if name in required:
            fields[name] = (annotation, Field(description=description))
        else:
            fields[name] = (annotation | None, Field(default=None, description=description))
    title = str(schema.get("title") or "Row")
    model: type[BaseModel] = create_model(title, __config__=ConfigDict(extra="ignore"), **fields)
    return model


def field_type(prop: Any, where: str) -> Any:
    """The (annotated) Python type of one property, its bounds carried as ``Field`` constraints."""
    if not isinstance(prop, Mapping):
        raise _unsupported(where, "must be a mapping such as {'type': 'string'}")
    if "enum" in prop:
        values = prop["enum"]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise _unsupported(where, "'enum' must be a list of strings (they become a ClassLabel)")
        _check_keys(where, prop, _NOTES)
        return Literal[tuple(values)]
    kind = prop.get("type")
    if kind == "object":
        return model_of_schema(prop, where)
    if kind == "array":
        _check_keys(where, prop, _NOTES | set(_ITEMS))
        if "items" not in prop:
            raise _unsupported(where, "an array needs 'items', the schema of its elements")
        item = field_type(prop["items"], f"{where}[]")
        return Annotated[list[item], Field(**_constraints(prop, _ITEMS))]  # type: ignore[valid-type]
    if kind not in SCALARS:
        _check_keys(where, prop, _NOTES | set(_BOUNDS) | set(_LENGTHS) | set(_ITEMS))
        raise _unsupported(where, f"has type {kind!r}" if kind is not None else "has no 'type'")
    keys = _BOUNDS if kind in ("integer", "number") else _LENGTHS if kind == "string" else {}
    _check_keys(where, prop, _NOTES | set(keys))
    return Annotated[SCALARS[kind], Field(**_constraints(prop, keys))]


def import_model(path: str) -> type[BaseModel]:
    """The Pydantic model a recipe names as ``package.module:Model``."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"model {path!r} is not a dotted path", hint="write it as package.module:Model")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"model {path!r} cannot be imported: {exc}",
            hint="check the name, and that its package is installed or on PYTHONPATH",
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise ConfigError(f"model {path!r} is not a Pydantic model class", hint="name a BaseModel subclass")
    return found


def _constraints(prop: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    return {argument: prop[key] for key, argument in keys.items() if key in prop}


def _check_keys(where: str, prop: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(prop) - allowed)
    if extra:
        raise _unsupported(where, f"uses {', '.join(repr(k) for k in extra)}")


def _unsupported(where: str, problem: str) -> ConfigError:
    return ConfigError(f"unsupported output schema: {where} {problem}", hint=f"use {SUPPORTED}")


__all__ = ["SUPPORTED", "import_model", "model_of_schema"]
