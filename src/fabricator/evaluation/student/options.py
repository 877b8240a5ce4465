"""How a student is trained: the keyword options ``train_student`` and ``learning_curve`` share.

:class:`StudentOptions` types the keywords; :func:`resolve` fills in the defaults and checks them
before any data is read, so both entry points take and check them in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypedDict

from fabricator.errors import ConfigError

__all__ = ["METHODS", "Settings", "StudentOptions", "resolve"]

METHODS = ("embeddings", "finetune")


class StudentOptions(TypedDict, total=False):
    """The training keywords of ``train_student`` and ``learning_curve``, all optional.

    ``method``: ``"embeddings"`` (default) or ``"finetune"``. ``model``: the encoder (a local
    sentence-transformers folder for embeddings; a folder or Hub name for finetune); default the
    bundled all-MiniLM-L6-v2. ``device``: default CUDA when available. ``batch_size``: default 64
    (embeddings) or 16 (finetune). ``C``: ``"auto"`` (default, chosen by cross-validation) or a
    positive number. ``max_iter`` (1000): of the LogisticRegression. ``epochs`` (3),
    ``learning_rate`` (5e-5), ``max_length`` (128 tokens): of the fine-tuning.
    """

    method: str
    model: str | None
    device: str | None
    batch_size: int | None
    C: float | str
    max_iter: int
    epochs: int
    learning_rate: float
    max_length: int


@dataclass(frozen=True)
class Settings:
    """:class:`StudentOptions` with every default filled in, checked."""

    method: str = "embeddings"
    model: str | None = None
    device: str | None = None
    batch_size: int = 0  # 0 until resolved: the method's default
    C: float | str = "auto"
    max_iter: int = 1000
    epochs: int = 3
    learning_rate: float = 5e-5
    max_length: int = 128


def resolve(caller: str, options: Mapping[str, Any]) -> Settings:
    """The settings of ``options``: a TypeError for an unknown keyword, a ConfigError for a bad value."""
    known = {f.name for f in fields(Settings)}
    unknown = [name for name in options if name not in known]
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    given = {k: v for k, v in options.items() if not (k == "batch_size" and v is None)}
    settings = Settings(**given)
    if settings.method not in METHODS:
        raise ConfigError(f"unknown student method {settings.method!r}", hint=f"use one of {METHODS}")
    if "batch_size" not in given:
        settings = replace(settings, batch_size=64 if settings.method == "embeddings" else 16)
    C = settings.C
    if C != "auto" and (isinstance(C, str) or not C > 0):
        raise ConfigError(f"C must be a positive number or 'auto', got {C!r}")
    if settings.batch_size < 1 or settings.epochs < 1 or settings.max_iter < 1 or settings.learning_rate <= 0:
        raise ConfigError("batch_size, epochs, max_iter and learning_rate must be positive")
    return settings
