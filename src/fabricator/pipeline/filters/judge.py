"""The judge: each row scored on criteria by a model's probabilities over a scale, and filtered.

Verification asks whether a row's label holds; the judge asks how well a row meets a rubric
("a real movie-review sentence a critic could have written"), on a scale of whole numbers. Each
criterion is one scored call per row through the run's executor (the engine, the journal, the
call budget: a resume pays nothing twice), read by label scoring over the scale's points
(``scoring.judge_scores``): log-probabilities where the backend gives them, sampled votes where
it has none. A row keeps its expected score in the column ``judge_<name>`` and the distribution
and confidence in its provenance; one below the criterion's minimum becomes a ``LowJudgeScore``
failure (kept as data) and the round loop writes another in its place while calls are left.

Criteria run in turn, so a row dropped by one costs no call of the next. A separate judge backend
(``judge_llm``) is just another executor handed in. ``calibrate`` divides the judge's prior out
(its mean distribution over the rows judged so far, in row order: a run and its resume agree).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...execution.calls import CallBudget
from ...execution.executor import Executor
from ...execution.work import Failure, FailureKind, Result, Row, WorkItem
from ...judge_criteria import JudgeCriterion, min_scores
from ...options import SamplingOptions
from ...scoring.calibration import calibrate
from ...scoring.judge_scores import JudgeScore, ScaleFormat, ScoreCounts, judge_score
from ..rows import RowMaker
from ..task import Task
from . import Kept, Round

JUDGE_SYSTEM = (
    "You are a strict, fair judge of the examples of a machine-learning dataset. You rate one "
    "example on one criterion. Answer with a single whole number only."
)
#: columns a row shows the judge: all its values but these (the run's own scores)
_HIDDEN = ("confidence",)


def judge_columns(task: Task) -> list[str]:
    """The dataset's judge columns (``judge_<name>``): a run with criteria and a teacher to ask."""
    if task.kind.canned:
        return []
    return [c.column for c in task.sampling.judge or ()]


def shown(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The columns of a row the judge reads (not its confidence nor earlier judges' scores)."""
    return [(k, v) for k, v in values.items() if k not in _HIDDEN and not k.startswith("judge_")]


class JudgePrompt:
    """The messages a row is judged with on one criterion: the rubric first, the row last (so a
    server that caches prompt prefixes reads the shared part once)."""

    def __init__(self, criterion: JudgeCriterion, system_prompt: str | None = JUDGE_SYSTEM) -> None:
        self.criterion = criterion
        self.format = ScaleFormat(criterion.points)
        self.system = system_prompt
        low, high = criterion.scale
        self.head = (
            f"Criterion: {criterion.rubric.strip()}\n"
            f"Scale: {low} (does not meet the criterion at all) to {high} (fully meets it).\n\n"
            "Example:\n"
        )
        self.tail = f"\n\nHow well does the example meet the criterion? Score ({low}-{high}):"

    def text(self, values: Mapping[str, Any]) -> str:
        return self.head + "\n".join(f"{k}: {v}" for k, v in shown(values)) + self.tail

    def item(self, index: int, values: Mapping[str, Any]) -> WorkItem:
        """The judge's prompt for row ``index`` (its own index: journal keys differ per row)."""
        text = self.text(values)
        messages = [{"role": "user", "content": text}]
        if self.system:
            messages.insert(0, {"role": "system", "content": self.system})
        return WorkItem(index, tuple(messages), text)


class JudgeCounts(dict[str, ScoreCounts]):
    """Each criterion's counts (``GenerationReport.summary()["judge"]``)."""

    def as_dict(self) -> dict[str, Any]:
        return {name: counts.as_dict() for name, counts in self.items()}


class Judge:
    """Scores a round's rows on each criterion, and drops those below a criterion's minimum."""

    def __init__(
        self,
        criteria: Sequence[JudgeCriterion],
        sampling: SamplingOptions,
        executor: Executor,
        budget: CallBudget,
    ) -> None:
        self.criteria = list(criteria)
        self.minimum = min_scores(self.criteria, sampling.min_judge_score)
        self.prompts = {c.name: JudgePrompt(c) for c in self.criteria}
        self.makers = {
            c.name: RowMaker(
                format=self.prompts[c.name].format,
                temperature=0.7,  # the samples fallback's answers; log-probability scoring is greedy
                max_tokens=8,
                seed=sampling.seed,
                scoring="auto" if sampling.label_scoring == "off" else sampling.label_scoring,
                label_samples=sampling.label_samples,
            )
            for c in self.criteria
        }
        self.executor = executor
        self.budget = budget
        self.counts = JudgeCounts({c.name: ScoreCounts(c.points) for c in self.criteria})
        # calibration: the running sum of each point's probability, and the rows it is over
        self._mass = {c.name: dict.fromkeys(c.points, 0.0) for c in self.criteria}
        self._seen = dict.fromkeys(self._mass, 0)

    async def apply(self, batch: Round) -> Kept:
        """Judge the round's rows on each criterion in turn, through the executor (local or Ray)."""
        for _ in range((len(batch.indices) - len(batch.rows)) * len(self.criteria)):
            self.budget.release()  # rows that never reached the judge: their calls are free again
        rows = {i: batch.rows[i] for i in sorted(batch.rows)}
        failures: dict[int, Failure] = {}
        for position, criterion in enumerate(self.criteria):
            dropped = await self._criterion(criterion, rows, failures)
            for _ in range(len(dropped) * (len(self.criteria) - position - 1)):
                self.budget.release()  # the next criteria never ask about a dropped row
        return Kept(rows, failures)

    async def _criterion(
        self, criterion: JudgeCriterion, rows: dict[int, Row], failures: dict[int, Failure]
    ) -> list[int]:
        """Score ``rows`` (edited in place: judged rows replaced, dropped ones moved to
        ``failures``) on one criterion; the indices dropped."""
        verdicts: dict[int, Result] = {}

        def keep(item: WorkItem, result: Result) -> None:
            verdicts[item.index] = result

        prompt = self.prompts[criterion.name]
        items = [prompt.item(i, row.values) for i, row in rows.items()]
        await self.executor.map(items, keep, maker=self.makers[criterion.name])
        scores = self._scores(criterion, verdicts)
        dropped = []
        for index in list(rows):  # in row order: the outcome does not depend on which call ended first
            score = scores.get(index)
            if score is None:  # no verdict (the call failed or none was left): kept, not scored
                continue
            row = judged(rows[index], criterion, score)
            self.counts[criterion.name].add(score.score)
            minimum = self.minimum[criterion.name]
            if minimum is not None and score.score < minimum:
                self.counts[criterion.name].rejected += 1
                why = f"judge {criterion.name!r}: score {score.score:.2f} < min_judge_score {minimum:g}"
                raw = json.dumps(row.values, ensure_ascii=False, default=str)
                failures[index] = Failure(index, why, FailureKind.LOW_JUDGE_SCORE, raw, row.source)
                del rows[index]
                dropped.append(index)
            else:
                rows[index] = row
        return dropped

    def _scores(self, criterion: JudgeCriterion, verdicts: Mapping[int, Result]) -> dict[int, JudgeScore]:
        """Each scored verdict's ``JudgeScore`` (calibrated when the criterion asks), in row order."""
        found = {
            i: v.provenance["label_scores"]
            for i, v in sorted(verdicts.items())
            if not isinstance(v, Failure) and v.provenance.get("label_scores")
        }
        if criterion.calibrate and found:
            mass, name = self._mass[criterion.name], criterion.name
            for distribution in found.values():
                for point in mass:
                    mass[point] += distribution.get(point, 0.0)
            self._seen[name] += len(found)
            prior = {point: m / self._seen[name] for point, m in mass.items()}
            adjusted = calibrate(list(found.values()), criterion.points, prior=prior)
            found = dict(zip(found, adjusted, strict=True))
        return {i: judge_score(d, criterion.points) for i, d in found.items()}


def judged(row: Row, criterion: JudgeCriterion, score: JudgeScore) -> Row:
    """A new row: ``row`` with its expected score in ``judge_<name>`` and the score in provenance."""
    provenance = {
        **row.provenance,
        "judge": {**row.provenance.get("judge", {}), criterion.name: score.as_dict()},
    }
    return replace(row, values={**row.values, criterion.column: round(score.score, 6)}, provenance=provenance)


def judge_of(task: Task, sampling: SamplingOptions, executor: Executor, budget: CallBudget) -> Judge | None:
    """The run's judge, if its options name criteria (a dry run has no teacher to ask)."""
    if not sampling.judge or task.kind.canned:
        return None
    return Judge(sampling.judge, sampling, executor, budget)


__all__ = [
    "JUDGE_SYSTEM",
    "Judge",
    "JudgeCounts",
    "JudgePrompt",
    "judge_columns",
    "judge_of",
    "judged",
    "shown",
]
