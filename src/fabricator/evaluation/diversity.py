"""How varied is a dataset? Word and embedding diversity, class and attribute counts, nearness to gold.

:func:`diversity` returns a JSON-ready dict (written by ``fabricator evaluate diversity``, added to
the ``evaluate student`` diagnostics, and meant for a run's ``metadata.json``):

* ``rows``; ``distinct_1`` / ``distinct_2`` / ``distinct_3``: distinct n-grams / all n-grams over
  the whole dataset (whitespace tokens of the normalised text, as in
  :mod:`fabricator.evaluation.diagnostics`); ``duplicate_rate``: normalised exact repeats.
* ``embedding_spread``: the mean cosine distance (1 - cosine similarity) over all pairs of distinct
  rows, on sentence embeddings (default: the bundled all-MiniLM-L6-v2). 0 means every text says the
  same thing; near 1, unrelated texts. Over ``max_pairs_rows`` rows, a seeded sample of rows is
  used: ``spread_rows`` says how many (``rows`` when all).
* ``per_class``: ``{label: rows}`` (most frequent first; unlabeled rows as ``"(none)"``);
  ``per_attribute``: ``{attribute: {value: rows}}`` from the per-row attributes a run records in
  its provenance (rows without them are skipped). ``None`` when not given.
* with gold texts: ``nearest_gold``, the mean over the (sampled) generated rows of the highest
  cosine similarity to any gold text (1.0: every row is in the gold set), and
  ``near_gold_copies``, the share of rows whose nearest gold text has similarity >= 0.95, i.e.
  (near) copies of gold; ``gold_rows``: the gold texts compared with (a seeded sample beyond
  ``max_gold_rows``).
* ``embedder``: which encoder made the embedding figures; ``embedding_note``: why they are
  ``None`` (skipped, fewer than two rows, or sentence-transformers / the bundled model missing:
  ``pip install 'fabricator-data[student]'``).

Distances use unit vectors, so the mean pairwise similarity is ``(|sum u|^2 - sum |u|^2) /
(n (n - 1))``: one pass, no n x n matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from fabricator.errors import ConfigError, FabricatorError
from fabricator.evaluation.diagnostics import distinct_n, duplicate_rate
from fabricator.evaluation.plain_text import text_table
from fabricator.samplers import similar
from fabricator.samplers.similar import Embedder, unit_rows
from fabricator.tables import decode_labels, read_records

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "NEAR_COPY",
    "Sampling",
    "SamplingOptions",
    "attributes_from_provenance",
    "compare_diversity",
    "count_values",
    "diversity",
    "diversity_of_file",
    "format_diversity",
]

#: nearest-gold similarity from which a generated row counts as a (near) copy of a gold text
NEAR_COPY = 0.95
_MINILM = "all-MiniLM-L6-v2"


def count_values(values: Sequence[Any]) -> dict[str, int]:
    """``{value: rows}``, most frequent first, then by name; ``None`` counts as ``"(none)"``."""
    counts = Counter("(none)" if v is None else str(v) for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _per_attribute(attributes: Sequence[Mapping[str, Any] | None]) -> dict[str, dict[str, int]]:
    values: dict[str, list[Any]] = {}
    for row in attributes:
        for name, value in (row or {}).items():
            values.setdefault(str(name), []).append(value)
    return {name: count_values(found) for name, found in values.items()}


def attributes_from_provenance(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """The ``attributes`` dict of each provenance record (one per data row, in order), else None."""
    found: list[dict[str, Any] | None] = []
    for record in records:
        value = record.get("attributes") if isinstance(record, Mapping) else None
        found.append(dict(value) if isinstance(value, Mapping) else None)
    return found


def _embed(texts: Sequence[str], embedder: Embedder) -> Any:
    """Unit vectors, one per text; each distinct text is embedded once."""
    import numpy as np

    distinct = list(dict.fromkeys(texts))
    if not distinct:
        return np.zeros((0, 1))
    vectors = unit_rows(embedder(distinct), len(distinct), purpose="diversity")
    where = {t: i for i, t in enumerate(distinct)}
    return vectors[[where[t] for t in texts]]


def _sample(count: int, limit: int, seed: int) -> list[int]:
    """All indices, or ``limit`` of them drawn with ``seed`` (in order)."""
    import numpy as np

    if count <= limit:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size=limit, replace=False))


def _spread(vectors: Any) -> float | None:
    n = len(vectors)
    if n < 2:
        return None
    total = vectors.sum(axis=0)
    similarity = (float(total @ total) - float((vectors * vectors).sum())) / (n * (n - 1))
    return max(0.0, 1.0 - similarity)


def _embedder_name(embedder: Embedder | None) -> str:
    if embedder is None:
        return _MINILM
    return str(getattr(embedder, "__name__", None) or type(embedder).__name__)


def _check_length(name: str, values: Sequence[Any] | None, rows: int) -> None:
    if values is not None and len(values) != rows:
        raise ConfigError(
            f"diversity got {len(values)} {name} for {rows} texts",
            hint=f"give one {name[:-1]} entry per text, in the same order",
        )


@dataclass(frozen=True)
class Sampling:
    """How many rows the embedding figures use: at most ``max_pairs_rows`` generated rows and
    ``max_gold_rows`` gold texts, drawn with ``seed`` beyond that."""

    max_pairs_rows: int = 2000
    max_gold_rows: int = 10000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_pairs_rows < 2 or self.max_gold_rows < 1:
            raise ConfigError(
                f"diversity needs max_pairs_rows >= 2 and max_gold_rows >= 1, got {self.max_pairs_rows} "
                f"and {self.max_gold_rows}",
                hint="raise the limits",
            )


class SamplingOptions(TypedDict, total=False):
    """``Sampling``'s fields as keyword arguments of :func:`diversity`."""

    max_pairs_rows: int
    max_gold_rows: int
    seed: int


def diversity(
    texts: Sequence[str],
    *,
    labels: Sequence[Any] | None = None,
    attributes: Sequence[Mapping[str, Any] | None] | None = None,
    gold_texts: Sequence[str] | None = None,
    embedder: Embedder | None = None,
    embeddings: bool = True,
    **sampling: Unpack[SamplingOptions],
) -> dict[str, Any]:
    """The diversity report of ``texts`` as a JSON-ready dict (fields: see the module docstring).

    ``labels`` and ``attributes`` (one per text; an attribute entry may be ``None``) give the
    per-class and per-attribute counts. ``embeddings=False`` skips the embedding figures (no
    model loaded). ``embedder`` maps texts to a 2-D array (default: the bundled MiniLM; when
    its packages are missing the embedding figures are ``None`` and ``embedding_note`` says why).
    ``max_pairs_rows``, ``max_gold_rows`` and ``seed``: :class:`Sampling`.
    """
    limits = Sampling(**sampling)
    texts = [t if isinstance(t, str) else "" for t in texts]
    _check_length("labels", labels, len(texts))
    _check_length("attributes", attributes, len(texts))
    result: dict[str, Any] = {
        "rows": len(texts),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "duplicate_rate": duplicate_rate(texts),
        "per_class": count_values(labels) if labels is not None else None,
        "per_attribute": _per_attribute(attributes) if attributes is not None else None,
        "embedding_spread": None,
        "spread_rows": 0,
    }
    if gold_texts is not None:
        result.update({"nearest_gold": None, "near_gold_copies": None, "gold_rows": 0})
    if not embeddings:
        result["embedding_note"] = "embeddings skipped"
        return result
    result.update(_embedding_figures(texts, gold_texts, embedder, limits))
    return result


def _embedding_figures(
    texts: list[str], gold_texts: Sequence[str] | None, embedder: Embedder | None, limits: Sampling
) -> dict[str, Any]:
    """The spread and nearest-gold figures, or the note saying why there are none."""
    picked = [texts[i] for i in _sample(len(texts), limits.max_pairs_rows, limits.seed)]
    gold = [str(t) for t in gold_texts or []]
    gold = [gold[i] for i in _sample(len(gold), limits.max_gold_rows, limits.seed)]
    try:
        vectors = _embed(picked, embedder or _default_embedder())
        gold_vectors = _embed(gold, embedder or _default_embedder()) if gold and picked else None
    except (ConfigError, ImportError) as exc:
        if embedder is not None:
            raise
        why = str(exc)
        if isinstance(exc, FabricatorError):
            why = exc.message + (f" (fix: {exc.hint})" if exc.hint else "")
        return {"embedding_note": f"no embedding figures: {why}"}
    found: dict[str, Any] = {
        "embedder": _embedder_name(embedder),
        "embedding_spread": _spread(vectors),
        "spread_rows": len(picked),
    }
    if found["embedding_spread"] is None:
        found["embedding_note"] = "embedding spread needs at least two rows"
    if gold_vectors is not None:
        nearest = (vectors @ gold_vectors.T).max(axis=1)
        found["nearest_gold"] = min(1.0, float(nearest.mean()))
        found["near_gold_copies"] = float((nearest >= NEAR_COPY - 1e-6).mean())
        found["gold_rows"] = len(gold)
    return found


def _default_embedder() -> Embedder:
    return similar.minilm_embedder  # looked up per call: tests replace it


def _dataset_columns(dataset: Any, text_column: str, label_column: str | None) -> tuple[list[Any], Any]:
    texts = list(dataset[text_column]) if text_column in dataset.column_names else []
    if label_column is None or label_column not in dataset.column_names:
        return texts, None
    return texts, decode_labels(dataset, label_column)


def compare_diversity(
    generated: Any,
    gold: Any,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    **options: Any,
) -> dict[str, Any]:
    """``{"generated": ..., "gold": ...}``: :func:`diversity` of two datasets, the generated one
    with its nearest-gold figures against ``gold``. ``options`` go to :func:`diversity`."""
    texts, labels = _dataset_columns(generated, text_column, label_column)
    gold_texts, gold_labels = _dataset_columns(gold, text_column, label_column)
    return {
        "generated": diversity(texts, labels=labels, gold_texts=gold_texts, **options),
        "gold": diversity(gold_texts, labels=gold_labels, **options),
    }


# --- files --------------------------------------------------------------------------------------


def _column(rows: Sequence[Mapping[str, Any]], column: str, path: Path, flag: str) -> list[Any]:
    have = list(dict.fromkeys(c for row in rows for c in row))
    if column not in have:
        raise ConfigError(
            f"{path} has no column {column!r}; the columns are: {', '.join(map(repr, have)) or '(none)'}",
            hint=f"name it with {flag}",
        )
    return [row.get(column) for row in rows]


def diversity_of_file(
    data: str | Path,
    *,
    gold: str | Path | None = None,
    text_column: str = "text",
    label_column: str | None = "label",
    provenance: str | Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`diversity` of a data file or a Fabricator output folder (its ``data.jsonl``).

    Labels come from ``label_column`` when the data has it; attributes from ``provenance`` (a
    ``provenance.jsonl``, one record per data row; for a folder, its own when present). ``options``
    go to :func:`diversity`. The result also names the files read.
    """
    path = Path(data)
    if path.is_dir() and (path / "data.jsonl").is_file():
        if provenance is None and (path / "provenance.jsonl").is_file():
            provenance = path / "provenance.jsonl"
        path = path / "data.jsonl"
    rows = read_records(path)
    texts = _column(rows, text_column, path, "--text-column")
    has_labels = label_column is not None and any(label_column in row for row in rows)
    labels = [row.get(label_column) for row in rows] if has_labels and label_column else None
    attributes = None
    if provenance is not None:
        records = read_records(provenance)
        if len(records) != len(rows):
            raise ConfigError(
                f"{provenance} has {len(records)} records for the {len(rows)} rows of {path}",
                hint="give the provenance.jsonl written with this data (one record per row)",
            )
        attributes = attributes_from_provenance(records)
        if all(a is None for a in attributes):
            attributes = None
    gold_texts = None
    if gold is not None:
        gold_path = Path(gold)
        if gold_path.is_dir() and (gold_path / "data.jsonl").is_file():
            gold_path = gold_path / "data.jsonl"
        gold_texts = _column(read_records(gold_path), text_column, gold_path, "--text-column")
    result = diversity(texts, labels=labels, attributes=attributes, gold_texts=gold_texts, **options)
    sources = {"data": str(path), "provenance": str(provenance) if provenance else None}
    return {"sources": {**sources, "gold": str(gold) if gold is not None else None}, **result}


# --- text ---------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_diversity(result: Mapping[str, Any]) -> str:
    """The plain-text report of :func:`diversity` (``evaluate diversity`` prints it)."""
    rows: list[list[Any]] = [
        ["rows", result["rows"]],
        ["distinct-1", _num(result["distinct_1"])],
        ["distinct-2", _num(result["distinct_2"])],
        ["distinct-3", _num(result["distinct_3"])],
        ["duplicate rate", _num(result["duplicate_rate"])],
    ]
    sampled = result.get("spread_rows", 0)
    spread_label = "embedding spread" + (
        f" ({sampled} sampled rows)" if sampled and sampled < result["rows"] else ""
    )
    rows.append([spread_label, _num(result.get("embedding_spread"))])
    if "nearest_gold" in result:
        rows.append(
            [f"nearest-gold similarity ({result.get('gold_rows', 0)} gold)", _num(result["nearest_gold"])]
        )
        copies = result.get("near_gold_copies")
        rows.append(
            [f"near copies of gold (>= {NEAR_COPY})", "-" if copies is None else f"{100 * copies:.1f}%"]
        )
    lines = text_table(["diversity", "value"], rows)
    if result.get("embedding_note"):
        lines.append(f"  note: {result['embedding_note']}")
    total = result["rows"] or 1
    if result.get("per_class"):
        lines += ["", *text_table(["class", "rows", "share"], _count_rows(result["per_class"], total))]
    for name, counts in (result.get("per_attribute") or {}).items():
        lines += ["", *text_table([f"attribute {name}", "rows", "share"], _count_rows(counts, total))]
    return "\n".join(lines)


def _count_rows(counts: Mapping[str, int], total: int) -> list[list[Any]]:
    return [[value, n, f"{100 * n / total:.1f}%"] for value, n in counts.items()]
