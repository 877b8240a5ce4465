"""What a run made: the report, the duplicate filter, the call log, and the assembled dataset."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import ClassLabel, Dataset, Features, Value

from .errors import ConfigError
from .execution.engine import RunStats
from .llms.base import Request
from .options import SamplingOptions
from .parsing import normalize_text
from .planning import Task
from .rows import CallBudget, Failure, WorkItem
from .scoring.settle import settle
from .verification import VerificationCounts

if TYPE_CHECKING:
    from .near_duplicates import NearDuplicates

log = logging.getLogger("fabricator")


@dataclass
class GenerationReport:
    """What the last ``generate`` call made, failed and spent."""

    mode: str
    requested: int = 0
    rows: int = 0
    failures: list[Failure] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)
    interrupted: bool = False
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one per returned row
    budget: CallBudget = field(default_factory=CallBudget)  # the model calls made, and their cap
    warnings: list[str] = field(default_factory=list)  # e.g. the journal's (lines set aside)
    #: scored annotation: rows below ``min_confidence`` (kept as failures) and labels calibration changed
    unsure: int | None = None
    calibration_changed: int | None = None
    #: attribute samplers: every attribute's values, proposed ones included, in the option's shape
    #: (``fabricator.attributes``; what a run saves to give the same values back)
    attributes: dict[str, Any] | None = None
    #: generation: near-duplicate rows dropped (``dedup_minhash``/``dedup_embedding``), and what
    #: label verification (``verify``) checked, kept and dropped
    near_duplicates: int | None = None
    verification: VerificationCounts | None = None

    def failures_dataset(self) -> Dataset:
        rows = [f.as_dict() for f in self.failures]
        return (
            Dataset.from_list(rows)
            if rows
            else Dataset.from_dict(
                {"index": [], "source": [], "kind": [], "error": [], "raw": [], "duplicate_of": []}
            )
        )

    def summary(self) -> dict[str, Any]:
        scored: dict[str, Any] = {}
        if self.calibration_changed is not None:
            scored["calibration_changed"] = self.calibration_changed
        if self.unsure is not None:
            scored.update(below_min_confidence=self.unsure, coverage=self.coverage)
        if self.near_duplicates is not None:
            scored["near_duplicates"] = self.near_duplicates
        if self.verification is not None:
            scored["verification"] = self.verification.as_dict()
        return {
            "mode": self.mode,
            "requested": self.requested,
            "rows": self.rows,
            "failures": len(self.failures),
            "interrupted": self.interrupted,
            "calls": self.budget.used,
            "call_cap": self.budget.limit,
            **self._stats_with_scoring(),
            **scored,
        }

    def _stats_with_scoring(self) -> dict[str, Any]:
        """The engine's counters, with the invalid log-probability sets label scoring found (in
        answers that entered unchecked: an older journal, another backend) added to the engine's
        own count of those it dropped as they entered."""
        counts = self.stats.as_dict()
        found = sum(p.get("invalid_logprobs", 0) for p in self.provenance)
        if found:
            counts["invalid_logprobs"] = counts.get("invalid_logprobs", 0) + found
        return counts

    @property
    def coverage(self) -> float | None:
        """Share of the scored rows kept by ``min_confidence`` (``None`` without the filter)."""
        if self.unsure is None:
            return None
        total = self.rows + self.unsure
        return round(self.rows / total, 4) if total else 0.0


class CopyFilter:
    """Drops generated rows that repeat an earlier row or copy a few-shot example.

    Applied in row order after each round, so the result does not depend on which request
    finished first; dropped rows become failures and the next round replaces them.
    """

    def __init__(self, task: Task) -> None:
        self.column = task.prompt.target_column
        self.examples = (
            {normalize_text(str(r[self.column])) for r in task.pool.rows if self.column in r}
            if task.pool
            else set()
        )
        self.seen: set[str] = set()

    def drop(self, rows: dict[int, dict[str, Any]], failures: dict[int, Failure], indices: list[int]) -> None:
        for index in sorted(i for i in indices if i in rows):
            text = rows[index][self.column]
            key = normalize_text(str(text))
            kind = "CopiedExample" if key in self.examples else "Duplicate" if key in self.seen else None
            if kind is None:
                self.seen.add(key)
                continue
            del rows[index]
            what = "copies a few-shot example" if kind == "CopiedExample" else "repeats an earlier row"
            failures[index] = Failure(index, f"the text {what}", kind, text)


class NearDuplicateFilter:
    """Drops generated rows too like an earlier kept row (``dedup_minhash``, ``dedup_embedding``).

    Like ``CopyFilter``: applied in row order after each round; a dropped row becomes a
    ``NearDuplicate`` failure naming the row it repeats (``CopiedExample`` naming the few-shot
    example it copies), and the next round replaces it.
    """

    def __init__(self, column: str, detector: NearDuplicates, examples: dict[int, str] | None = None) -> None:
        self.column = column
        self.detector = detector
        self.examples = examples or {}  # few-shot row id -> text, indexed once first shown
        self.indexed: set[int] = set()

    @classmethod
    def of(cls, task: Task, sampling: SamplingOptions) -> NearDuplicateFilter | None:
        """The filter the options ask for (``None``: neither threshold is set)."""
        if sampling.dedup_minhash is None and sampling.dedup_embedding is None:
            return None
        if task.unlabeled is not None:
            raise ConfigError(
                "dedup_minhash and dedup_embedding drop generated rows, and an annotation keeps "
                "every input row",
                hint="leave them unset when annotating an unlabeled_dataset",
            )
        from .near_duplicates import NearDuplicates

        detector = NearDuplicates(
            minhash=sampling.dedup_minhash, embedding=sampling.dedup_embedding, seed=sampling.seed
        )
        column = task.prompt.target_column
        pool = task.pool
        examples = (
            {i: str(r[column]) for i, r in zip(pool.row_ids, pool.rows, strict=True) if column in r}
            if pool
            else {}
        )
        return cls(column, detector, examples)

    def drop(
        self,
        rows: dict[int, dict[str, Any]],
        failures: dict[int, Failure],
        indices: list[int],
        shown: Sequence[int] = (),
    ) -> int:
        """Drop the near duplicates among rows ``indices``, whose prompts showed the few-shot
        examples ``shown`` (row ids: indexed first, so a near copy of one is dropped too; only
        shown ones, so a large pool costs nothing unseen); how many were dropped."""
        new = [i for i in dict.fromkeys(shown) if i in self.examples and i not in self.indexed]
        if new:
            self.detector.add_references([(i, self.examples[i]) for i in new])
            self.indexed.update(new)
        kept = [(i, str(rows[i][self.column])) for i in sorted(indices) if i in rows]
        found = self.detector.check(kept)
        for dup in found:
            text = rows.pop(dup.index)[self.column]
            if dup.reference is None:
                failures[dup.index] = Failure(
                    dup.index, dup.reason(), "NearDuplicate", text, duplicate_of=dup.duplicate_of
                )
            else:
                failures[dup.index] = Failure(dup.index, dup.reason(), "CopiedExample", text)
        return len(found)


def finish(
    rows: dict[int, dict[str, Any]],
    task: Task,
    wanted: int,
    with_original: bool,
    report: GenerationReport,
    sampling: SamplingOptions | None = None,
) -> Dataset | tuple[Dataset, Dataset]:
    """The dataset of the rows made (in row order); their provenance goes to ``report``.

    Scored annotations are calibrated and filtered by ``min_confidence`` here, over the whole run;
    rows below it become failures of kind ``LowConfidence`` (nothing is lost).
    """
    ordered = [rows[i] for i in sorted(rows)][:wanted]
    if task.scoring is not None and sampling is not None:
        ordered = _settle(ordered, task, report, sampling)
    dataset = to_dataset(ordered, task)
    report.provenance = [r.get("__provenance", {}) for r in ordered]
    if not with_original:
        return dataset
    if task.unlabeled is None:
        return dataset, Dataset.from_dict({})
    return dataset, task.unlabeled.select([r["__source"] for r in ordered])


def _settle(
    ordered: list[dict[str, Any]], task: Task, report: GenerationReport, sampling: SamplingOptions
) -> list[dict[str, Any]]:
    column = getattr(task.format, "column", task.prompt.target_column)
    settled = settle(
        ordered,
        column,
        task.prompt.label_options or [],
        calibration=sampling.calibration,
        min_confidence=sampling.min_confidence,
        target=_pool_frequencies(task),
    )
    if sampling.calibration != "off":
        report.calibration_changed = settled.changed
    if sampling.min_confidence is not None:
        report.unsure = len(settled.unsure)
        known = {f.index for f in report.failures}
        for row, confidence in settled.unsure:
            index = row["__provenance"].get("row", -1)
            if index not in known:
                report.failures.append(
                    Failure(
                        index,
                        f"confidence {confidence:.3f} is below min_confidence {sampling.min_confidence}",
                        "LowConfidence",
                        str(row[column]),
                        row.get("__source"),
                    )
                )
        report.failures.sort(key=lambda f: f.index)
        report.rows = len(settled.rows)
    return settled.rows


def _pool_frequencies(task: Task) -> dict[str, float] | None:
    """The labels' shares in the labelled few-shot pool (calibration's target), if there is one."""
    pool, labels = task.pool, task.prompt.label_options or []
    column = getattr(task.format, "column", task.prompt.target_column)
    if pool is None or not labels:
        return None
    counts = Counter(str(row.get(column)) for row in pool.rows)
    if not set(counts) <= set(labels):  # not labelled with the options (or not labelled at all)
        return None
    total = sum(counts.values()) + len(labels)  # add-one: no label is ruled out
    return {label: (counts[label] + 1) / total for label in labels}


def to_dataset(rows: list[dict[str, Any]], task: Task) -> Dataset:
    """The rows with their features: the input columns' own, then the format's."""
    features: dict[str, Any] = {}
    if task.unlabeled is not None:
        for c in task.prompt.input_columns:
            features[c] = task.unlabeled.features[c]
    features.update(task.format.features())
    if task.scoring is not None:
        features["confidence"] = Value("float32")  # the probability of the row's label
    for column, feature in features.items():
        if isinstance(feature, ClassLabel) and not _all_labels(rows, column, feature.names):
            features[column] = Value("string")
    columns = {c: [r[c] for r in rows] for c in features}
    return Dataset.from_dict(columns, features=Features(features))


def _all_labels(rows: list[dict[str, Any]], column: str, names: Sequence[str]) -> bool:
    """Whether every value is a label; else (a dry run's dummy text) the column is text."""
    known = set(names)
    if all(not isinstance(r[column], str) or r[column] in known for r in rows):
        return True
    log.warning(
        "dry run: the dummy response is not one of the label options %s; the %r column "
        "is returned as plain text",
        sorted(known),
        column,
    )
    return False


class CallLog:
    """JSONL log of every prompt and response (``log_path``), plus a sample in the logger.

    One line a call: a row's (``row`` its index) or an attribute proposal's (``row`` null,
    ``proposal`` the attribute's name)."""

    def __init__(self, path: str | Path | None, every: int) -> None:
        self.every = every
        self.count = 0
        self.file = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run, see close()

    def write(self, item: WorkItem, request: Request, response: str) -> None:
        self.count += 1
        if self.every and self.count % self.every == 0:
            log.info(
                "call %d, row %d\nprompt: %s\nresponse: %s",
                self.count,
                item.index,
                item.prompt_text,
                response,
            )
        self._append(
            {
                "row": item.index,
                "source": item.source,
                "label": item.label,
                "fewshot_ids": list(item.fewshot_ids),
                "seed": request.seed,
                "messages": list(request.messages),
                "response": response,
            }
        )

    def write_proposal(self, attribute: str, label: str | None, request: Request, response: str) -> None:
        """A call that proposed the values of ``attribute``: no row's, so ``row`` is null."""
        self._append(
            {
                "row": None,
                "proposal": attribute,
                "label": label,
                "seed": request.seed,
                "messages": list(request.messages),
                "response": response,
            }
        )

    def _append(self, entry: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


__all__ = ["CallLog", "CopyFilter", "GenerationReport", "NearDuplicateFilter", "finish", "to_dataset"]
