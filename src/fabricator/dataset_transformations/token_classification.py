"""BIO tags <-> entity spans for token classification (NER) datasets: the paper's dataset API.

A model cannot be asked to emit one tag per token reliably; it can list the entities it sees. So
for prompting, token tags become *spans* (:func:`convert_token_labels_to_spans`), and the model's
spans become tags again (:func:`convert_spans_to_token_labels`). The pieces live where they are
shared: ``Span``, tag chunking and the answer parsers in :mod:`fabricator.parsing`, placing spans
on tokens in :mod:`.span_alignment`, ``id2label`` schemes in :mod:`.tag_ids`; they are re-exported
here so the paper's imports keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabricator.dataset_transformations._columns import require_columns
from fabricator.dataset_transformations.span_alignment import spans_to_bio
from fabricator.dataset_transformations.tag_ids import (
    TagSet,
    expanded_types_by_id,
    keyed_by_ids,
    tag_set,
    types_from_tags,
)
from fabricator.errors import ConfigError, ParseError
from fabricator.parsing import (
    Span,
    bio_to_spans,
    parse_entities,
    parse_entity_json,
    parse_span_string,
    spans_to_string,
    tags_to_chunks,
    token_offsets,
)
from fabricator.tables import decode_label, label_names

__all__ = [
    "Span",
    "bio_to_spans",
    "convert_spans_to_token_labels",
    "convert_token_labels_to_spans",
    "parse_entity_json",
    "parse_span_string",
    "spans_to_bio",
    "spans_to_string",
    "tags_to_chunks",
    "token_offsets",
]


def convert_token_labels_to_spans(
    dataset: Any,
    token_column: str,
    label_column: str,
    expanded_label_mapping: Mapping[Any, str] | None = None,
    return_label_options: bool = False,
    *,
    spans_column: str = "spans",
    empty: str = "",
    return_label_mapping: bool = False,
) -> Any:
    """Replace BIO tags by entity spans, for prompting.

    The tags in ``label_column`` may be ids (``Sequence(ClassLabel)``) or strings. Afterwards
    ``label_column`` holds the natural-language span string (``"EU is ORG.\\nGerman is MISC."``,
    ``empty`` for no entities) and ``spans_column`` the structured list of
    ``{"text", "type", "start", "end"}`` with offsets into ``" ".join(tokens)``.
    ``expanded_label_mapping`` renames types (``{"PER": "person"}``), or, as the paper writes it,
    maps each label id to its expanded tag (``{0: "O", 1: "B-person", 2: "I-person", ...}``).

    Returns the dataset, or ``(dataset, label_options)`` with the (expanded) entity types when
    ``return_label_options`` (or ``return_label_mapping``, the paper README's spelling) is set.
    """
    from datasets import Value

    require_columns(dataset, token_column, label_column)
    names = label_names(dataset.features[label_column])
    if names is not None:
        types = types_from_tags(names)
    else:
        types = sorted(types_from_tags(t for row in dataset[label_column] if row for t in row))
    if isinstance(expanded_label_mapping, Mapping) and keyed_by_ids(expanded_label_mapping):
        mapping = expanded_types_by_id(expanded_label_mapping, names)
    else:
        mapping = {str(k): str(v) for k, v in (expanded_label_mapping or {}).items()}
    unknown = [key for key in mapping if key not in types]
    if unknown:
        raise ConfigError(
            f"expanded_label_mapping has keys that are not entity types: {unknown}",
            hint=f"the entity types are {types} (map types, not tags like 'B-PER')",
        )
    options = [mapping.get(t, t) for t in types]

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts, structured = [], []
        for tokens, tags in zip(batch[token_column], batch[label_column], strict=True):
            if tags is None or tokens is None:
                raise ConfigError(f"a row has no {token_column!r} or {label_column!r}")
            if names is not None:
                tags = decode_label(tags, names, column=label_column)
            spans = [
                Span(s.text, mapping.get(s.type, s.type), s.start, s.end) for s in bio_to_spans(tokens, tags)
            ]
            texts.append(spans_to_string(spans, empty=empty))
            structured.append([s.to_dict() for s in spans])
        return {label_column: texts, spans_column: structured}

    features = dataset.features.copy()
    features[label_column] = Value("string")
    features[spans_column] = [
        {
            "text": Value("string"),
            "type": Value("string"),
            "start": Value("int32"),
            "end": Value("int32"),
        }
    ]
    converted = dataset.map(convert, batched=True, features=features, desc="tags -> spans")
    if return_label_options or return_label_mapping:
        return converted, options
    return converted


def _paper_call(
    spans_column: str | None,
    label_options: Sequence[str] | Mapping[Any, str] | None,
    id2label: Mapping[int, str] | Sequence[str] | None,
    label_column: str | None,
) -> tuple[str, Sequence[str] | None, Mapping[int, str] | Sequence[str] | None, str]:
    """Read the paper's signature ``(dataset, token_column, label_column, id2label)`` and ours.

    Returns ``(spans_column, label_options, id2label, label_column)``.
    """
    paper_positional = isinstance(label_options, Mapping)
    if isinstance(label_options, Mapping):
        if id2label is not None:
            raise ConfigError(
                "id2label is given twice (as the fourth argument and as id2label=)",
                hint="pass it once",
            )
        if not keyed_by_ids(label_options):
            raise ConfigError(
                f"label_options must be a list of entity types, got a dict {dict(label_options)!r}",
                hint="pass id -> tag as id2label={0: 'O', 1: 'B-PER', ...} or type -> name as "
                "expanded_label_mapping={'PER': 'person'}",
            )
        id2label, label_options = label_options, None
    elif isinstance(label_options, (str, bytes)):
        raise ConfigError(
            f"label_options must be a list of entity types, got the string {label_options!r}",
            hint="e.g. ['PER', 'ORG', 'LOC', 'MISC']",
        )
    if spans_column is None:
        if label_column is None:
            raise ConfigError(
                "name the column that holds the spans",
                hint="convert_spans_to_token_labels(dataset, 'tokens', 'ner_tags', id2label)",
            )
        spans_column = label_column  # the paper's call: tags replace the spans in that column
    if label_column is None:
        label_column = spans_column if paper_positional else "ner_tags"
    return spans_column, label_options, id2label, label_column


def _row_spans(
    value: Any, types: tuple[Sequence[str] | None, Mapping[str, str] | None]
) -> tuple[list[Any], list[str]]:
    """``(spans, errors)`` of one row's value: a model answer, a list, or a dict of lists."""
    if isinstance(value, str):
        spans, errors = parse_entities(value, *types)
        return list(spans), errors
    if isinstance(value, Mapping) and isinstance(value.get("text"), list):
        # a Sequence({...}) feature gives a dict of lists: one dict per span again
        keys = list(value)
        return [dict(zip(keys, values, strict=True)) for values in zip(*value.values(), strict=False)], []
    return list(value), []


def _check_expanded_mapping(expanded_label_mapping: Mapping[str, str] | None) -> None:
    if isinstance(expanded_label_mapping, Mapping) and keyed_by_ids(expanded_label_mapping):
        raise ConfigError(
            "expanded_label_mapping is keyed by label ids here; it maps entity types to names",
            hint="pass the ids -> tags as id2label= (e.g. id2label={0: 'O', 1: 'B-person', ...})",
        )


@dataclass(frozen=True)
class _RowTagger:
    """One row's tags from its spans (BIO strings, or ids with ``tags_out``), or why there are none."""

    token_column: str
    label_options: Any
    expanded_label_mapping: Mapping[str, str] | None
    tags_out: TagSet | None

    def tag(self, tokens: Any, value: Any) -> tuple[list[Any] | None, str | None]:
        if tokens is None:
            return None, f"no {self.token_column!r}"
        if value is None:
            return None, "no spans (the answer is missing)"
        try:
            spans, errors = _row_spans(value, (self.label_options, self.expanded_label_mapping))
            tags, place_errors = spans_to_bio(
                tokens,
                spans,
                label_types=self.label_options,
                expanded_label_mapping=self.expanded_label_mapping,
            )
        except (ParseError, ConfigError) as exc:
            return None, exc.message
        errors += place_errors
        if errors:
            return None, "; ".join(errors)
        return (tags, None) if self.tags_out is None else self.tags_out.encode(tags)


def convert_spans_to_token_labels(
    dataset: Any,
    token_column: str,
    spans_column: str | None = None,
    label_options: Sequence[str] | Mapping[int, str] | None = None,
    *,
    id2label: Mapping[int, str] | Sequence[str] | None = None,
    expanded_label_mapping: Mapping[str, str] | None = None,
    label_column: str | None = None,
    error_column: str = "error",
) -> Any:
    """Turn entity spans (e.g. from a model) back into tags.

    ``spans_column`` holds, per row, a list of ``{"text", "type"[, "start", "end"]}`` or a model
    answer as a string (a JSON list, or ``"<text> is <type>."`` lines, the paper's
    ``"EU is ORG entity."`` included). ``label_options`` are the allowed types (original or expanded
    names; ``expanded_label_mapping`` maps type -> expanded name). With ``id2label``
    (``{0: "O", 1: "B-PER", ...}`` or ``["O", "B-PER", ...]``; BIO, BIOES or bare types, see
    :mod:`.tag_ids`) the tags are written as ``ClassLabel`` ids and its types are the default
    ``label_options``; otherwise BIO strings, to ``label_column`` (default ``"ner_tags"``).

    The paper's call ``convert_spans_to_token_labels(dataset, token_column, label_column,
    id2label)`` works as the paper documents it: the spans are read from ``label_column`` and the
    tag ids written there. A token column holding sentences as strings (the paper's
    ``convert_token_labels_to_spans`` joins them) is split on whitespace into token lists.

    Rows whose spans cannot be placed (see :mod:`.span_alignment`) or parsed keep ``None`` tags and
    a message in ``error_column``; every other row has ``None`` there. Rows are never dropped.
    """
    from datasets import ClassLabel, Value
    from datasets import Sequence as HFSequence

    spans_column, label_options, id2label, label_column = _paper_call(
        spans_column, label_options, id2label, label_column
    )
    _check_expanded_mapping(expanded_label_mapping)
    require_columns(dataset, token_column, spans_column)
    tags_out: TagSet | None = tag_set(id2label) if id2label is not None else None
    if tags_out is not None and label_options is None:
        label_options = tags_out.types()
    tagger = _RowTagger(token_column, label_options, expanded_label_mapping, tags_out)
    split_tokens = isinstance(dataset.features[token_column], Value)

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {label_column: [], error_column: []}
        tokens_list = [t.split() if isinstance(t, str) else t for t in batch[token_column]]
        for tokens, value in zip(tokens_list, batch[spans_column], strict=True):
            tags, error = tagger.tag(tokens, value)
            out[label_column].append(tags)
            out[error_column].append(error)
        if split_tokens:
            out[token_column] = tokens_list
        return out

    features = dataset.features.copy()
    if tags_out is not None:
        features[label_column] = HFSequence(ClassLabel(names=list(tags_out.names)))
    else:
        features[label_column] = HFSequence(Value("string"))
    features[error_column] = Value("string")
    if split_tokens:
        features[token_column] = HFSequence(Value("string"))
    return dataset.map(convert, batched=True, features=features, desc="spans -> tags")
