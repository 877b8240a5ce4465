"""A finished run read for review: its rows, features, provenance, task and review order."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..output_folder import MARKER
from ..tables import decoded_rows, load_table, read_records
from .tasks import ClassificationTask, EntityTask, detect_task

__all__ = ["CONFIDENCE", "ReviewRun", "load_run"]

#: the column the label scoring writes beside a row's label: the probability of that label
CONFIDENCE = "confidence"


@dataclass
class ReviewRun:
    folder: Path
    rows: list[dict[str, Any]]
    features: Any  # datasets.Features
    provenance: dict[int, dict[str, Any]]  # by row index
    task: ClassificationTask | EntityTask
    model: str
    run_id: str  # ties review tasks to this run: a hash of its data.jsonl

    def confidence(self, index: int) -> float | None:
        value = self.rows[index].get(CONFIDENCE)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        return None

    def review_order(self, limit: int | None = None) -> list[int]:
        """Row indexes, lowest confidence first, then the rows without one in their order."""
        scored = sorted(
            (i for i in range(len(self.rows)) if self.confidence(i) is not None),
            key=lambda i: (self.confidence(i), i),
        )
        unscored = [i for i in range(len(self.rows)) if self.confidence(i) is None]
        order = scored + unscored
        return order if limit is None else order[:limit]


def load_run(folder: str | Path) -> ReviewRun:
    """Read the output folder of a ``fabricator generate`` run; ConfigError when it is not one."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder", hint="give the output folder of a run (-o PATH)")
    if not (folder / MARKER).exists():
        raise ConfigError(
            f"{folder} is not a Fabricator output folder (no {MARKER} marker)",
            hint="review the folder a `fabricator generate` run wrote",
        )
    data = folder / "data.jsonl"
    if not data.is_file():
        raise ConfigError(f"{folder} holds no data.jsonl", hint="run the recipe again")
    saved = folder / "dataset"
    dataset = load_table(saved if saved.is_dir() else data)
    rows = decoded_rows(dataset)
    provenance: dict[int, dict[str, Any]] = {}
    if (folder / "provenance.jsonl").is_file():
        for record in read_records(folder / "provenance.jsonl"):
            if isinstance(record.get("row"), int):
                provenance[record["row"]] = record
    recipe: dict[str, Any] = {}
    if (folder / "recipe.yaml").is_file():
        recipe = yaml.safe_load((folder / "recipe.yaml").read_text(encoding="utf-8")) or {}
    model = "model"
    if (folder / "metadata.json").is_file():
        try:
            model = str(
                json.loads((folder / "metadata.json").read_text(encoding="utf-8")).get("model") or model
            )
        except ValueError:
            pass
    return ReviewRun(
        folder=folder,
        rows=rows,
        features=dataset.features,
        provenance=provenance,
        task=detect_task(dataset.features, recipe),
        model=model,
        run_id=hashlib.sha256(data.read_bytes()).hexdigest()[:16],
    )
