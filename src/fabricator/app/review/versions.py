"""A reviewed run as a new dataset version: a new output folder, the original left as it was.

Rows a reviewer answered take the reviewer's label; the others keep the model's. Every row's
provenance says which (``"labeled_by": "human"`` or ``"model"``); a reviewed row also records
the model's label and confidence, so the change stays visible.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from datasets import Dataset, disable_progress_bars

from ...errors import ConfigError
from ...tables import write_jsonl, write_records
from ..output_folder import claim_output
from .run import ReviewRun

__all__ = ["Review", "Written", "default_version_folder", "version_folder", "write_reviewed"]

#: files of the original run copied unchanged into the new version
_COPIED = ("recipe.yaml", "failures.jsonl")


@dataclass
class Review:
    value: Any  # the reviewer's value of the task's column
    reviewer: Any = None
    annotation_id: Any = None
    task_id: Any = None
    at: Any = None


@dataclass
class Written:
    folder: Path
    changed_rows: list[int]


def _copy(source: Path, tmp: Path) -> None:
    shutil.copyfile(source, tmp)


def default_version_folder(folder: Path) -> Path:
    """``OUT-reviewed``, or ``OUT-reviewed-2``, ... : the first that does not exist yet."""
    base = folder.parent / f"{folder.name}-reviewed"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def version_folder(run: ReviewRun, output: str | Path | None) -> Path:
    """Where the new version goes; ConfigError if that would write over or into the run."""
    target = Path(output).expanduser() if output is not None else default_version_folder(run.folder)
    if target.resolve() == run.folder.resolve():
        raise ConfigError(
            f"{target} is the run being reviewed; its files are never written over",
            hint="give the new version another folder with -o NEW_DIR (or leave -o out)",
        )
    if run.folder.resolve() in target.resolve().parents:
        raise ConfigError(
            f"{target} is inside the run being reviewed, which would then hold files it did not write",
            hint="put the new version beside the run, e.g. -o runs/first-reviewed (or leave -o out)",
        )
    return target


def write_reviewed(
    run: ReviewRun, reviews: dict[int, Review], output: str | Path | None, *, source: dict[str, Any]
) -> Written:
    target = version_folder(run, output)
    column = run.task.column
    rows, provenance, changed = [], [], []
    for index, row in enumerate(run.rows):
        record = dict(run.provenance.get(index) or {"row": index})
        review = reviews.get(index)
        if review is None:
            rows.append(row)
            record["labeled_by"] = "model"
        else:
            rows.append({**row, column: review.value})
            if review.value != row.get(column):
                changed.append(index)
            record.update(
                labeled_by="human",
                model_label=row.get(column),
                model_confidence=run.confidence(index),
                changed=review.value != row.get(column),
                reviewer=review.reviewer,
                review={
                    "annotation": review.annotation_id,
                    "task": review.task_id,
                    "at": review.at,
                    **source,
                },
            )
        provenance.append(record)
    disable_progress_bars()  # as a run does: the summary below is the output
    dataset = Dataset.from_list(rows, features=run.features)
    summary = {
        "source": str(run.folder),
        **source,
        "rows": len(rows),
        "reviewed": len(reviews),
        "changed": len(changed),
        "imported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    with claim_output(target, inputs=[run.folder]) as folder:
        folder.write_dataset(dataset)
        folder.write_file("data.jsonl", lambda tmp: write_jsonl(dataset, tmp))
        folder.write_file("provenance.jsonl", lambda tmp: write_records(provenance, tmp))
        for name in _COPIED:
            if (run.folder / name).is_file():
                folder.write_file(name, partial(_copy, run.folder / name))
        metadata: dict[str, Any] = {}
        if (run.folder / "metadata.json").is_file():
            try:
                metadata = json.loads((run.folder / "metadata.json").read_text(encoding="utf-8"))
            except ValueError:
                metadata = {}
        metadata["review"] = summary
        folder.write_text("metadata.json", json.dumps(metadata, indent=2))
    return Written(folder=target, changed_rows=changed)
