"""A run's rows as Argilla records on disk (no server): ``Dataset.from_disk`` or ``records.from_json``.

A folder gets Argilla's ``to_disk`` layout: ``records.json`` (a list of ``Record.to_dict()``:
fields, suggestions with score and agent, metadata) and ``.argilla/settings.json`` +
``.argilla/dataset.json``; a path ending in ``.json`` gets the records alone.

Neither ever writes over a user's file: an existing records file is replaced only when it holds
records of this same run (a re-export) or with ``force``; a folder must be new, empty, or hold an
export of this same run (``output_folder.claim_file`` checks each file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..safe_files import atomic_write, claim_file, expand_path
from .run import ReviewRun, load_run
from .tasks import TEXT, ClassificationTask, argilla_name

__all__ = ["argilla_records", "argilla_settings", "export_argilla"]


def _fields(run: ReviewRun) -> dict[str, str]:
    """Argilla field name -> dataset column (or the joined tokens for entities)."""
    if isinstance(run.task, ClassificationTask):
        return {argilla_name(c): c for c in run.task.text_columns}
    return {TEXT: TEXT}


def argilla_records(run: ReviewRun, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows in review order (lowest confidence first) as ``Record.to_dict()`` dicts."""
    question = str(run.task.argilla_question()["name"])
    fields = _fields(run)
    records = []
    for index in run.review_order(limit):
        row = run.rows[index]
        data = run.task.data(row)
        metadata: dict[str, Any] = {"row": index, "fabricator_run": run.run_id}
        confidence = run.confidence(index)
        suggestions: dict[str, Any] = {}
        value = run.task.suggestion(row)
        if value is not None:
            suggestions[question] = {"value": value, "score": confidence, "agent": run.model}
        if confidence is not None:
            metadata["confidence"] = confidence
        records.append(
            {
                "id": f"{run.run_id}-{index}",
                "fields": {name: data.get(column, "") for name, column in fields.items()},
                "metadata": metadata,
                "suggestions": suggestions,
                "responses": {},
                "vectors": {},
                "status": "pending",
                "_server_id": None,
            }
        )
    return records


def argilla_settings(run: ReviewRun) -> dict[str, Any]:
    """Argilla ``Settings.serialize()``: the text fields, the label or span question, metadata."""
    fields = [
        {"name": name, "settings": {"type": "text", "use_markdown": False}, "title": column, "required": True}
        for name, column in _fields(run).items()
    ]
    metadata: list[dict[str, Any]] = [
        {
            "name": "confidence",
            "settings": {"type": "float", "min": 0.0, "max": 1.0},
            "title": "model confidence",
        },
        {"name": "row", "settings": {"type": "integer", "min": None, "max": None}, "title": "row"},
    ]
    for entry in metadata:
        entry["visible_for_annotators"] = True
    return {
        "guidelines": f"Check the model's labels of the Fabricator run {run.folder.name}, least sure first.",
        "questions": [run.task.argilla_question()],
        "fields": fields,
        "vectors": [],
        "metadata": metadata,
        "allow_extra_metadata": True,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


_OURS_MAX_BYTES = 256 * 2**20  # a larger file is not read to find out whether it is ours


def _ours(run: ReviewRun) -> Callable[[Path], bool]:
    """Whether a file holds Argilla records of this same run (what an earlier export wrote)."""
    prefix = f"{run.run_id}-"

    def check(path: Path) -> bool:
        try:
            if not path.is_file() or path.stat().st_size > _OURS_MAX_BYTES:
                return False
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(records, list) and all(
            isinstance(r, dict) and str(r.get("id", "")).startswith(prefix) for r in records
        )

    return check


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _check_folder_target(target: Path, run: ReviewRun, force: bool) -> None:
    """A folder target: new, empty, or an earlier export of this run (else ``force``)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(
            f"{target} exists and is not a folder", hint="give a new folder, or a path ending in .json"
        )
    if any(target.iterdir()) and not force and not _ours(run)(target / "records.json"):
        raise ConfigError(
            f"{target} exists and is not an empty folder",
            hint="give a new folder, or a path ending in .json (or --force to write into it)",
        )


def export_argilla(
    folder: str | Path, output: str | Path, *, limit: int | None = None, force: bool = False
) -> Path:
    """Write the run's records (and, into a folder, the dataset settings); the path written."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {limit}")
    run = load_run(folder)
    target = expand_path(output, "records path")
    if run.folder.resolve() in (target.resolve(), *target.resolve().parents):
        raise ConfigError(
            f"{target} is inside the run being exported",
            hint="write the records beside the run, e.g. -o review/",
        )
    records = argilla_records(run, limit)
    if target.suffix == ".json":
        claim_file(target, force=force, ours=_ours(run), what="records file")
        _write_json(target, records)
        return target
    _check_folder_target(target, run, force)
    ours = _ours(run)
    for name in ("records.json", ".argilla/settings.json", ".argilla/dataset.json"):
        claim_file(target / name, force=True, ours=ours, what="Argilla file")  # folder checked above
    _write_json(target / "records.json", records)
    _write_json(target / ".argilla" / "settings.json", argilla_settings(run))
    dataset = {"name": f"fabricator-{argilla_name(run.folder.resolve().name)}", "status": "ready"}
    _write_json(target / ".argilla" / "dataset.json", dataset)
    return target
