"""The near-duplicate filter: generated rows too like an earlier kept row or a shown example."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...errors import ConfigError
from ...execution.work import Failure, FailureKind, Row
from ...near_duplicates import NearDuplicates
from ...options import SamplingOptions
from ..task import Task
from . import Kept, Round
from .copies import row_text


class NearDuplicateFilter:
    """Drops generated rows too like an earlier kept row (``dedup_minhash``, ``dedup_embedding``).

    Like ``CopyFilter``: applied in row order after each round; a dropped row becomes a
    ``NearDuplicate`` failure naming the row it repeats (``CopiedExample`` naming the few-shot
    example it copies), and the next round replaces it. ``dropped`` counts them over the run.
    """

    def __init__(self, column: str, detector: NearDuplicates, examples: dict[int, str] | None = None) -> None:
        self.column = column
        self.detector = detector
        self.examples = examples or {}  # few-shot row id -> text, indexed once first shown
        self.indexed: set[int] = set()
        self.dropped = 0

    @classmethod
    def of(cls, task: Task, sampling: SamplingOptions) -> NearDuplicateFilter | None:
        """The filter the options ask for (``None``: neither threshold is set)."""
        if sampling.dedup_minhash is None and sampling.dedup_embedding is None:
            return None
        if not task.kind.generates:
            raise ConfigError(
                "dedup_minhash and dedup_embedding drop generated rows, and an annotation keeps "
                "every input row",
                hint="leave them unset when annotating an unlabeled_dataset",
            )
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

    async def apply(self, batch: Round) -> Kept:
        return self.split(batch.rows, batch.shown)

    def split(self, rows: Mapping[int, Row], shown: Sequence[int] = ()) -> Kept:
        """``rows`` (one round's) kept and dropped; their prompts showed the few-shot examples
        ``shown`` (row ids: indexed first, so a near copy of one is dropped too; only shown ones,
        so a large pool costs nothing unseen)."""
        new = [i for i in dict.fromkeys(shown) if i in self.examples and i not in self.indexed]
        if new:
            self.detector.add_references([(i, self.examples[i]) for i in new])
            self.indexed.update(new)
        found = self.detector.check([(i, row_text(rows[i], self.column)) for i in sorted(rows)])
        kept = Kept({i: rows[i] for i in sorted(rows)})
        for dup in found:
            text = row_text(kept.rows.pop(dup.index), self.column)
            if dup.reference is None:
                kept.failures[dup.index] = Failure(
                    dup.index, dup.reason(), FailureKind.NEAR_DUPLICATE, text, duplicate_of=dup.duplicate_of
                )
            else:
                kept.failures[dup.index] = Failure(dup.index, dup.reason(), FailureKind.COPIED_EXAMPLE, text)
        self.dropped += len(found)
        return kept

    def drop(
        self,
        rows: dict[int, Row],
        failures: dict[int, Failure],
        indices: list[int],
        shown: Sequence[int] = (),
    ) -> int:
        """``split`` applied to the caller's own ``rows`` and ``failures`` (rows ``indices``);
        how many were dropped."""
        kept = self.split({i: rows[i] for i in indices if i in rows}, shown)
        for index in kept.failures:
            del rows[index]
        failures.update(kept.failures)
        return len(kept.failures)


__all__ = ["NearDuplicateFilter"]
