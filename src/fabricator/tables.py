"""Read datasets from files (JSONL, JSON, CSV, Parquet, ``save_to_disk`` folders) and write JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, load_from_disk

from .errors import ConfigError


def load_table(path: str | Path, limit: int | None = None) -> Dataset:
    """A ``Dataset`` from a file or a ``save_to_disk`` folder; ``limit`` keeps the first rows."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"data file {path} not found")
    if path.is_dir():
        dataset = load_from_disk(str(path))
    elif path.suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        try:
            rows = json.loads(text) if path.suffix == ".json" and text.lstrip().startswith("[") else [
                json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON lines: {exc}") from exc
        dataset = Dataset.from_list(rows)
    elif path.suffix == ".csv":
        dataset = Dataset.from_csv(str(path))
    elif path.suffix == ".parquet":
        dataset = Dataset.from_parquet(str(path))
    else:
        raise ConfigError(f"cannot read {path}", hint="use .jsonl, .json, .csv, .parquet or a save_to_disk folder")
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return dataset


def write_records(records: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Plain dicts as JSON lines (provenance, failures)."""
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_jsonl(dataset: Dataset, path: str | Path) -> None:
    """JSONL with class labels written as their names, readable by people and by ``load_table``."""
    names = {c: f.names for c, f in dataset.features.items() if isinstance(f, ClassLabel)}
    sequences = {c: f.feature.names for c, f in dataset.features.items()
                 if isinstance(getattr(f, "feature", None), ClassLabel)}  # e.g. ner_tags
    with open(path, "w", encoding="utf-8") as out:
        for row in dataset:
            for c, n in names.items():
                if row[c] is not None and row[c] >= 0:
                    row[c] = n[row[c]]
            for c, n in sequences.items():
                if row[c] is not None:
                    row[c] = [n[i] for i in row[c]]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
