"""The one column check the transformation modules share."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError


def require_columns(dataset: Any, *columns: str) -> None:
    """A clear error naming the missing columns and the ones the dataset has."""
    names = list(dataset.column_names)
    missing = [c for c in columns if c not in names]
    if missing:
        raise ConfigError(f"columns {missing} are not in the dataset (columns: {names})")
