"""The pool check: a generated row is kept only if a classifier fitted on the labelled pool reads
it as the label it was written for.

A small teacher asked for a "location" question writes "What is the capital of Texas?" under
"entity" as well; on TREC-6 about three generated rows in ten read as another type to a classifier
of the real questions, and those rows teach a student the wrong boundary (docs/experiments.md,
"The pool check"). Verification (``verify``) asks the teacher again, one call a row, and a teacher
that mislabels while writing mislabels while reading. The pool already holds the user's own
answer: a logistic regression on its sentence embeddings (``scoring.pool_classifier``, the one
annotation mixes in) reads each round's rows at no model call, and a row it reads as another label
becomes a ``LabelMismatch`` failure that the next round replaces.

On by default (``pool_classifier="auto"``) for label-conditioned generation whose pool has at
least ``MIN_ROWS`` rows of two or more of the asked labels; a label with fewer is not checked (a
handful of rows teach a classifier less than the teacher knows). Without the ``[student]`` extra
the run goes on unchecked and the report says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import ConfigError
from ...execution.work import Failure, FailureKind, Row
from ...options import SamplingOptions
from ...samplers.similar import Embedder, embedder_of
from ...scoring.pool_classifier import PoolClassifier, PoolVectors
from ..task import Task
from . import Kept, Round
from .copies import row_text

log = logging.getLogger("fabricator")

#: pool rows of a label before its generated rows are checked (measured at 40 and 200 a label)
MIN_ROWS = 20


@dataclass
class PoolCheckCounts:
    """What the pool check did in one run (``GenerationReport.summary()["pool_check"]``)."""

    pool_rows: int = 0  # labelled pool rows the classifier was fitted on
    checked: int = 0
    kept: int = 0
    mismatched: int = 0  # read as another label
    unchecked: int = 0  # rows of a label with fewer than MIN_ROWS pool rows, or no classifier
    by_label: dict[str, dict[str, int]] = field(default_factory=dict)  # {asked: {read as: n}}
    error: str | None = None  # why no classifier could be fitted (the rows went unchecked)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pool_rows": self.pool_rows,
            "checked": self.checked,
            "kept": self.kept,
            "mismatched": self.mismatched,
            "unchecked": self.unchecked,
            "by_label": self.by_label,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


class PoolCheck:
    """Drops generated rows that the pool's classifier reads as another label than the one asked."""

    def __init__(
        self,
        texts: Sequence[str],
        gold: Sequence[str],
        labels: Sequence[str],
        columns: tuple[str, str],
        embedder: Embedder,
        seed: int = 0,
    ) -> None:
        self.texts, self.gold, self.labels = list(texts), list(gold), list(labels)
        self.text_column, self.label_column = columns
        self.embedder = embedder
        self.seed = seed
        counts = Counter(self.gold)
        self.checked_labels = {label for label in self.labels if counts[label] >= MIN_ROWS}
        self.counts = PoolCheckCounts(pool_rows=len(self.texts))
        self._classifier: PoolClassifier | None = None
        self._failed = False

    @classmethod
    def of(cls, task: Task, sampling: SamplingOptions) -> PoolCheck | None:
        """The check a run gets (``None``: off, not label-conditioned generation, or a pool too thin)."""
        conditioned = task.format.conditioning()
        pool = task.pool
        if (
            sampling.pool_classifier == "off"
            or not task.kind.generates
            or not task.kind.conditioned
            or task.kind.canned
            or conditioned is None
            or pool is None
            or pool.label_column is None
        ):
            return None
        label_column, labels = conditioned
        column = task.prompt.target_column
        # the rows a draw may pick (``by_label``): under the student loop, never its test rows
        drawn = sorted(i for ids in pool.by_label.values() for i in ids)
        pairs = [
            (str(pool.rows[i][column]), str(pool.rows[i][pool.label_column]))
            for i in drawn
            if pool.rows[i].get(column) is not None
        ]
        texts, gold = [text for text, _ in pairs], [label for _, label in pairs]
        check = cls(texts, gold, labels, (column, label_column), embedder_of(task.strategy), sampling.seed)
        return check if len(check.checked_labels) >= 2 else None

    async def apply(self, batch: Round) -> Kept:
        return await asyncio.to_thread(self.split, batch.rows)

    def split(self, rows: Mapping[int, Row]) -> Kept:
        """``rows`` (one round's) kept and dropped, in row order."""
        classifier = self._fitted()
        todo = [i for i in sorted(rows) if str(rows[i].values.get(self.label_column)) in self.checked_labels]
        kept = Kept({i: rows[i] for i in sorted(rows)})
        self.counts.unchecked += len(rows) - (len(todo) if classifier is not None else 0)
        if classifier is None or not todo:
            return kept
        scores = classifier.scores([row_text(rows[i], self.text_column) for i in todo])
        for index, scored in zip(todo, scores, strict=True):
            asked = str(rows[index].values[self.label_column])
            read = max(scored, key=lambda label: (scored[label], label == asked))
            self.counts.checked += 1
            tally = self.counts.by_label.setdefault(asked, {})
            tally[read] = tally.get(read, 0) + 1
            if read != asked:
                self.counts.mismatched += 1
                text = row_text(kept.rows.pop(index), self.text_column)
                why = (
                    f"asked for {asked!r}, the pool classifier reads it as {read!r} "
                    f"({scored[read]:.3f} against {scored.get(asked, 0.0):.3f})"
                )
                kept.failures[index] = Failure(index, why, FailureKind.LABEL_MISMATCH, text)
                continue
            self.counts.kept += 1
            row = kept.rows[index]
            shown = {label: round(p, 6) for label, p in scored.items()}
            kept.rows[index] = replace(row, provenance={**row.provenance, "pool_scores": shown})
        return kept

    def _fitted(self) -> PoolClassifier | None:
        """The classifier, fitted on the first round (``None`` for good where it cannot be)."""
        if self._classifier is None and not self._failed:
            try:
                vectors = PoolVectors(self.texts, self.gold, self.labels, self.embedder, seed=self.seed)
                self._classifier = vectors.fit()
            except ConfigError as exc:
                self._failed = True
                self.counts.error = str(exc)
                log.warning("pool check off, the rows go unchecked: %s", exc)
        return self._classifier


__all__ = ["MIN_ROWS", "PoolCheck", "PoolCheckCounts"]
