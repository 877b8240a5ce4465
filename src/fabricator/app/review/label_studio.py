"""Send a run's rows to Label Studio as pre-annotated tasks; take the reviewers' labels back.

Every task carries ``fabricator_row`` (the row's index) and ``fabricator_run`` (which run it came
from), so import maps answers back to rows, and a second export of the same run into the same
project adds only the rows not sent yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._sync import run_sync
from ...errors import ConfigError, FabricatorError
from ...redact import redact_url
from ..http_limits import HttpLimits, one_line
from .client import LabelStudioClient, LabelStudioError, label_studio_token, project_id
from .run import ReviewRun, load_run
from .versions import Review, version_folder, write_reviewed

__all__ = ["ExportResult", "ImportResult", "export_label_studio", "import_label_studio"]

log = logging.getLogger(__name__)

ROW = "fabricator_row"
RUN = "fabricator_run"


@dataclass
class ExportResult:
    project_id: int
    project_url: str
    created: bool  # a new project (else an existing one was filled)
    sent: int  # tasks added now
    already: int  # rows of this run the project held before


@dataclass
class ImportResult:
    folder: Path  # the new dataset version
    reviewed: int
    changed: int
    other_tasks: int = 0  # tasks of the project from other runs or without a row, left out
    changed_rows: list[int] = field(default_factory=list)


def _project_ref(project: str | int | None) -> tuple[int | None, str | None]:
    if project is None:
        return None, None
    text = str(project).strip()
    return (int(text), None) if text.isdigit() else (None, text)


def task_for(run: ReviewRun, index: int) -> dict[str, Any]:
    """One Label Studio task: the row's text, its index, and the model's label as a prediction."""
    row = run.rows[index]
    data = {**run.task.data(row), ROW: index, RUN: run.run_id}
    confidence = run.confidence(index)
    if confidence is not None:
        data["confidence"] = confidence
    prediction: dict[str, Any] = {"model_version": run.model, "result": run.task.results(row)}
    if confidence is not None:
        prediction["score"] = confidence
    return {"data": data, "predictions": [prediction]}


async def _export(
    run: ReviewRun, url: str, project: str | int | None, limit: int | None, limits: HttpLimits | None
) -> ExportResult:
    config = run.task.label_config()
    chosen, title = _project_ref(project)
    title = title or f"fabricator {run.folder.resolve().name}"
    async with LabelStudioClient(url, label_studio_token(), limits=limits) as ls:
        created = False
        if chosen is None:
            found = next((p for p in await ls.projects() if p.get("title") == title), None)
            if found is None:
                made = await ls.create_project(
                    title, config, f"Rows of the Fabricator run {run.folder}, lowest model confidence first."
                )
                chosen, created = project_id(made, "POST /api/projects/"), True
            else:
                chosen = project_id(found, "GET /api/projects/")
        if not created:
            existing = await ls.project(chosen)
            if _normalized(str(existing.get("label_config") or "")) != _normalized(config):
                raise ConfigError(
                    f"Label Studio project {chosen} has another labeling config than this run needs",
                    hint="export into a new project (--project NEW_NAME) or the project made for this run",
                )
        sent_before = _sent_before(run, await ls.tasks(chosen) if not created else [])
        order = [i for i in run.review_order() if i not in sent_before]
        if limit is not None:  # the next N rows: a second export sends the next least confident ones
            order = order[:limit]
        await ls.import_tasks(chosen, [task_for(run, i) for i in order])
        return ExportResult(
            project_id=chosen,
            project_url=f"{ls.shown}/projects/{chosen}",
            created=created,
            sent=len(order),
            already=len(sent_before),
        )


def _sent_before(run: ReviewRun, tasks: list[dict[str, Any]]) -> set[int]:
    """Rows of this run the project already holds (tasks of other runs or shapes are ignored)."""
    sent = set()
    for task in tasks:
        data = task.get("data")
        if isinstance(data, Mapping) and data.get(RUN) == run.run_id and isinstance(data.get(ROW), int):
            sent.add(int(data[ROW]))
    return sent


def _normalized(config: str) -> str:
    return "".join(config.split())


def export_label_studio(
    folder: str | Path,
    *,
    url: str,
    project: str | int | None = None,
    limit: int | None = None,
    limits: HttpLimits | None = None,
) -> ExportResult:
    """Create (or fill) a Label Studio project with the run's rows, lowest confidence first.

    ``limits``: timeouts and answer cap of every request (default: ``http_limits()``).
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, not {limit}")
    return run_sync(_export(load_run(folder), url, project, limit, limits))


def _answer(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The latest submitted (not skipped) annotation of a task."""
    annotations = task.get("annotations") or []
    done = [a for a in annotations if isinstance(a, Mapping) and not a.get("was_cancelled")]
    return max(done, key=lambda a: (str(a.get("updated_at") or ""), _int(a.get("id")))) if done else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def _fetch(url: str, project: int, limits: HttpLimits | None) -> list[dict[str, Any]]:
    async with LabelStudioClient(url, label_studio_token(), limits=limits) as ls:
        return await ls.tasks(project)


def _review(run: ReviewRun, task: Mapping[str, Any], index: int) -> Review | None:
    """The reviewer's answer to one task of the run; None when it has none."""
    annotation = _answer(task)
    if annotation is None:
        return None
    answered, value = run.task.from_results(annotation.get("result") or [], run.rows[index])
    if not answered:
        return None
    return Review(
        value=value,
        reviewer=annotation.get("completed_by"),
        annotation_id=annotation.get("id"),
        task_id=task.get("id"),
        at=annotation.get("updated_at") or annotation.get("created_at"),
    )


def _checked_review(run: ReviewRun, task: Mapping[str, Any], index: int, project: int) -> Review | None:
    """``_review``, with an answer of a shape Label Studio does not send as a one-line error."""
    try:
        return _review(run, task, index)
    except FabricatorError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise LabelStudioError(
            f"task {one_line(repr(task.get('id')), 40)} of Label Studio project {project} holds an "
            f"annotation of an unexpected shape ({type(exc).__name__}: {one_line(str(exc), 80)})",
            hint="keep the project's labeling config as Fabricator wrote it, or fix that annotation",
        ) from None


def import_label_studio(
    folder: str | Path,
    *,
    url: str,
    project: int,
    output: str | Path | None = None,
    limits: HttpLimits | None = None,
) -> ImportResult:
    """Write a new dataset version with the reviewers' labels; the run in ``folder`` is unchanged."""
    run = load_run(folder)
    version_folder(run, output)  # a bad -o fails before any request
    tasks = run_sync(_fetch(url, project, limits))
    reviews: dict[int, Review] = {}
    other = 0
    for task in tasks:
        data = task.get("data")
        index = data.get(ROW) if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or data.get(RUN) != run.run_id or not isinstance(index, int):
            other += 1
            continue
        if not 0 <= index < len(run.rows):
            other += 1
            continue
        review = _checked_review(run, task, index, project)
        if review is not None:
            reviews[index] = review
    if other:
        log.warning("%d task(s) of project %d are not rows of %s; left out", other, project, run.folder)
    written = write_reviewed(
        run, reviews, output, source={"tool": "label-studio", "url": redact_url(url), "project": project}
    )
    return ImportResult(
        folder=written.folder,
        reviewed=len(reviews),
        changed=len(written.changed_rows),
        other_tasks=other,
        changed_rows=written.changed_rows,
    )
