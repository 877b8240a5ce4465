"""Output formats by name, so a recipe's ``output_format: {kind: ...}`` can name any of them.

A format is registered in code (``register_format``) or declared by an installed package as an
entry point of the group ``fabricator.formats`` whose object makes the format from the recipe's
other ``output_format`` keys (a class or a function of keyword options)::

    [project.entry-points."fabricator.formats"]
    sentiment = "my_package.formats:Sentiment"
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..plugins import Registry
from .base import OutputFormat

GROUP = "fabricator.formats"
FormatFactory = Callable[..., OutputFormat]


def _accept(loaded: object, name: str) -> FormatFactory:
    if not callable(loaded):
        raise ConfigError(
            f"the entry point of output format {name!r} is a {type(loaded).__name__}, not a factory",
            hint="point it at a format class or a function that returns the format",
        )
    return loaded


FORMATS: Registry[FormatFactory] = Registry("output format", GROUP, _accept, "register_format")


def register_format(name: str, factory: FormatFactory) -> None:
    """Make ``factory`` (a format class, or a function of keyword options) available as ``name``."""
    FORMATS.register(name, factory)


def format_names() -> list[str]:
    """Every output format a recipe may name."""
    return FORMATS.names()


def output_format(kind: str, **options: Any) -> OutputFormat:
    """The output format ``kind`` made with ``options`` (a key it does not take is a ``ConfigError``)."""
    factory = FORMATS.get(kind)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"output format {kind!r}: {exc}", hint="check the output_format keys") from None
    except ValueError:  # no signature to check (a builtin): the call says what is wrong
        pass
    made: OutputFormat = factory(**options)
    return made


__all__ = ["FORMATS", "GROUP", "FormatFactory", "format_names", "output_format", "register_format"]
