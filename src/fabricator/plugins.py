"""Things found by name: what code registered, else what an installed package declares.

Backends and output formats are added by registering them (``register_backend``,
``register_format``) or by an entry point in a package's metadata, as simonw/llm finds its plugins:
no list in this project is edited to add one. Entry points load only when their name is asked for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named things of one kind: registered in code, or entry points of ``group``.

    ``accept`` turns what an entry point loads into a ``T`` (or refuses it with a ``ConfigError``);
    a name registered in code (with the function named ``register_with``) wins over an entry point
    of the same name.
    """

    def __init__(self, what: str, group: str, accept: Callable[[object, str], T], register_with: str) -> None:
        self.what = what
        self.group = group
        self._accept = accept
        self._register_with = register_with
        self._named: dict[str, T] = {}

    def register(self, name: str, item: T) -> None:
        """Make ``item`` known as ``name`` (a second registration of a name replaces the first)."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a {self.what} needs a non-empty name, got {name!r}")
        self._named[name] = item

    def names(self) -> list[str]:
        """Every name known: registered ones and installed entry points."""
        return sorted({*self._named, *(point.name for point in self._entry_points())})

    def get(self, name: str) -> T:
        """The thing called ``name``; a ``ConfigError`` listing the known names when there is none."""
        if name in self._named:
            return self._named[name]
        found = [point for point in self._entry_points() if point.name == name]
        if not found:
            raise ConfigError(
                f"unknown {self.what} {name!r}",
                hint=f"use one of {', '.join(self.names())}, or add yours "
                f"({self._register_with} or the entry point group {self.group!r})",
            )
        item = self._accept(self._load(found[0]), name)
        self._named[name] = item
        return item

    def _entry_points(self) -> tuple[EntryPoint, ...]:
        return tuple(entry_points(group=self.group))

    def _load(self, point: EntryPoint) -> object:
        try:
            return point.load()
        except Exception as exc:  # a broken plugin is the user's to fix: say which one
            raise ConfigError(
                f"the {self.what} {point.name!r} (entry point {point.value}) cannot be loaded: {exc}",
                hint=f"fix or uninstall the package that declares it in {self.group!r}",
            ) from exc


def factories(what: str, usage: str) -> Callable[[object, str], Callable[..., Any]]:
    """A registry's ``accept`` for factories: what an entry point loads must be callable
    (``usage`` says what it should point at)."""

    def accept(loaded: object, name: str) -> Callable[..., Any]:
        if not callable(loaded):
            raise ConfigError(
                f"the entry point of {what} {name!r} is a {type(loaded).__name__}, not a factory",
                hint=f"point it at {usage}",
            )
        return loaded

    return accept


def checked_call(factory: Callable[..., T], what: str, hint: str, *args: Any, **options: Any) -> T:
    """``factory(*args, **options)``, a key it does not take a ``ConfigError`` naming ``what`` first."""
    try:
        inspect.signature(factory).bind(*args, **options)
    except TypeError as exc:
        raise ConfigError(f"{what}: {exc}", hint=hint) from None
    except ValueError:  # no signature to check (a builtin): the call says what is wrong
        pass
    return factory(*args, **options)


__all__ = ["Registry", "checked_call", "factories"]
