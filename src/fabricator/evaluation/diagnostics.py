"""Cheap checks of a text dataset, no model needed: labels, duplicates, lengths, diversity.

* label distribution: count and share of every label (``ClassLabel`` ids shown as names).
* duplicate rate: the share of rows whose text repeats an earlier row's text exactly after
  normalisation (lowercase, whitespace runs collapsed to one space, ends stripped):
  ``(rows - distinct normalised texts) / rows``.
* length: words per text (normalised text split on whitespace): mean, median, p10, p90, min, max
  (percentiles with linear interpolation, as ``numpy.percentile``).
* distinct-n (Li et al., 2016): distinct n-grams / all n-grams over the whole dataset, for n = 1
  and 2, on the same whitespace tokens. 1.0 means no n-gram repeats; low values mean the texts
  reuse the same words and phrases.

:func:`compare` puts a generated dataset next to a gold one and adds the share of generated
texts that also occur (normalised) in the gold data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from fabricator.errors import ConfigError
from fabricator.parsing import normalize_text
from fabricator.tables import decode_labels, label_names

__all__ = [
    "compare",
    "diagnose",
    "distinct_n",
    "duplicate_rate",
    "label_distribution",
    "length_stats",
    "normalize_text",
]


def _tokens(text: str) -> list[str]:
    return normalize_text(text).split()


def duplicate_rate(texts: Sequence[str]) -> float:
    """Share of texts that repeat an earlier one after :func:`normalize_text` (0.0 when empty)."""
    if not texts:
        return 0.0
    return (len(texts) - len({normalize_text(t) for t in texts})) / len(texts)


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    """Words per text: ``mean``, ``median``, ``p10``, ``p90``, ``min``, ``max`` (0 when empty)."""
    import numpy as np

    if not texts:
        return {k: 0.0 for k in ("mean", "median", "p10", "p90", "min", "max")}
    lengths = np.array([len(_tokens(t)) for t in texts], dtype=float)
    return {
        "mean": float(lengths.mean()),
        "median": float(np.median(lengths)),
        "p10": float(np.percentile(lengths, 10)),
        "p90": float(np.percentile(lengths, 90)),
        "min": float(lengths.min()),
        "max": float(lengths.max()),
    }


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct ``n``-grams / total ``n``-grams over all texts (0.0 when there are none)."""
    if n < 1:
        raise ConfigError(f"distinct-n needs n >= 1, got {n}")
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        tokens = _tokens(text)
        grams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def label_distribution(dataset: Any, label_column: str = "label") -> dict[str, dict[str, float]]:
    """``{label: {"count": c, "share": c / rows}}`` in ClassLabel order, else by count then name.

    Unlabeled rows (``None`` / ``-1``) are counted under ``"(none)"``.
    """

    if label_column not in dataset.column_names:
        have = ", ".join(repr(c) for c in dataset.column_names) or "(none)"
        raise ConfigError(
            f"no label column {label_column!r}; the columns are: {have}",
            hint="name it with label_column / --label-column",
        )
    order = label_names(dataset.features[label_column]) or []
    names = ["(none)" if v is None else str(v) for v in decode_labels(dataset, label_column)]
    counts = Counter(names)
    keys = [n for n in order if n in counts] + sorted(
        (n for n in counts if n not in order), key=lambda n: (-counts[n], n)
    )
    total = len(names)
    return {k: {"count": counts[k], "share": counts[k] / total if total else 0.0} for k in keys}


def _texts(dataset: Any, text_column: str) -> list[str]:
    if text_column not in dataset.column_names:
        have = ", ".join(repr(c) for c in dataset.column_names) or "(none)"
        raise ConfigError(
            f"no text column {text_column!r}; the columns are: {have}",
            hint="name it with text_column / --text-column",
        )
    return [t if isinstance(t, str) else "" for t in dataset[text_column]]


def diagnose(
    dataset: Any, *, text_column: str = "text", label_column: str | None = "label"
) -> dict[str, Any]:
    """All diagnostics of one dataset as a JSON-ready dict.

    Keys: ``rows``, ``labels`` (see :func:`label_distribution`; omitted when ``label_column`` is
    ``None`` or absent), ``duplicate_rate``, ``duplicates`` (rows), ``length`` (see
    :func:`length_stats`), ``distinct_1``, ``distinct_2``.
    """
    texts = _texts(dataset, text_column)
    rate = duplicate_rate(texts)
    result: dict[str, Any] = {"rows": len(texts)}
    if label_column is not None and label_column in dataset.column_names:
        result["labels"] = label_distribution(dataset, label_column)
    result.update(
        {
            "duplicate_rate": rate,
            "duplicates": round(rate * len(texts)),
            "length": length_stats(texts),
            "distinct_1": distinct_n(texts, 1),
            "distinct_2": distinct_n(texts, 2),
        }
    )
    return result


def compare(
    generated: Any,
    gold: Any,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
) -> dict[str, Any]:
    """Diagnostics of ``generated`` and ``gold`` side by side.

    Returns ``{"generated": ..., "gold": ..., "overlap_with_gold": share of generated rows whose
    normalised text occurs in gold, "label_share_difference": {label: generated share - gold
    share}}``.
    """
    result: dict[str, Any] = {
        "generated": diagnose(generated, text_column=text_column, label_column=label_column),
        "gold": diagnose(gold, text_column=text_column, label_column=label_column),
    }
    gold_texts = {normalize_text(t) for t in _texts(gold, text_column)}
    gen_texts = _texts(generated, text_column)
    result["overlap_with_gold"] = (
        sum(normalize_text(t) in gold_texts for t in gen_texts) / len(gen_texts) if gen_texts else 0.0
    )
    gen_labels = result["generated"].get("labels", {})
    gold_labels = result["gold"].get("labels", {})
    result["label_share_difference"] = {
        k: gen_labels.get(k, {}).get("share", 0.0) - gold_labels.get(k, {}).get("share", 0.0)
        for k in list(dict.fromkeys([*gold_labels, *gen_labels]))
    }
    return result
