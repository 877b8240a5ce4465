"""The student loop: the round loop's ``Steering`` for a label-conditioned generation.

The run's rows are planned in ``student_rounds`` rounds of even size. After each round but the
last, a student is trained on the rows kept so far and tested on the pool's test rows
(``split``); its errors choose the next round's rows per label and each label's examples
(``steer``). After the last round (and its top-ups) it is trained once more on the run's rows.
Every choice is a function of the kept rows, so a rerun from the journal makes the same prompts
(paying nothing) and the same figures.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...evaluation.student import embeddings as student_embeddings
from ...execution.work import Row
from ...samplers.similar import unit_rows
from ..plan import Planner
from ..prepare import RunPlan
from ..rounds import Rounds
from . import student
from .split import PoolSplit, counts, labels_of, split_pool
from .steer import (
    KEEP_SHOWN,
    STEER_SHARE,
    allocate,
    apportion,
    error_counts,
    nearest_rows,
    pool_view,
    queue_labels,
)
from .student import Labelled, Scored

log = logging.getLogger("fabricator")


class StudentLoop:
    """Ends a round at each loop round's last row, then steers the next (``Rounds``' ``Steering``).

    ``plan`` is the run's own plan: its task is a copy whose pool shows the shown rows only, one
    label's examples a prompt; the loop narrows that pool's examples between rounds.
    """

    def __init__(self, plan: RunPlan, split: PoolSplit) -> None:
        self.plan, self.split = plan, split
        task = plan.task
        assert task.pool is not None
        self.pool = task.pool  # the shown rows (``pool_view`` narrows it further each round)
        self.labels = labels_of(task)
        self.column = task.prompt.target_column
        self.seed = task.sampling.seed
        self.wanted = plan.target.wanted
        rounds = task.sampling.student_rounds
        self.bounds = [self.wanted * r // rounds for r in range(1, rounds)]
        self.records: list[dict[str, Any]] = []
        self.intended = Counter(apportion(dict.fromkeys(self.labels, 1.0), self.bounds[0]))
        self.weights: dict[str, float] = dict.fromkeys(self.labels, 1.0)  # of the latest steering

    def cut(self, planned: int, stop: int) -> int:
        """A round ends at the end of a loop round at the latest."""
        return min([stop, *(b for b in self.bounds if b > planned)])

    def after(self, planned: int, rounds: Rounds) -> None:
        """At the end of a loop round (not the last): train, test, steer the next one."""
        if planned not in self.bounds:
            return
        at = self.bounds.index(planned)
        size = (self.bounds[at + 1] if at + 1 < len(self.bounds) else self.wanted) - planned
        record, scored = self._evaluate(rounds.rows, rounds.asked)
        if isinstance(scored, Scored):
            test_gold = [self.split.labels[i] for i in self.split.test]
            errors = error_counts(test_gold, scored.predictions, self.labels)
            chosen = self._nearest(scored)
        else:
            errors, chosen = dict.fromkeys(self.labels, 0.0), {}
        wanted = allocate(errors, size)
        self.weights = {label: float(n) for label, n in wanted.items()}
        self.intended.update(wanted)
        shown = {label: chosen.get(label, self.split.shown[label]) for label in self.labels}
        rounds.planner.task.pool = pool_view(self.pool, shown)  # the planner's task is the run's copy
        queue_labels(rounds.planner, wanted)
        record["next_rows"] = wanted
        record["examples"] = {label: [self.pool.row_ids[i] for i in ids] for label, ids in chosen.items()}
        self.records.append(record)
        log.info("student loop %s; next round asks %s", _sentence(record), wanted)

    def top_up(self, planner: Planner, kept: Counter[str], rows: int) -> None:
        """Replacement rows go to the labels furthest below the rows the loop asked for."""
        short = {label: max(0, self.intended[label] - kept.get(label, 0)) for label in self.labels}
        queue_labels(planner, apportion(short if any(short.values()) else self.weights, rows))

    def finish(self, rows: Mapping[int, Row], asked: Mapping[int, str | None]) -> dict[str, Any]:
        """The student of the run's rows (the last round's figure), and the loop's summary."""
        record, _ = self._evaluate(rows, asked)
        self.records.append(record)
        log.info("student loop %s", _sentence(record))
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The rounds' figures and how the pool was used (JSON-ready; no timings: a rerun gives
        the same summary)."""
        return {
            "rounds": list(self.records),
            "test_rows": len(self.split.test),
            "shown_rows": sum(len(ids) for ids in self.split.shown.values()),
            "examples_per_prompt": self.split.per_prompt,
            "steer_share": STEER_SHARE,
        }

    def _evaluate(
        self, rows: Mapping[int, Row], asked: Mapping[int, str | None]
    ) -> tuple[dict[str, Any], Scored | str]:
        """The student of the kept rows (the first ``wanted``, as the dataset has them) on the
        test rows: its record, and its predictions (or why there is none)."""
        chosen = [i for i in sorted(rows) if asked.get(i) is not None][: self.wanted]
        train = Labelled(
            tuple(str(rows[i][self.column]) for i in chosen), tuple(str(asked[i]) for i in chosen)
        )
        split = self.split
        test = Labelled(tuple(split.texts[i] for i in split.test), tuple(split.labels[i] for i in split.test))
        scored = student.score(train, test, self.labels, self.seed)
        record: dict[str, Any] = {
            "round": len(self.records) + 1,
            "rows": len(chosen),
            "rows_by_label": counts(train.labels, self.labels),
        }
        if isinstance(scored, Scored):
            wrong = sum(p != g for p, g in zip(scored.predictions, test.labels, strict=True))
            record.update(
                accuracy=round(scored.accuracy, 4), macro_f1=round(scored.macro_f1, 4), errors=wrong,
                recall=scored.recall,
            )  # fmt: skip
        else:
            record.update(accuracy=None, note=scored)
        return record, scored

    def _nearest(self, scored: Scored) -> dict[str, list[int]]:
        """Each label with errors: the shown rows of it nearest to its test rows taken for another."""
        split, out = self.split, {}
        for label in self.labels:
            missed = [
                i
                for i, p in zip(split.test, scored.predictions, strict=True)
                if split.labels[i] == label != p
            ]
            if not missed:
                continue
            shown = split.shown[label]
            count = min(len(shown), max(split.per_prompt, len(missed), math.ceil(KEEP_SHOWN * len(shown))))
            errors = _embed([split.texts[i] for i in missed])
            candidates = _embed([split.texts[i] for i in shown])
            out[label] = sorted(shown[j] for j in nearest_rows(errors, candidates, count))
        return out


def _embed(texts: Sequence[str]) -> Any:
    """Unit vectors of the student's encoder (looked up when called: a test may replace it)."""
    return unit_rows(student_embeddings.embed_texts(list(texts)), len(texts), "student")


def _sentence(record: Mapping[str, Any]) -> str:
    if record.get("accuracy") is None:
        return f"round {record['round']}: {record.get('note')}"
    return (
        f"round {record['round']}: pool accuracy {record['accuracy']:.3f} "
        f"(macro-F1 {record['macro_f1']:.3f}) of a student trained on {record['rows']} rows"
    )


def student_loop(plan: RunPlan) -> StudentLoop | None:
    """The loop of a run with ``student_loop`` (``None`` without): the plan's task copied, its
    pool narrowed to the shown rows, one label's examples a prompt, drawn for each row (a draw
    shared by a block of rows, ``fewshot_reuse``, would outlive the round that chose its
    examples); the plan itself unchanged."""
    task = plan.task
    if not task.sampling.student_loop or task.pool is None:
        return None
    split = split_pool(task)
    each_row = task.sampling.model_copy(update={"fewshot_reuse": 1, "fewshot_blocks": 1})  # no shared draws
    own = replace(
        task, pool=pool_view(task.pool, split.shown), strategy="uniform", per_class=split.per_prompt,
        sampling=each_row,
    )  # fmt: skip
    return StudentLoop(replace(plan, task=own), split)


__all__ = ["StudentLoop", "student_loop"]
