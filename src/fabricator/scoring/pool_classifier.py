"""A classifier fitted on the labelled pool, mixed with the teacher's label scores.

A pool of a few thousand labelled rows teaches a linear classifier on sentence embeddings more
than a few-shot prompt teaches a small teacher (TREC-6, 4,952 pool questions: 0.85 against 0.67,
docs/experiments.md). Mixing the two in log space (a weighted product of experts) keeps the
teacher where the pool is thin or the task needs reading (SST-2, SNLI). Tuning sets the weight on
held-out pool rows (``pipeline.tune.pool_mix``); weight 0 is the teacher alone.

Needs scikit-learn and the sentence embedder of the ``[student]`` extra; without them a
``ConfigError`` names the extra (tuning then keeps the teacher alone).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..samplers.similar import Embedder, unit_rows
from .temperature import fit_temperature_matrix, tempered

FLOOR = 1e-6  # a label given 0 keeps a tiny probability (its log is finite)
#: folds of the classifier's own calibration (``PoolVectors.fit(calibrated=True)``)
CALIBRATION_FOLDS = 5
#: pool rows the classifier is fitted on at most (a seeded sample beyond): a fit stays seconds
MAX_ROWS = 20_000


def mix(teacher: Mapping[str, float], pool: Mapping[str, float], weight: float) -> dict[str, float]:
    """The teacher's and the pool classifier's distributions multiplied with weights ``1 - weight``
    and ``weight`` in log space, renormalized (over the teacher's labels)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"a mix weight is between 0 and 1, not {weight!r}")
    logs = {
        label: (1 - weight) * math.log(max(p, FLOOR)) + weight * math.log(max(pool.get(label, 0.0), FLOOR))
        for label, p in teacher.items()
    }
    top = max(logs.values())
    raw = {label: math.exp(v - top) for label, v in logs.items()}
    total = sum(raw.values())
    return {label: v / total for label, v in raw.items()}


def _logistic_regression() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ConfigError(
            "the pool classifier needs scikit-learn",
            hint="pip install 'fabricator-data[student]', or pass pool_classifier='off'",
        ) from exc
    return LogisticRegression(max_iter=2000)


class PoolVectors:
    """The pool's texts embedded once (a seeded sample of ``MAX_ROWS`` where larger, always
    including ``keep``), and classifiers fitted on any part of them."""

    def __init__(
        self,
        texts: Sequence[str],
        gold: Sequence[str],
        labels: Sequence[str],
        embedder: Embedder,
        keep: Sequence[int] = (),
        seed: int = 0,
    ) -> None:
        self.labels = list(labels)
        self.embedder = embedder
        rows = list(range(len(texts)))
        if len(rows) > MAX_ROWS:
            must = set(keep)
            others = [i for i in rows if i not in must]
            random.Random(f"pool:{seed}").shuffle(others)
            rows = sorted([*must, *others[: max(0, MAX_ROWS - len(must))]])
        self.rows = rows
        self.at = {row: i for i, row in enumerate(rows)}
        self.matrix = unit_rows(embedder([texts[i] for i in rows]), len(rows), "pool classifier")
        self.gold = [gold[i] for i in rows]

    def fit(self, rows: Sequence[int] | None = None, calibrated: bool = False) -> PoolClassifier:
        """A classifier on the pool rows ``rows`` (those embedded; default: all of them);
        ``calibrated``: with the temperature its out-of-fold probabilities on those rows ask for
        (``_temperature``)."""
        everything = range(len(self.rows))
        picked = [self.at[r] for r in rows if r in self.at] if rows is not None else list(everything)
        gold = [self.gold[i] for i in picked]
        if len(set(gold)) < 2:
            return PoolClassifier(self.labels, None, self.embedder, gold[0] if gold else None)
        model = _logistic_regression().fit(self.matrix[picked], gold)
        temperature = self._temperature(picked) if calibrated else 1.0
        return PoolClassifier(self.labels, model, self.embedder, temperature=temperature)

    def _temperature(self, picked: Sequence[int]) -> float:
        """The temperature that makes the classifier's probabilities fit the labels of rows it was
        not fitted on: ``CALIBRATION_FOLDS`` folds of ``picked``, each scored by a classifier of
        the others. A regularised logistic regression on a few thousand rows is far too unsure
        (TREC-6: a temperature of 0.47 on 4,952 pool questions), and a mix with the teacher
        inherits that; this costs a few fits, no model call and no held-out row."""
        folds = CALIBRATION_FOLDS
        if len(picked) < 2 * folds:
            return 1.0
        probabilities, gold = [], []
        for fold in range(folds):
            test = [row for i, row in enumerate(picked) if i % folds == fold]
            train = [row for i, row in enumerate(picked) if i % folds != fold]
            if len({self.gold[i] for i in train}) < 2:
                return 1.0
            model = _logistic_regression().fit(self.matrix[train], [self.gold[i] for i in train])
            scored = PoolClassifier(self.labels, model, self.embedder).scores_of(self.matrix[test])
            probabilities += [[row[label] for label in self.labels] for row in scored]
            gold += [self.labels.index(self.gold[i]) for i in test]
        return fit_temperature_matrix(np.array(probabilities), gold)

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The embeddings of pool rows ``rows`` (embedded ones)."""
        return self.matrix[[self.at[r] for r in rows]]


@dataclass(frozen=True)
class PoolClassifier:
    """A logistic regression on unit sentence embeddings; ``only``: the one label of a pool part
    that had no other (it gets all the mass)."""

    labels: Sequence[str]
    model: Any
    embedder: Embedder
    only: str | None = None
    temperature: float = 1.0  # divides the log-probabilities (``PoolVectors.fit(calibrated=True)``)

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Each text's distribution over the labels (a label the pool never showed: ``FLOOR``)."""
        if not texts:
            return []
        return self.scores_of(unit_rows(self.embedder(list(texts)), len(texts), "pool classifier"))

    def scores_of(self, vectors: np.ndarray) -> list[dict[str, float]]:
        """The same for rows already embedded."""
        if self.model is None:
            return [{label: 1.0 if label == self.only else FLOOR for label in self.labels} for _ in vectors]
        probabilities = self.model.predict_proba(vectors)
        classes = [str(c) for c in self.model.classes_]
        out = []
        for row in probabilities:
            known = dict(zip(classes, (float(p) for p in row), strict=True))
            raw = {label: max(known.get(label, 0.0), FLOOR) for label in self.labels}
            total = sum(raw.values())
            scores = {label: v / total for label, v in raw.items()}
            out.append(tempered(scores, self.temperature) if self.temperature != 1.0 else scores)
        return out


__all__ = ["CALIBRATION_FOLDS", "FLOOR", "MAX_ROWS", "PoolClassifier", "PoolVectors", "mix"]
