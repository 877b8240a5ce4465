"""What reviewers label in a run: one class per row, or entity spans over the row's tokens.

A task knows its Label Studio labeling config, turns a row's label into a pre-annotation (Label
Studio result items, Argilla suggestion value) and turns a reviewer's answer back into the row's
label column. It is found from the run's features (``ClassLabel`` names) and its ``recipe.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from xml.sax.saxutils import quoteattr

from ...errors import ConfigError
from ...tables import label_names
from .spans import Span, bio_to_spans, joined_text, spans_to_bio

__all__ = ["ClassificationTask", "EntityTask", "ReviewTask", "detect_task"]

#: the control (Label Studio ``from_name``) and text (``to_name``) of every labeling config we write
CONTROL = "label"
TEXT = "text"
#: columns that describe a row's label, never shown as its text
_NOT_TEXT = {"confidence"}


class ReviewTask(Protocol):
    kind: str
    column: str  # the dataset column reviewers correct

    def data(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """What a reviewer reads: text fields by name."""
        ...

    def label_config(self) -> str: ...

    def results(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The row's label as Label Studio result items (the pre-annotation)."""
        ...

    def from_results(self, results: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> tuple[bool, Any]:
        """(answered, value of ``column``) from a reviewer's result items."""
        ...

    def suggestion(self, row: Mapping[str, Any]) -> Any:
        """The row's label as an Argilla suggestion value (None when there is none)."""
        ...

    def argilla_question(self) -> dict[str, Any]: ...


def _options(labels: Sequence[str]) -> list[dict[str, Any]]:
    return [{"value": label, "text": label, "description": None} for label in labels]


@dataclass
class ClassificationTask:
    """One label per row out of ``labels``; the row's string columns are what reviewers read."""

    column: str
    labels: list[str]
    text_columns: list[str]
    kind: str = "classification"

    def data(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: row.get(name) or "" for name in self.text_columns}

    def label_config(self) -> str:
        many = len(self.text_columns) > 1  # a header names each text when there are several
        texts = "".join(
            (f"  <Header value={quoteattr(name)}/>\n" if many else "")
            + f'  <Text name={quoteattr(name)} value="${name}"/>\n'
            for name in self.text_columns
        )
        choices = "".join(f"    <Choice value={quoteattr(label)}/>\n" for label in self.labels)
        return (
            f"<View>\n{texts}"
            f'  <Choices name="{CONTROL}" toName={quoteattr(self.text_columns[0])} choice="single" '
            f'showInLine="true">\n{choices}  </Choices>\n</View>'
        )

    def results(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        label = row.get(self.column)
        if label is None:
            return []
        return [
            {
                "from_name": CONTROL,
                "to_name": self.text_columns[0],
                "type": "choices",
                "value": {"choices": [label]},
            }
        ]

    def from_results(self, results: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> tuple[bool, Any]:
        for item in results:
            choices = (item.get("value") or {}).get("choices") or []
            if item.get("from_name") == CONTROL and choices:
                if choices[0] not in self.labels:
                    raise ConfigError(
                        f"a reviewer chose {choices[0]!r}, which is not one of the labels {self.labels}",
                        hint="keep the project's labeling config as Fabricator wrote it",
                    )
                return True, choices[0]
        return False, row.get(self.column)  # submitted without a choice: not an answer

    def suggestion(self, row: Mapping[str, Any]) -> Any:
        return row.get(self.column)

    def argilla_question(self) -> dict[str, Any]:
        return _question(CONTROL, {"type": "label_selection", "options": _options(self.labels)})


@dataclass
class EntityTask:
    """BIO tags in ``column`` over ``tokens_column``; reviewers mark spans of the joined tokens."""

    column: str
    tokens_column: str
    types: list[str]
    kind: str = "entities"

    def data(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {TEXT: joined_text(row.get(self.tokens_column) or [])}

    def label_config(self) -> str:
        labels = "".join(f"    <Label value={quoteattr(t)}/>\n" for t in self.types)
        return (
            f'<View>\n  <Labels name="{CONTROL}" toName="{TEXT}">\n{labels}  </Labels>\n'
            f'  <Text name="{TEXT}" value="${TEXT}"/>\n</View>'
        )

    def _spans(self, row: Mapping[str, Any]) -> list[Span]:
        return bio_to_spans(row.get(self.tokens_column) or [], row.get(self.column) or [])

    def results(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        text = joined_text(row.get(self.tokens_column) or [])
        return [
            {
                "id": f"s{n}",
                "from_name": CONTROL,
                "to_name": TEXT,
                "type": "labels",
                "value": {"start": s.start, "end": s.end, "text": text[s.start : s.end], "labels": [s.label]},
            }
            for n, s in enumerate(self._spans(row))
        ]

    def from_results(self, results: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> tuple[bool, Any]:
        spans = []
        for item in results:
            value = item.get("value") or {}
            labels = value.get("labels") or []
            if item.get("from_name") != CONTROL or not labels or "start" not in value:
                continue
            if labels[0] not in self.types:
                raise ConfigError(
                    f"a reviewer used the entity type {labels[0]!r}, not one of {self.types}",
                    hint="keep the project's labeling config as Fabricator wrote it",
                )
            spans.append(Span(int(value["start"]), int(value["end"]), labels[0]))
        return True, spans_to_bio(row.get(self.tokens_column) or [], spans)  # no spans: no entities

    def suggestion(self, row: Mapping[str, Any]) -> Any:
        return [{"label": s.label, "start": s.start, "end": s.end} for s in self._spans(row)]

    def argilla_question(self) -> dict[str, Any]:
        settings = {
            "type": "span",
            "allow_overlapping": False,
            "field": TEXT,
            "options": _options(self.types),
        }
        return _question("entities", settings)


def _question(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "settings": settings, "title": name, "description": None, "required": True}


# --- finding the task of a run ----------------------------------------------------------------------


def detect_task(features: Mapping[str, Any], recipe: Mapping[str, Any]) -> ClassificationTask | EntityTask:
    """The task of a run from its features and recipe; ConfigError when there is nothing to review."""
    fmt = recipe.get("output_format") or {}
    prompt = recipe.get("prompt") or {}
    tagged = {c: names for c, f in features.items() if _is_sequence(f) and (names := label_names(f))}
    if fmt.get("kind") == "entities" or tagged:
        column = fmt.get("tags_column") or next(iter(tagged), "ner_tags")
        tokens = fmt.get("tokens_column") or "tokens"
        if column not in features or tokens not in features:
            raise ConfigError(
                f"the run has no {column!r} and {tokens!r} columns to review",
                hint="review the output folder of an entity annotation run",
            )
        types = list(fmt.get("types") or _types(tagged.get(column) or []))
        return EntityTask(column=column, tokens_column=tokens, types=types)
    classes = {c: names for c, f in features.items() if not _is_sequence(f) and (names := label_names(f))}
    wanted = prompt.get("generate_data_for_column")
    column = next((c for c in (wanted, "label") if c in classes), None) or next(iter(classes), None)
    if column is None and wanted in features and prompt.get("label_options"):
        column = wanted
    if column is None and "label" in features and prompt.get("label_options"):
        column = "label"
    if column is None:
        raise ConfigError(
            f"no label column to review in this run (columns: {', '.join(features)})",
            hint="review the output folder of a run with label options (a classification or NER recipe)",
        )
    labels = classes.get(column) or [str(x) for x in prompt.get("label_options") or []]
    texts = [c for c, f in features.items() if c != column and c not in _NOT_TEXT and _is_string(f)]
    if not texts:
        raise ConfigError(f"the run has no text column beside {column!r} to show reviewers")
    return ClassificationTask(column=column, labels=labels, text_columns=texts)


def _types(tags: Sequence[str]) -> list[str]:
    """Entity types from BIO tag names, in their order (``B-PER``, ``I-PER``, ``B-ORG`` -> PER, ORG)."""
    found: list[str] = []
    for tag in tags:
        kind, _, label = tag.partition("-")
        if kind in ("B", "I") and label and label not in found:
            found.append(label)
    return found


def _is_sequence(feature: Any) -> bool:
    return hasattr(feature, "feature") or isinstance(feature, list)


def _is_string(feature: Any) -> bool:
    return getattr(feature, "dtype", None) in ("string", "large_string")


_NAME = re.compile(r"[^a-z0-9_-]+")


def argilla_name(column: str) -> str:
    """A field name Argilla accepts (lowercase letters, digits, ``_`` and ``-``)."""
    return _NAME.sub("_", column.lower()).strip("_") or "text"
