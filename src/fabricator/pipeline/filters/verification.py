"""Label verification: each generated row is annotated back, and kept only if its label holds.

A label-conditioned prompt asks the teacher for a *positive* review; nothing guarantees the text it
writes is one. Verification asks the same teacher, as an annotator, which label the text has, by
label scoring (``fabricator.scoring``: one forward pass where the backend returns log-probabilities,
sampled answers otherwise). A row whose scored label is not the label it was written for
(``LabelMismatch``), or whose confidence is below ``verify_min_confidence`` (``Unverified``),
becomes a failure with its text, and the round loop writes a new row in its place while calls are
left. Each verification is a model call like any other: counted against ``max_prompt_calls``
(the generator sets one aside per planned row), kept in the journal (a resume costs nothing).

A teacher that leans away from a class as an annotator (TREC: it reads "Who founded Google?" as
an entity question) would drop every row of that class. ``calibration="batch"`` takes that lean
out: the verifier's mean label distribution over the rows checked so far (in row order, so a run
and its resume agree) is divided out, aiming at the frequencies of the labels those rows were
asked for (``scoring.settle``, as in annotation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import ConfigError
from ...execution.calls import CallBudget
from ...execution.executor import Executor
from ...execution.work import Failure, FailureKind, Result, Row, WorkItem
from ...formats import Labels
from ...options import SamplingOptions
from ...prompts import BasePrompt
from ...scoring.settle import settle
from ..rows import RowMaker
from ..task import Task
from . import Kept, Round

#: the annotator's question; ``{}`` is filled with the label options
VERIFY_TASK = "Which label fits this text best? The labels are: {}."


@dataclass
class VerificationCounts:
    """What verification did in one run (``GenerationReport.summary()["verification"]``)."""

    checked: int = 0  # rows annotated back (answers from the journal included)
    kept: int = 0
    mismatched: int = 0  # scored label differs from the label asked for
    unsure: int = 0  # right label, confidence below verify_min_confidence
    unverified: int = 0  # no verdict: the call failed or no call was left
    by_label: dict[str, dict[str, int]] = field(default_factory=dict)  # {asked: {verified: n}}

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "kept": self.kept,
            "mismatched": self.mismatched,
            "unsure": self.unsure,
            "unverified": self.unverified,
            "by_label": self.by_label,
        }


def check_verification(task: Task, sampling: SamplingOptions) -> None:
    """Verification asks for label-conditioned generation; anything else is a ``ConfigError``."""
    if sampling.verify_min_confidence is not None and not sampling.verify:
        raise ConfigError(
            "verify_min_confidence is the confidence verification asks of a row, and verify is off",
            hint="set verify=True as well, or drop verify_min_confidence",
        )
    if sampling.verify and (not task.kind.conditioned or task.format.conditioning() is None):
        raise ConfigError(
            f"verify=True checks the label each generated row was asked for, and {task.kind.name} "
            "generation asks for none",
            hint="give label_options to generate label-conditioned rows, or set verify=False",
        )
    if sampling.calibration != "off" and task.kind.generates and not sampling.verify:
        raise ConfigError(
            f"calibration={sampling.calibration!r} calibrates scored labels, and generation without "
            "verify scores none",
            hint="set verify=True to calibrate the verifier of generated rows, or drop calibration",
        )


class VerifyPrompt:
    """The annotation prompt a generated row is checked with (also what ``fabricator plan`` counts)."""

    def __init__(self, task: Task, sampling: SamplingOptions, system_prompt: str | None = None) -> None:
        conditioned = task.format.conditioning()
        assert conditioned is not None, "check_verification admits label-conditioned tasks only"
        self.label_column, self.labels = conditioned
        self.text_column = task.prompt.target_column
        self.prompt = BasePrompt(
            VERIFY_TASK,
            generate_data_for_column=self.label_column,
            fewshot_example_columns=self.text_column,
            label_options=self.labels,
            label_descriptions=task.prompt.label_descriptions or None,
        )
        self.format = Labels(self.label_column, self.labels, synonyms=sampling.label_synonyms)
        self.system = f"{system_prompt} {self.format.instructions()}" if system_prompt else None

    def item(self, index: int, text: str) -> WorkItem:
        """The annotation prompt of generated row ``index`` with ``text`` (no examples)."""
        prompt_text = self.prompt.get_prompt_text(self.labels, [], {self.text_column: text})
        messages = self.prompt.messages_for(prompt_text, system=self.system, prefill=False)
        return WorkItem(index, tuple(messages), prompt_text)


class Verifier:
    """Annotates a round's new rows back and drops those whose label does not hold."""

    def __init__(
        self,
        task: Task,
        sampling: SamplingOptions,
        executor: Executor,
        budget: CallBudget,
    ) -> None:
        self.ask = VerifyPrompt(task, sampling, sampling.system_prompt)
        self.label_column, self.text_column = self.ask.label_column, self.ask.text_column
        self.min_confidence = sampling.verify_min_confidence
        self.maker = RowMaker(
            format=self.ask.format,
            input_columns=(self.text_column,),
            temperature=0.7,  # the samples fallback's answers; log-probability scoring is greedy
            max_tokens=16,
            seed=sampling.seed,
            scoring="auto" if sampling.label_scoring == "off" else sampling.label_scoring,
            label_samples=sampling.label_samples,
        )
        self.executor = executor
        self.budget = budget
        self.counts = VerificationCounts()
        self.calibrated = sampling.calibration == "batch"
        # running sums over every row checked so far (bounded, whatever the run's size): each
        # label's total probability, and how often each label was asked for
        self._mass: dict[str, float] = dict.fromkeys(self.ask.labels, 0.0)
        self._asked: dict[str, int] = {}
        self._seen = 0

    async def apply(self, batch: Round) -> Kept:
        """Verify the round's rows, through the run's executor (local or Ray) like every call."""
        for _ in range(len(batch.indices) - len(batch.rows)):  # rows that never reached verification
            self.budget.release()
        todo = sorted(batch.rows)
        verdicts: dict[int, Result] = {}

        def keep(item: WorkItem, result: Result) -> None:
            verdicts[item.index] = result

        items = [self.ask.item(i, str(batch.rows[i][self.text_column])) for i in todo]
        await self.executor.map(items, keep, maker=self.maker)
        if self.calibrated:
            self._calibrate(
                [(i, v) for i, v in sorted(verdicts.items()) if not isinstance(v, Failure)], batch.rows
            )
        kept = Kept({})
        for index in todo:  # in row order: the outcome does not depend on which call finished first
            verdict = verdicts.get(index)
            if verdict is None:
                kept.rows[index] = batch.rows[index]
                continue
            outcome = self._settle(index, verdict, batch.rows[index])
            if isinstance(outcome, Failure):
                kept.failures[index] = outcome
            else:
                kept.rows[index] = outcome
        return kept

    def _calibrate(self, verdicts: list[tuple[int, Row]], rows: Mapping[int, Row]) -> None:
        """Each verdict's label and confidence re-read (``scoring.settle``) with the verifier's
        prior divided out: the mean distribution, and the asked labels' frequencies, of every row
        checked so far; the raw scores stay in ``label_scores``, beside ``calibrated_scores``."""
        scored = [(i, v) for i, v in verdicts if v.provenance.get("label_scores")]
        for index, verdict in scored:
            self._seen += 1
            for label in self._mass:
                self._mass[label] += verdict.provenance["label_scores"].get(label, 0.0)
            asked = str(rows[index][self.label_column])
            self._asked[asked] = self._asked.get(asked, 0) + 1
        if not scored:
            return
        settle(
            [v for _, v in scored],
            self.label_column,
            list(self.ask.labels),
            calibration="batch",
            prior={label: mass / self._seen for label, mass in self._mass.items()},
            target={label: self._asked.get(label, 0) / self._seen for label in self._mass},
        )

    def _settle(self, index: int, verdict: Result, row: Row) -> Result:
        """The row, with its verdict in its provenance; or the failure it becomes."""
        asked = str(row[self.label_column])
        text = str(row[self.text_column])
        if isinstance(verdict, Failure):
            self.counts.unverified += 1
            return Failure(index, f"not verified: {verdict.error}", verdict.kind, text)
        self.counts.checked += 1
        found, confidence = str(verdict[self.label_column]), float(verdict["confidence"])
        tally = self.counts.by_label.setdefault(asked, {})
        tally[found] = tally.get(found, 0) + 1
        if found != asked:
            self.counts.mismatched += 1
            why = f"asked for {asked!r}, the teacher reads it as {found!r} (confidence {confidence:.3f})"
            return Failure(index, why, FailureKind.LABEL_MISMATCH, text)
        if self.min_confidence is not None and confidence < self.min_confidence:
            self.counts.unsure += 1
            why = (
                f"{asked!r} verified with confidence {confidence:.3f} "
                f"< verify_min_confidence {self.min_confidence}"
            )
            return Failure(index, why, FailureKind.UNVERIFIED, text)
        self.counts.kept += 1
        return replace(row, provenance=verified(row.provenance, verdict, found, confidence))


def verified(provenance: dict[str, Any], verdict: Row, found: str, confidence: float) -> dict[str, Any]:
    """A new provenance: the row's, with the verdict (and the invalid log-probability sets it met)."""
    theirs = verdict.provenance
    out = {
        **provenance,
        "verified": {
            "label": found,
            "confidence": round(confidence, 6),
            "label_scores": theirs.get("label_scores", {}),
        },
    }
    invalid = theirs.get("invalid_logprobs")
    if invalid:  # the verdict came from the teacher's answers: counted in the summary
        out["invalid_logprobs"] = provenance.get("invalid_logprobs", 0) + invalid
    calibrated = theirs.get("calibrated_scores")
    if calibrated is not None:  # the teacher's reading with its own prior divided out
        out["verified"]["calibrated_scores"] = calibrated
    return out


__all__ = ["VERIFY_TASK", "VerificationCounts", "Verifier", "VerifyPrompt", "check_verification", "verified"]
