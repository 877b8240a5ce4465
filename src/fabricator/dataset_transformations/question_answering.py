"""SQuAD-format extractive QA <-> flat ``answer`` / ``answer_start`` columns.

SQuAD stores ``answers = {"text": [...], "answer_start": [...]}``. A prompt wants one answer
string, and a model only writes the answer text, so:

* :func:`preprocess_squad_format` flattens ``answers`` to ``answer`` (the first answer text) and
  ``answer_start`` (its start). A row without answers (SQuAD 2.0 style) gets ``None`` for both.
* :func:`postprocess_squad_format` builds ``answers`` again. The start is located in the context
  (:func:`locate_answer`), preferring the given ``answer_start`` when it is valid, and every start
  is validated: ``context[start:start + len(text)] == text``. An answer that is not in the context
  is a row error: the row stays, with empty ``answers`` and a message in ``error``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fabricator.dataset_transformations._columns import require_columns
from fabricator.errors import ConfigError

__all__ = [
    "align_answer",
    "locate_answer",
    "postprocess_squad_format",
    "preprocess_squad_format",
]


def locate_answer(context: str, answer: str, hint_start: int | None = None) -> int | None:
    """The character start of ``answer`` in ``context``, or ``None`` when it is not there.

    ``hint_start`` wins when ``context`` really holds ``answer`` there. Otherwise, with a hint, the
    occurrence nearest to it is taken (a shifted offset still finds its own mention); without a
    hint, the first occurrence. The match is exact (case and whitespace count).
    """
    if not isinstance(context, str) or not isinstance(answer, str) or not answer:
        return None
    if isinstance(hint_start, int) and not isinstance(hint_start, bool) and hint_start >= 0:
        if context[hint_start : hint_start + len(answer)] == answer:
            return hint_start
        starts = []
        position = context.find(answer)
        while position != -1:
            starts.append(position)
            position = context.find(answer, position + 1)
        if not starts:
            return None
        return min(starts, key=lambda s: (abs(s - hint_start), s))
    position = context.find(answer)
    return position if position != -1 else None


def align_answer(context: str, answer: str, hint_start: int | None = None) -> tuple[str, int] | None:
    """Like :func:`locate_answer`, but tolerant: returns ``(text_in_context, start)``.

    When the exact text is not in the context, the answer is matched ignoring case and runs of
    whitespace, and surrounding quotes and a final period are stripped; the returned text is the
    context's own spelling, so it is valid SQuAD. ``None`` when nothing matches.
    """
    start = locate_answer(context, answer, hint_start)
    if start is not None:
        return answer, start
    if not isinstance(context, str) or not isinstance(answer, str):
        return None
    cleaned = answer.strip().strip("\"'“”‘’`").strip()
    cleaned = cleaned[:-1].rstrip() if cleaned.endswith(".") else cleaned
    words = cleaned.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
    matches = list(pattern.finditer(context))
    if not matches:
        return None
    if isinstance(hint_start, int) and not isinstance(hint_start, bool):
        best = min(matches, key=lambda m: (abs(m.start() - hint_start), m.start()))
    else:
        best = matches[0]
    return best.group(0), best.start()


def preprocess_squad_format(
    dataset: Any,
    *,
    answers_column: str = "answers",
    answer_column: str = "answer",
    answer_start_column: str = "answer_start",
) -> Any:
    """Flatten SQuAD ``answers`` into ``answer`` (first text) and ``answer_start`` (int start)."""
    from datasets import Value

    require_columns(dataset, answers_column)

    def convert(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        texts, starts = [], []
        for answers, row in zip(batch[answers_column], indices, strict=True):
            if not isinstance(answers, dict) or "text" not in answers:
                raise ConfigError(
                    f"row {row}: {answers_column!r} must be a dict with 'text' and 'answer_start', "
                    f"got {answers!r}"
                )
            text_list = list(answers.get("text") or [])
            start_list = list(answers.get("answer_start") or [])
            texts.append(text_list[0] if text_list else None)
            starts.append(int(start_list[0]) if text_list and start_list else None)
        return {answer_column: texts, answer_start_column: starts}

    features = dataset.features.copy()
    del features[answers_column]
    features[answer_column] = Value("string")
    features[answer_start_column] = Value("int64")
    return dataset.map(
        convert,
        batched=True,
        with_indices=True,
        remove_columns=[answers_column],
        features=features,
        desc="flatten SQuAD answers",
    )


@dataclass(frozen=True)
class _Locating:
    """How ``postprocess_squad_format`` finds an answer's start: located, repaired, or trusted."""

    context_column: str
    locate: bool
    tolerant: bool


def _answer_position(context: str, answer: str, hint: Any, how: _Locating) -> tuple[str, Any] | str:
    """The answer's text and start in ``context``, or why there is none."""
    if not how.locate:
        if not isinstance(hint, int) or isinstance(hint, bool) or hint < 0:
            return f"answer_start {hint!r} is not a valid offset"
        return answer, hint
    if how.tolerant:
        aligned = align_answer(context, answer, hint)
    else:
        start = locate_answer(context, answer, hint)
        aligned = None if start is None else (answer, start)
    if aligned is None:
        return f"answer {answer!r} is not in the context"
    return aligned


def _squad_answer(
    context: Any, answer: Any, hint: Any, how: _Locating
) -> tuple[dict[str, list[Any]], str | None]:
    """One row's SQuAD ``answers`` and its error (``None`` when good)."""
    empty: dict[str, list[Any]] = {"text": [], "answer_start": []}
    if answer is None:
        return empty, None
    if not isinstance(context, str):
        return empty, f"{how.context_column!r} is not text: {context!r}"
    if not isinstance(answer, str) or not answer.strip():
        return empty, f"the answer is empty or not text: {answer!r}"
    position = _answer_position(context, answer, hint, how)
    if isinstance(position, str):
        return empty, position
    text, start = position
    if context[start : start + len(text)] != text:
        return empty, (
            f"answer {text!r} is not at answer_start {start} "
            f"(the context has {context[start : start + len(text)]!r} there)"
        )
    return {"text": [text], "answer_start": [start]}, None


def postprocess_squad_format(
    dataset: Any,
    add_answer_start: bool = True,
    *,
    context_column: str = "context",
    answer_column: str = "answer",
    answer_start_column: str = "answer_start",
    answers_column: str = "answers",
    error_column: str = "error",
    tolerant: bool = False,
) -> Any:
    """Build SQuAD ``answers`` from ``answer`` (+ ``answer_start``) and validate every start.

    ``add_answer_start=True`` locates the answer in the context (using ``answer_start`` as a hint
    when that column exists); ``False`` trusts ``answer_start`` but still validates it. With
    ``tolerant`` a near-miss (case, spacing, quotes) is repaired to the context's spelling via
    :func:`align_answer`. ``answer`` ``None`` means "no answer" (empty lists, no error); an
    answer that is not in the context, or an invalid start, gives empty lists and an ``error``.
    The flat columns are removed; ``error`` is ``None`` on good rows.
    """
    from datasets import Sequence, Value

    require_columns(dataset, context_column, answer_column)
    has_start = answer_start_column in dataset.column_names
    if not add_answer_start and not has_start:
        raise ConfigError(
            f"add_answer_start=False needs an {answer_start_column!r} column",
            hint="use add_answer_start=True to locate the answers in the context",
        )

    how = _Locating(context_column, add_answer_start, tolerant)

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        hints = batch[answer_start_column] if has_start else [None] * len(batch[answer_column])
        answers, errors = [], []
        for context, answer, hint in zip(batch[context_column], batch[answer_column], hints, strict=True):
            value, error = _squad_answer(context, answer, hint, how)
            answers.append(value)
            errors.append(error)
        return {answers_column: answers, error_column: errors}

    removed = [answer_column] + ([answer_start_column] if has_start else [])
    features = dataset.features.copy()
    for column in removed:
        del features[column]
    features[answers_column] = {
        "text": Sequence(Value("string")),
        "answer_start": Sequence(Value("int32")),
    }
    features[error_column] = Value("string")
    return dataset.map(
        convert,
        batched=True,
        remove_columns=removed,
        features=features,
        desc="build SQuAD answers",
    )
