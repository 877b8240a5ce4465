"""A finished run read for review: its rows, features, provenance, task and review order."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError
from ...tables import decoded_rows, load_table, read_records
from ..http_limits import one_line
from ..output_folder import MARKER, expand_path
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


def _hand_edited(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path} {why}", hint=f"restore the {path.name} the run wrote (or run the recipe again)"
    )


def _saved_recipe(path: Path) -> dict[str, Any]:
    """The run's saved recipe (a mapping), {} when absent; ConfigError when it was broken by hand."""
    if not path.is_file():
        return {}
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _hand_edited(path, "is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise _hand_edited(path, f"is not valid YAML ({one_line(str(exc), 120)})") from None
    if recipe is None:
        return {}
    if not isinstance(recipe, dict):
        raise _hand_edited(path, f"holds a {type(recipe).__name__}, not a recipe mapping")
    for section in ("prompt", "output_format"):
        if recipe.get(section) is not None and not isinstance(recipe[section], dict):
            raise _hand_edited(path, f"has a '{section}' that is not a mapping")
    return recipe


def _saved_metadata(path: Path) -> dict[str, Any]:
    """The run's metadata.json (a mapping), {} when absent; ConfigError when it was broken by hand."""
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _hand_edited(path, "is not UTF-8 text") from None
    except ValueError as exc:
        raise _hand_edited(path, f"is not valid JSON ({one_line(str(exc), 120)})") from None
    if not isinstance(metadata, dict):
        raise _hand_edited(path, f"holds a {type(metadata).__name__}, not a JSON object")
    return metadata


def _task(features: Any, recipe: dict[str, Any], path: Path) -> ClassificationTask | EntityTask:
    """``detect_task``, with a recipe field of a wrong type (edited by hand) as a ConfigError."""
    try:
        return detect_task(features, recipe)
    except ConfigError:
        raise
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise _hand_edited(path, f"has a field of a wrong type ({one_line(str(exc), 120)})") from None


def load_run(folder: str | Path) -> ReviewRun:
    """Read the output folder of a ``fabricator generate`` run; ConfigError when it is not one."""
    folder = expand_path(folder, "output folder")
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
    recipe = _saved_recipe(folder / "recipe.yaml")
    model = str(_saved_metadata(folder / "metadata.json").get("model") or "model")
    return ReviewRun(
        folder=folder,
        rows=rows,
        features=dataset.features,
        provenance=provenance,
        task=_task(dataset.features, recipe, folder / "recipe.yaml"),
        model=model,
        run_id=hashlib.sha256(data.read_bytes()).hexdigest()[:16],
    )
