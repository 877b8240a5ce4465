"""Output formats by name, so a recipe's ``output_format: {kind: ...}`` can name any of them.

A format is registered in code (``register_format``) or declared by an installed package as an
entry point of the group ``fabricator.formats`` whose object makes the format from the recipe's
other ``output_format`` keys (a class or a function of keyword options)::

    [project.entry-points."fabricator.formats"]
    sentiment = "my_package.formats:Sentiment"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..plugins import Registry, checked_call, factories
from .base import OutputFormat

GROUP = "fabricator.formats"
FormatFactory = Callable[..., OutputFormat]


_ACCEPT = factories("output format", "a format class or a function that returns the format")
FORMATS: Registry[FormatFactory] = Registry("output format", GROUP, _ACCEPT, "register_format")


def register_format(name: str, factory: FormatFactory) -> None:
    """Make ``factory`` (a format class, or a function of keyword options) available as ``name``."""
    FORMATS.register(name, factory)


def format_names() -> list[str]:
    """Every output format a recipe may name."""
    return FORMATS.names()


def output_format(kind: str, **options: Any) -> OutputFormat:
    """The output format ``kind`` made with ``options`` (a key it does not take is a ``ConfigError``)."""
    return checked_call(
        FORMATS.get(kind), f"output format {kind!r}", "check the output_format keys", **options
    )


__all__ = ["FORMATS", "GROUP", "FormatFactory", "format_names", "output_format", "register_format"]
