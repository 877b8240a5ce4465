"""Backends by name, so a recipe's ``model.backend`` can name any of them, a user's own included.

A backend is registered in code (``register_backend``) or declared by an installed package as an
entry point of the group ``fabricator.backends`` whose object is a ``Backend`` (or a bare
factory, which then takes no options)::

    [project.entry-points."fabricator.backends"]
    my-model = "my_package.backend:BACKEND"

The recipe's other ``model`` keys are validated by the backend's own options model (unknown keys
are errors naming the key) and handed to its factory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from ..plugins import Registry
from .base import LLM

GROUP = "fabricator.backends"


class NoOptions(BaseModel):
    """The options of a backend that takes none: any key is an error naming it."""

    model_config = ConfigDict(extra="forbid")


class BackendFactory(Protocol):
    """Makes the backend from its validated options; ``planning``: for ``fabricator plan``, which
    only counts tokens (send nothing, read no key, start as little as possible)."""

    def __call__(self, options: Any, *, planning: bool) -> LLM: ...


@dataclass(frozen=True)
class Backend:
    """A backend a recipe may name: its factory and the model its options are validated with."""

    factory: BackendFactory
    options: type[BaseModel] = NoOptions


def _accept(loaded: object, name: str) -> Backend:
    if isinstance(loaded, Backend):
        return loaded
    if callable(loaded):
        return Backend(loaded)
    raise ConfigError(
        f"the entry point of backend {name!r} is a {type(loaded).__name__}, not a Backend",
        hint="point it at a fabricator.llms.Backend(factory, options) or a factory function",
    )


BACKENDS: Registry[Backend] = Registry("backend", GROUP, _accept, "register_backend")


def register_backend(name: str, factory: BackendFactory, options: type[BaseModel] = NoOptions) -> None:
    """Make ``factory`` available as ``name`` to recipes (``model: {backend: name, ...}``)."""
    BACKENDS.register(name, Backend(factory, options))


def backend_names() -> list[str]:
    """Every backend a recipe may name."""
    return BACKENDS.names()


def backend_options(name: str, options: Mapping[str, Any]) -> BaseModel:
    """``options`` validated by backend ``name``'s options model (``ValidationError`` names the key)."""
    return BACKENDS.get(name).options.model_validate(dict(options))


def build_backend(name: str, options: Mapping[str, Any] | BaseModel, *, planning: bool = False) -> LLM:
    """The backend ``name`` made with ``options`` (a mapping is validated first)."""
    backend = BACKENDS.get(name)
    if not isinstance(options, backend.options):
        try:
            options = backend.options.model_validate(dict(options))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(
                f"bad options for backend {name!r}: {problems}", hint=f"see the options of {name!r}"
            ) from None
    return backend.factory(options, planning=planning)


__all__ = [
    "BACKENDS",
    "GROUP",
    "Backend",
    "BackendFactory",
    "NoOptions",
    "backend_names",
    "backend_options",
    "build_backend",
    "register_backend",
]
