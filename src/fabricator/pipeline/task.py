"""The resolved task of one ``generate`` call, and what of it the journal and the row driver need.

A ``Task`` holds only what resolution computes (the prompt, its kind and format, the few-shot pool,
the rows to annotate, how labels are scored); the options stay in the options object it was
resolved with (``task.sampling``), which each stage reads for itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from ..attributes import Attribute
from ..formats.base import FullFormat
from ..formats.kinds import TaskKind
from ..llms.base import LLM
from ..options import SamplingOptions
from ..prompts import BasePrompt
from ..samplers import FewShotPool, SimilarIndex
from .rows import RowMaker
from .tune.choice import Tuned

#: the calls one row may take when its answers are wrong (its first ask and the re-asks);
#: ``DatasetGenerator(max_tries=...)`` and ``fabricator plan`` both start from it
MAX_TRIES = 3


@dataclass
class Task:
    """Everything resolved and checked from the arguments of one ``generate`` call."""

    prompt: BasePrompt
    kind: TaskKind  # generation, label-conditioned generation or annotation (``formats.kinds``)
    format: FullFormat
    pool: FewShotPool | None
    strategy: str | None
    per_class: int | None
    unlabeled: Dataset | None
    unlabeled_rows: list[dict[str, Any]] | None
    structured: bool  # the answer's JSON schema is sent with every request
    use_prefill: bool
    #: the options the task was resolved with: each stage reads its own of them here
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    #: how labels are picked (``label_scoring``: "auto", "logprobs" or "samples"); None: parsed text
    scoring: str | None = None
    similar: SimilarIndex | None = None  # strategy "similar": the pool's embedding index
    rephrasings: tuple[BasePrompt, ...] = ()  # the prompt in other wordings: one vote each
    #: attribute samplers: values dealt to each prompt (``fabricator.attributes``; proposed ones are
    #: filled in by ``attributes.propose`` before the first round)
    attributes: list[Attribute] | None = None
    #: what tuning chose on the labelled pool (``pipeline.tune``): its temperature rescales confidences
    tuned: Tuned | None = None

    @property
    def verified(self) -> bool:
        """Each generated row is checked by annotating it back (``verify``; a dry run has no teacher)."""
        return self.sampling.verify and self.kind.generates and not self.kind.canned

    @property
    def prompts_per_row(self) -> int:
        """The prompts each row is scored with: its own, its other few-shot draws, its rephrasings."""
        return self.sampling.votes + len(self.rephrasings) if self.scoring is not None else 1


def signature(task: Task, llm: LLM) -> dict[str, Any]:
    """What makes a journal belong to a task (not the settings that only change some answers)."""
    p = task.prompt
    return {
        "mode": task.kind.name,
        "model": llm.name,
        "task_description": p.task_description,
        "target_column": p.target_column,
        "input_columns": p.input_columns,
        "label_options": p.label_options,
    }


def row_maker(task: Task, sampling: SamplingOptions | None = None, max_tries: int = MAX_TRIES) -> RowMaker:
    """What making and parsing a row needs from the task, as a small picklable object
    (``sampling``: other options than the task's, e.g. for a test)."""
    sampling = sampling or task.sampling
    return RowMaker(
        format=task.format,
        input_columns=tuple(task.prompt.input_columns),
        json_schema=task.format.json_schema() if task.structured else None,
        unlabeled_rows=task.unlabeled_rows,
        temperature=sampling.temperature,
        max_tokens=sampling.max_tokens,
        max_tries=max_tries,
        seed=sampling.seed,
        scoring=task.scoring,
        label_samples=sampling.label_samples,
    )


__all__ = ["MAX_TRIES", "Task", "row_maker", "signature"]
