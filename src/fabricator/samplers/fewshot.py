"""A few-shot pool indexed by label once, so that building a prompt never scans the pool.

The paper's toolkit filtered the whole few-shot dataset on every call; here each draw costs
O(k): the pool keeps its rows as plain dicts and a label -> row-indices map.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..llms.tokens import CHARS_PER_TOKEN
from ..tables import decoded_rows

SAMPLING_STRATEGIES = (None, "uniform", "stratified", "similar")
#: label-conditioned generation with no count shows up to this many pool rows of the asked label:
#: they show a small teacher more of a label's forms (500 rows, students: four beat one on 3 of 4
#: runs, +1.8 points on average, most on TREC-6; eight were no better on TREC-6, 2 seeds;
#: docs/generation.md "How many examples a prompt")
GENERATION_EXAMPLES = 4
#: ... as long as that many long examples stay under about this many tokens (long documents: fewer)
GENERATION_EXAMPLE_TOKENS = 600
STRATEGY_HINT = "use None, 'uniform', 'stratified' or 'similar'"


@dataclass(frozen=True)
class FewShotSample:
    """What one prompt gets: the label(s) it is conditioned on and the example rows (with ids)."""

    labels: str | list[str] | None
    examples: list[dict[str, Any]]
    ids: list[int]


def _rows_and_columns(dataset: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Plain rows, ``ClassLabel`` ids as names (-1, "no label", as ``None``), and the columns."""
    if hasattr(dataset, "column_names") and hasattr(dataset, "features"):
        return decoded_rows(dataset), list(dataset.column_names)
    rows = [dict(r) for r in dataset]
    columns = list(rows[0]) if rows else []
    return rows, columns


class FewShotPool:
    """Few-shot examples with a label index, and seeded draws.

    ``columns`` are the prompt columns the examples must have; ``label_column`` (if any) is the
    column to sample by; ``label_options`` (if any) are the labels prompts may be conditioned on.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        columns: Sequence[str],
        label_column: str | None = None,
        label_options: Sequence[str] | None = None,
    ) -> None:
        rows, present = _rows_and_columns(dataset)
        if not rows:
            raise ConfigError("the few-shot dataset is empty", hint="give at least one example per label")
        needed = list(dict.fromkeys([*columns, *([label_column] if label_column else [])]))
        missing = [c for c in needed if c not in present]
        if missing:
            raise ConfigError(
                f"the few-shot dataset lacks column(s) {missing}; it has {present}",
                hint="rename the columns (dataset.rename_column) or change the prompt's column names",
            )
        # an unlabeled row (None, or the id -1) is no example of any label; ids stay dataset rows
        kept = [i for i, row in enumerate(rows) if not label_column or row.get(label_column) is not None]
        if not kept:
            raise ConfigError(
                f"the few-shot dataset has no labeled rows in column {label_column!r}",
                hint="give at least one labeled example per label",
            )
        self.row_ids = kept
        self.rows = [{c: rows[i][c] for c in needed} for i in kept]
        self.label_column = label_column
        self.by_label: dict[str, list[int]] = {}
        if label_column:
            for i, row in enumerate(self.rows):
                self.by_label.setdefault(str(row[label_column]), []).append(i)
        self.label_options = list(label_options) if label_options else sorted(self.by_label)
        if label_column and label_options:
            unknown = sorted(set(self.by_label) - set(self.label_options))
            if unknown:
                raise ConfigError(
                    f"few-shot labels {unknown} in column {label_column!r} are not among the label "
                    f"options {self.label_options}",
                    hint="map them with expanded_label_mapping / convert_label_ids_to_texts, or add them",
                )

    def __len__(self) -> int:
        return len(self.rows)

    def check(
        self, strategy: str | None, per_class: int | None, labels: Sequence[str], examples: int | None = None
    ) -> None:
        """Fail before any model call when the draws asked for cannot be made.

        ``examples`` is the total per prompt of a ``"similar"`` selection without per-class balance.
        """
        if strategy not in SAMPLING_STRATEGIES:
            raise ConfigError(f"unknown fewshot_sampling_strategy {strategy!r}", hint=STRATEGY_HINT)
        if per_class is not None and per_class < 0:
            raise ConfigError("fewshot_examples_per_class must be >= 0")
        if strategy == "similar" and not per_class:
            if examples is not None and examples > len(self.rows):
                raise ConfigError(
                    f"fewshot_examples={examples} but the few-shot dataset has {len(self.rows)} rows",
                    hint=f"use at most {len(self.rows)}",
                )
        elif strategy in ("uniform", "stratified", "similar"):
            if not self.label_column:
                raise ConfigError(
                    f"sampling strategy {strategy!r} needs a label column",
                    hint="set fewshot_sampling_column (e.g. 'label')",
                )
            k = per_class or 1
            for label in labels:
                have = len(self.by_label.get(label, []))
                if have < k:
                    raise ConfigError(
                        f"fewshot_examples_per_class={k} but label {label!r} has only {have} "
                        "few-shot example(s)",
                        hint=f"lower fewshot_examples_per_class to {have} or add examples of {label!r}",
                    )
        elif per_class and per_class > len(self.rows):
            raise ConfigError(
                f"fewshot_examples_per_class={per_class} but the few-shot dataset has {len(self.rows)} rows",
                hint=f"use at most {len(self.rows)}",
            )

    def generation_count(self, labels: Sequence[str], reserve: int = 0) -> int:
        """Examples of the asked label a label-conditioned prompt shows when the user gave no
        count: ``GENERATION_EXAMPLES``, fewer where a label has fewer rows (less the ``reserve``
        a student loop tests on) or where that many of the pool's long examples (its 90th
        percentile) would pass ``GENERATION_EXAMPLE_TOKENS``; at least one, as before."""
        fewest = min((len(self.by_label.get(label, ())) - reserve for label in labels), default=1)
        text = [c for c in (self.rows[0] if self.rows else {}) if c != self.label_column]
        lengths = sorted(sum(len(str(row[c])) for c in text) for row in self.rows)
        long = lengths[(len(lengths) - 1) * 9 // 10] / CHARS_PER_TOKEN if lengths else 0
        fits = int(GENERATION_EXAMPLE_TOKENS // long) if long else GENERATION_EXAMPLES
        return max(1, min(GENERATION_EXAMPLES, fewest, fits))

    def draw(
        self, rng: random.Random, strategy: str | None, per_class: int | None, label: str | None = None
    ) -> FewShotSample:
        """One prompt's examples. ``label`` fixes the label of a uniform draw (else drawn)."""
        labels: str | list[str] | None = label
        if strategy == "uniform":
            chosen = label if label is not None else rng.choice(self.label_options)
            labels = chosen
            picked = rng.sample(self.by_label[chosen], per_class or 1)
        elif strategy == "stratified":
            picked = [i for lab in self.label_options for i in rng.sample(self.by_label[lab], per_class or 1)]
            rng.shuffle(picked)
            labels = list(self.label_options)
        else:
            picked = rng.sample(range(len(self.rows)), per_class if per_class else len(self.rows))
        return FewShotSample(labels, [self.rows[i] for i in picked], [self.row_ids[i] for i in picked])
