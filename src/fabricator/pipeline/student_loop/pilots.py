"""Generation pilots (``pilots=True``, docs/student_loop.md): before the run, a small run of each
candidate setting; a student trained on each pilot's rows is tested on the pool's test rows
(``split``: never shown), and the best setting is used for the run.

Candidates vary only what the user left unset: examples shown as turns, near-duplicate removal,
label verification, several rows a call. The run's own setting comes first and is replaced only
by one clearly better on the same test rows (the sign test of tuning): a few dozen test rows
rarely tell settings apart. Each pilot is a small run of its own through the run's engine and
journal (handed in as ``Generate``), so a rerun pays nothing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from ...errors import ConfigError
from ...prompts import BasePrompt
from ...tables import decode_labels
from ..task import Task
from ..tune.scorer import clearly_better
from . import student
from .split import PoolSplit, labels_of, split_pool
from .student import Labelled, Scored

#: the near-duplicate threshold (MinHash) and the rows a call of the candidates that try them
NEAR_DUPLICATES = 0.7
ROWS_PER_CALL = 5
#: options of each pilot run: nothing written, no pilots or loop of its own, k examples of the label
PILOT_RUN = {
    "pilots": False,
    "student_loop": False,
    "log_path": None,
    "progress": False,
    "fewshot_examples": None,
}


@dataclass(frozen=True)
class Pilot:
    """One candidate setting: flat options changed, and whether examples are shown as turns."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    as_turns: bool = False

    def prompt(self, prompt: BasePrompt) -> BasePrompt:
        """``prompt``, with its examples shown as earlier turns where the candidate says so."""
        if not self.as_turns:
            return prompt
        other = copy.copy(prompt)
        other.examples_as_turns = True
        return other


def pilot_candidates(task: Task) -> list[Pilot]:
    """The run's setting first, then each change of an option the user left unset."""
    s, turns = task.sampling, task.prompt.examples_as_turns
    explicit = s.model_fields_set
    out = [Pilot("yours")]
    if not turns and s.rows_per_call == 1:
        out.append(Pilot("as-turns", as_turns=True))
    if not {"dedup_minhash", "dedup_embedding"} & explicit:
        out.append(Pilot("near-duplicates", {"dedup_minhash": NEAR_DUPLICATES}))
    if "verify" not in explicit:
        out.append(Pilot("verified", {"verify": True}))
    if "rows_per_call" not in explicit and not turns:
        out.append(Pilot(f"{ROWS_PER_CALL}-a-call", {"rows_per_call": ROWS_PER_CALL}))
    return out


@dataclass(frozen=True)
class PilotRun:
    """One pilot: ``rows`` rows of the candidate, examples from the pool's shown rows only."""

    prompt: BasePrompt
    fewshot: Dataset
    per_class: int
    column: str  # the pool's label column
    rows: int
    calls: int  # its max_prompt_calls
    options: Mapping[str, Any]


@dataclass(frozen=True)
class PilotRows:
    """What a pilot made: its rows' texts and labels, and the calls it took."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    calls: int


Generate = Callable[[PilotRun], Awaitable[PilotRows]]


def pilot_rows(dataset: Dataset, text: str, label: str, calls: int) -> PilotRows:
    """A pilot's dataset as texts and label names."""
    return PilotRows(
        tuple(str(t) for t in dataset[text]), tuple(str(v) for v in decode_labels(dataset, label)), calls
    )


def pilot_run(task: Task, split: PoolSplit, pilot: Pilot) -> PilotRun:
    """The run of ``pilot``: its rows, and calls for them (with checks and a quarter to spare)."""
    assert task.pool is not None and task.pool.label_column is not None
    rows, options = task.sampling.pilot_rows, {**pilot.options, **PILOT_RUN}
    verify = options.get("verify", task.sampling.verify)
    per_call = int(options.get("rows_per_call", task.sampling.rows_per_call))
    calls = math.ceil(rows * (2 if verify else 1) / per_call) + math.ceil(rows / 4)
    shown = sorted(i for ids in split.shown.values() for i in ids)
    fewshot = Dataset.from_list([task.pool.rows[i] for i in shown])
    return PilotRun(
        pilot.prompt(task.prompt), fewshot, split.per_prompt, task.pool.label_column, rows, calls, options
    )


def pilot_calls(task: Task) -> int:
    """The calls the pilots may make before the run, each candidate's cap (``fabricator plan``);
    0 without ``pilots``."""
    if not task.sampling.pilots:
        return 0
    split = split_pool(task)
    return sum(pilot_run(task, split, pilot).calls for pilot in pilot_candidates(task))


@dataclass(frozen=True)
class PilotChoice:
    """The setting chosen, the table of candidates, and what the pilots cost."""

    pilot: Pilot
    accuracy: float | None  # its student's accuracy on the test rows (None: no student)
    test_rows: int
    table: tuple[dict[str, Any], ...]
    calls: int

    def sentence(self) -> str:
        score = "no student" if self.accuracy is None else f"student accuracy {self.accuracy:.2f}"
        return (
            f"pilots chose {self.pilot.name}: {score} on {self.test_rows} held-out pool rows "
            f"({len(self.table)} candidates, {self.calls} pilot calls)"
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for the run's summary and card."""
        accuracy = None if self.accuracy is None else round(self.accuracy, 4)
        chosen = {"chosen": self.pilot.name, "accuracy": accuracy, "test_rows": self.test_rows}
        return {**chosen, "calls": self.calls, "candidates": list(self.table)}


async def choose_pilot(task: Task, generate: Generate) -> PilotChoice:
    """Each candidate's pilot made and scored by a student on the test rows; the choice."""
    split, labels = split_pool(task), labels_of(task)
    test = Labelled(tuple(split.texts[i] for i in split.test), tuple(split.labels[i] for i in split.test))
    table: list[dict[str, Any]] = []
    read: dict[str, Scored] = {}
    calls = 0
    for pilot in pilot_candidates(task):
        try:
            made = await generate(pilot_run(task, split, pilot))
        except ConfigError as exc:  # e.g. verification on a backend that cannot score: the others run
            table.append({"setting": pilot.name, "accuracy": None, "error": exc.message})
            continue
        calls += made.calls
        scored = student.score(Labelled(made.texts, made.labels), test, labels, task.sampling.seed)
        row: dict[str, Any] = {"setting": pilot.name, "rows": len(made.texts), "calls": made.calls}
        if isinstance(scored, Scored):
            read[pilot.name] = scored
            table.append({**row, "accuracy": round(scored.accuracy, 4)})
        else:
            table.append({**row, "accuracy": None, "error": scored})
    best = _pick(pilot_candidates(task), read, test.labels)
    accuracy = read[best.name].accuracy if best.name in read else None
    return PilotChoice(best, accuracy, len(test.labels), tuple(table), calls)


def _pick(pilots: Sequence[Pilot], read: Mapping[str, Scored], gold: Sequence[str]) -> Pilot:
    """The run's own setting (the first with a student) unless another is clearly better on the
    same rows; of those, the most accurate (ties: the earlier)."""
    scored = [p for p in pilots if p.name in read]
    if not scored:
        return pilots[0]
    base = scored[0]

    def votes(p: Pilot) -> list[Mapping[str, float]]:
        return [{label: 1.0} for label in read[p.name].predictions]

    better = [p for p in scored[1:] if clearly_better(votes(p), votes(base), gold)]
    return max([base, *better], key=lambda p: (read[p.name].accuracy, -scored.index(p)))


__all__ = [
    "Generate",
    "Pilot",
    "PilotChoice",
    "PilotRows",
    "PilotRun",
    "choose_pilot",
    "pilot_candidates",
    "pilot_rows",
    "pilot_run",
]
