"""How much the pool classifier (``scoring.pool_classifier``) counts next to the teacher, set on
the held-out pool rows of the chosen setting.

Each held-out row gets the classifier's scores from a classifier fitted without its fold (the
fold's ``rest``, as its prompts' examples), so no row is scored by a model that saw it; each
classifier is calibrated on its own training rows first (out of fold), so the mix does not
inherit a logistic regression's timidity. The weight
is the one of ``WEIGHTS`` whose mix gives the gold labels the lowest log-loss (a proper score, so
a weight is chosen on a few dozen rows where accuracy would tie), kept only where the mix is
clearly better than the teacher alone on those rows. It costs no model call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...samplers import similar
from ...samplers.similar import joined_text
from ...scoring.pool_classifier import PoolClassifier, PoolVectors, mix
from ...scoring.temperature import log_loss
from ...tables import decoded_rows
from .plan import TunePlan
from .scorer import Scores, accuracy, clearly_better

#: weights tried (0: the teacher alone); the teacher always keeps a quarter of the say
WEIGHTS = (0.0, 0.25, 0.5, 0.75)


@dataclass(frozen=True)
class PoolMix:
    """The weight chosen, the classifier fitted on the whole pool, and the held-out accuracies of
    the teacher's setting alone, the classifier alone and the mix."""

    weight: float
    classifier: PoolClassifier | None
    columns: tuple[str, ...]  # the input columns the classifier reads
    teacher: float
    alone: float
    mixed: float
    held_out: tuple[Scores | None, ...] = ()  # the held-out rows' scores at ``weight``

    def scores(self, rows: Sequence[Mapping[str, Any] | None]) -> list[dict[str, float] | None]:
        """The classifier's scores of input rows (``None`` for a missing row), one embedder call."""
        if self.classifier is None:
            return [None] * len(rows)
        present = [r for r in rows if r is not None]
        scored = iter(self.classifier.scores([joined_text(r, self.columns) for r in present]))
        return [next(scored) if r is not None else None for r in rows]

    def phrase(self) -> str:
        """How the choice reads after the setting's name in ``Choice.sentence``."""
        if self.weight:
            return f"with the pool classifier at weight {self.weight:g} (classifier alone {self.alone:.2f})"
        return f"and the teacher alone (pool classifier alone {self.alone:.2f}: no mix was clearly better)"

    def summary(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "teacher_accuracy": round(self.teacher, 4),
            "classifier_accuracy": round(self.alone, 4),
            "mixed_accuracy": round(self.mixed, 4),
        }


def mixed(scores: Sequence[Scores | None], theirs: Sequence[Scores], weight: float) -> list[Scores | None]:
    """Each answered row's scores mixed with the classifier's at ``weight``."""
    return [mix(s, p, weight) if s else None for s, p in zip(scores, theirs, strict=True)]


def fit_pool_mix(plan: TunePlan, scores: Sequence[Scores | None], gold: Sequence[str]) -> PoolMix:
    """The mix for the held-out rows of ``plan`` (its folds, in order, are the rows of
    ``scores``); a ``ConfigError`` where the embedder or scikit-learn is missing."""
    columns = tuple(plan.prompt.input_columns)
    held = [i for fold in plan.folds for i in fold.held]
    texts = [joined_text(r, columns) for r in decoded_rows(plan.pool.select_columns(list(columns)))]
    labels = plan.prompt.label_options or []
    vectors = PoolVectors(texts, plan.gold, labels, similar.minilm_embedder, keep=held)
    by_row: dict[int, dict[str, float]] = {}
    for fold in plan.folds:
        classifier = vectors.fit(fold.rest, calibrated=True)
        by_row.update(zip(fold.held, classifier.scores_of(vectors.vectors(fold.held)), strict=True))
    theirs = [by_row[i] for i in held]
    weight = choose_weight(scores, theirs, gold)
    final = mixed(scores, theirs, weight) if weight else list(scores)
    return PoolMix(
        weight,
        vectors.fit(calibrated=True) if weight else None,
        columns,
        accuracy(scores, gold),
        accuracy(list(theirs), gold),
        accuracy(final, gold),
        tuple(final),
    )


def choose_weight(scores: Sequence[Scores | None], theirs: Sequence[Scores], gold: Sequence[str]) -> float:
    """The weight of ``WEIGHTS`` whose mix gives the gold labels the lowest log-loss (ties: the
    smaller), kept only where that mix is clearly better than the teacher alone on these rows (the
    sign test the prior setting gets, ``scorer.clearly_better``); else 0. Replayed on draws of
    held-out rows (docs/experiments.md, "Sixth pass"), the test keeps a weight of 0.5 or more on
    TREC-6 in 99 % of draws and cuts the draws where a weight costs the run more than half a point
    from 19 % to 3 % (SST-2) and 12 % to 2 % (SNLI)."""
    answered = [i for i, s in enumerate(scores) if s]
    if not answered:
        return 0.0

    def loss(weight: float) -> float:
        rows = mixed(scores, theirs, weight)
        return log_loss([rows[i] or {} for i in answered], [gold[i] for i in answered])

    weight = min(WEIGHTS, key=lambda w: (round(loss(w), 9), w))
    return weight if weight and clearly_better(mixed(scores, theirs, weight), scores, gold) else 0.0


__all__ = ["WEIGHTS", "PoolMix", "choose_weight", "fit_pool_mix", "mixed"]
