"""The resolved task of one ``generate`` call, and what of it the journal and the row driver need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from ..attributes import Attribute
from ..formats import OutputFormat
from ..llms.base import LLM
from ..options import SamplingOptions
from ..prompts import BasePrompt
from ..samplers import FewShotPool, SimilarIndex
from .rows import RowMaker


@dataclass
class Task:
    """Everything resolved and checked from the arguments of one ``generate`` call."""

    prompt: BasePrompt
    mode: str  # "unlabeled", "label-conditioned" or "annotation" (for reports and the journal)
    format: OutputFormat
    pool: FewShotPool | None
    strategy: str | None
    per_class: int | None
    unlabeled: Dataset | None
    unlabeled_rows: list[dict[str, Any]] | None
    seed: int
    structured: bool  # the answer's JSON schema is sent with every request
    use_prefill: bool
    #: how labels are picked (``label_scoring``: "auto", "logprobs" or "samples"); None: parsed text
    scoring: str | None = None
    similar: SimilarIndex | None = None  # strategy "similar": the pool's embedding index
    examples: int | None = None  # "similar" without per-class balance: the k nearest
    reuse: int = 1  # consecutive rows sharing one few-shot draw (fewshot_reuse)
    votes: int = 1  # prompts per row (other few-shot draws) whose label scores are combined
    rephrasings: tuple[BasePrompt, ...] = ()  # the prompt in other wordings: one vote each
    #: attribute samplers: values dealt to each prompt (``fabricator.attributes``; proposed ones are
    #: filled in by ``attributes.propose`` before the first round)
    attributes: list[Attribute] | None = None
    rows_per_call: int = 1  # generation: rows one call writes (``fabricator.grouped``)

    @property
    def prompts_per_row(self) -> int:
        """The prompts each row is scored with: its own, its other few-shot draws, its rephrasings."""
        return self.votes + len(self.rephrasings) if self.scoring is not None else 1


def signature(task: Task, llm: LLM) -> dict[str, Any]:
    """What makes a journal belong to a task (not the settings that only change some answers)."""
    p = task.prompt
    return {
        "mode": task.mode,
        "model": llm.name,
        "task_description": p.task_description,
        "target_column": p.target_column,
        "input_columns": p.input_columns,
        "label_options": p.label_options,
    }


def row_maker(task: Task, sampling: SamplingOptions | None = None, max_tries: int = 3) -> RowMaker:
    """What making and parsing a row needs from the task, as a small picklable object."""
    sampling = sampling or SamplingOptions()
    return RowMaker(
        format=task.format,
        input_columns=tuple(task.prompt.input_columns),
        json_schema=task.format.json_schema() if task.structured else None,
        unlabeled_rows=task.unlabeled_rows,
        temperature=sampling.temperature,
        max_tokens=sampling.max_tokens,
        max_tries=max_tries,
        seed=task.seed,
        scoring=task.scoring,
        label_samples=sampling.label_samples,
    )


__all__ = ["Task", "row_maker", "signature"]
