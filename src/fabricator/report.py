"""What a run made, failed and spent: the report of one ``generate`` call (``last_run``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from .execution.calls import CallBudget
from .execution.stats import RunStats
from .execution.work import Failure
from .formats.kinds import TaskKind
from .pipeline.filters.judge import JudgeCounts
from .pipeline.filters.pool_check import PoolCheckCounts
from .pipeline.filters.verification import VerificationCounts


@dataclass
class GenerationReport:
    """What the last ``generate`` call made, failed and spent."""

    kind: TaskKind  # what the run did: generation, label-conditioned generation or annotation
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
    #: labels the pool classifier's mix changed (tuning mixed one in: ``pipeline.tune.pool_mix``)
    pool_changed: int | None = None
    #: attribute samplers: every attribute's values, proposed ones included, in the option's shape
    #: (``fabricator.attributes``; what a run saves to give the same values back)
    attributes: dict[str, Any] | None = None
    #: generation: near-duplicate rows dropped (``dedup_minhash``/``dedup_embedding``), and what
    #: label verification (``verify``) checked, kept and dropped
    near_duplicates: int | None = None
    verification: VerificationCounts | None = None
    #: label-conditioned generation: rows the pool's classifier read as another label (``pool_check``)
    pool_check: PoolCheckCounts | None = None
    #: the judge (``judge``): each criterion's mean score, histogram and rows rejected
    judge: JudgeCounts | None = None
    #: settings chosen on the labelled few-shot pool (``pipeline.tune``): ``Choice.summary()``
    tuning: dict[str, Any] | None = None
    #: the student loop (``pipeline.student_loop``): the student's pool accuracy per round, and steering
    student_loop: dict[str, Any] | None = None
    #: generation pilots (``pipeline.student_loop.pilots``): the setting chosen and the candidates
    pilots: dict[str, Any] | None = None

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
        if self.pool_changed is not None:
            scored["pool_classifier_changed"] = self.pool_changed
        if self.unsure is not None:
            scored.update(below_min_confidence=self.unsure, coverage=self.coverage)
        if self.near_duplicates is not None:
            scored["near_duplicates"] = self.near_duplicates
        if self.verification is not None:
            scored["verification"] = self.verification.as_dict()
        if self.pool_check is not None:
            scored["pool_check"] = self.pool_check.as_dict()
        if self.judge is not None:
            scored["judge"] = self.judge.as_dict()
        if self.tuning is not None:
            scored["tuning"] = self.tuning
        if self.student_loop is not None:
            scored["student_loop"] = self.student_loop
        if self.pilots is not None:
            scored["pilots"] = self.pilots
        dropped = sum(len(p.get("dropped_spans", ())) for p in self.provenance)
        if dropped:  # entity spans of partly good answers left out (the rows kept)
            scored["dropped_spans"] = dropped
        return {
            "mode": self.kind.name,
            "requested": self.requested,
            "rows": self.rows,
            "failures": len(self.failures),
            "interrupted": self.interrupted,
            "calls": self.budget.used,
            "call_cap": self.budget.limit,
            **(
                {"reask_allowance": self.budget.allowance, "reasks_beyond_cap": self.budget.beyond}
                if self.budget.allowance
                else {}
            ),
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


__all__ = ["GenerationReport"]
