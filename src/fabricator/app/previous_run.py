"""What a previous run in the output folder measured: answer length, time per call, tuning's choice.

``fabricator plan`` reads it from the folder's ``metadata.json`` to give typical completion tokens,
a duration and the setting tuning chose last time; a file edited by hand is no measurement
(``None``, and why, or no choice), never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_MEASURED", "Previous", "previous_choice", "previous_run"]

#: the largest count or duration read back from a previous run's metadata (beyond: not a run's)
MAX_MEASURED = 1e15


@dataclass(frozen=True)
class Previous:
    """What a previous run in the output folder measured (its ``metadata.json``)."""

    model: str
    started: str
    answers: int  # calls answered by the model (journal hits excluded)
    completion_tokens: int
    elapsed_s: float

    @property
    def completion_per_call(self) -> float:
        return self.completion_tokens / self.answers

    @property
    def seconds_per_call(self) -> float:
        return self.elapsed_s / self.answers


def previous_run(output: Path | None) -> tuple[Previous | None, str]:
    """The last run's measurements in ``output``, or ``None`` and why there are none."""
    path = _metadata_file(output)
    if path is None:
        return None, "no previous run"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        summary = meta["summary"]
        answers = int(_measured(summary["succeeded"]))
        found = Previous(
            model=str(meta.get("model", "")),
            started=str(meta.get("started", "?")),
            answers=answers,
            completion_tokens=int(_measured(summary["completion_tokens"])),
            elapsed_s=_measured(summary["elapsed_s"]),
        )
    except (OSError, ValueError, KeyError, TypeError, OverflowError, AttributeError):
        return None, f"{path} is not a run's metadata"
    if answers < 1:
        return None, "the previous run made no model call (all answers came from the journal)"
    return found, ""


def previous_choice(output: Path | None, model: str) -> str:
    """What tuning chose in the last run of ``model`` in ``output``, in one line ("" if none): its
    answers are in the folder's journal, so a rerun of the same recipe chooses the same at no cost.
    Read even where ``previous_run`` has no measurement (a rerun that paid nothing)."""
    path = _metadata_file(output)
    if path is None:
        return ""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        tuning = meta["summary"].get("tuning")
        if meta.get("model") != model or not isinstance(tuning, dict):
            return ""
        f1 = tuning.get("metric") == "f1"  # NER's choice (``SpanChoice.summary``)
        metric, what = ("entity F1", "sentences") if f1 else ("accuracy", "rows")
        found = (
            f"`{tuning['chosen']}` in the run of {meta.get('started', '?')}: {metric} "
            f"{float(tuning['f1' if f1 else 'accuracy']):.2f} ± {float(tuning['margin']):.2f} on "
            f"{int(tuning['rows'])} held-out pool {what}"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # edited by hand: no choice
        return ""
    return found + "; its answers are in the journal, so the same recipe chooses it again at no cost"


def _metadata_file(output: Path | None) -> Path | None:
    """The folder's ``metadata.json``, if there is one."""
    path = output / "metadata.json" if output is not None else None
    return path if path is not None and path.is_file() else None


def _measured(value: Any) -> float:
    """A count or duration of a previous run: a finite number from 0 to ``MAX_MEASURED`` (a file
    edited by hand, ``1e400`` or ``NaN``, is no measurement: ``ValueError``)."""
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    number = float(value)  # OverflowError for an integer too large for a float
    if not 0 <= number <= MAX_MEASURED:  # also false for NaN
        raise ValueError(f"{value!r} is out of range")
    return number
