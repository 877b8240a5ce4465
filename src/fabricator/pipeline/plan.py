"""The plan: seeded, prefix-stable, lazy work items of a resolved task.

Row ``i`` gets the same prompt whatever the number of rows asked, so a larger run reuses a smaller
one's answers from the journal; items are made a round at a time and never kept, so memory does
not grow with the plan. ``plan_prompts`` resolves and plans for code that only wants the prompts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from datasets import Dataset

from ..attributes import AttributeDealer
from ..execution.calls import CallBudget
from ..execution.work import WorkItem
from ..llms.base import LLM
from ..options import SYSTEM_PROMPT, GenerationOptions
from ..prompts import BasePrompt
from ..samplers import FewShotPool, FewShotSample
from .grouped import group_messages, group_prompt_text
from .resolve import resolve_task
from .task import Task

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Planner:
    """Seeded, prefix-stable, lazy plan: item ``i`` is the same whatever the total.

    Items come from one seeded sequence (few-shot draws, label order), made when a round asks for
    them and not kept, so memory does not depend on the number of rows planned. Rounds must
    therefore ask in order; items skipped over are still made (and dropped) to keep the sequence.
    With ``fewshot_reuse=N`` draw ``b`` serves rows ``b*N`` to ``b*N + N - 1`` (with ``fewshot_blocks=W``,
    ``W`` such blocks at a time, dealt round robin, block ``w``'s rows pinned to server slot ``w``
    so that the slot's prompt cache serves them: ``WorkItem.slot``); with "similar" a row's
    examples depend on its text and the pool only (its round's rows are embedded in one call).
    """

    def __init__(self, task: Task, system_prompt: str | None = SYSTEM_PROMPT) -> None:
        self.task = task
        self.system = system_prompt
        fmt = task.format
        if fmt.reask and system_prompt:
            self.system = f"{system_prompt} {fmt.instructions()}"
        if task.structured and self.system and fmt.json_instructions():
            self.system += f" {fmt.json_instructions()}"
        conditioned = fmt.conditioning()
        self.labels = conditioned[1] if conditioned is not None else None
        self.options = task.sampling
        self.rng = random.Random(self.options.seed)
        self.made = 0  # index of the next item of the seeded sequence
        self._block: list[str] = []
        self._wanted: list[str] = []  # top-up labels (``top_up``), asked before the sequence goes on
        self._nearest: dict[int, list[int]] = {}  # "similar": this round's rows -> pool indices
        # fewshot_reuse: each open block's label, and its draw with the label it was drawn for
        self._labels: dict[int, str | None] = {}
        self._draws: dict[int, tuple[str | None, FewShotSample]] = {}
        self._width = self.options.fewshot_blocks
        self._span = self.options.fewshot_reuse * self._width  # rows of one round of blocks
        # rows of a block share one prompt: pin each block to its own server slot (``WorkItem.slot``)
        self._pinned = self._width > 1 and self.options.fewshot_reuse > 1
        #: attribute values: their own seeded sequences, so the one above is as without them
        self.dealer = AttributeDealer(task.attributes, self.options.seed) if task.attributes else None

    def items(self, start: int, stop: int) -> list[WorkItem]:
        """Items ``start`` to ``stop - 1`` (``start`` not before the end of the last round)."""
        if start < self.made:
            raise ValueError(f"item {start} was already handed out (the plan is not kept)")
        out: list[WorkItem] = []
        self._find_nearest(max(start, self.made), stop)
        while self.made < stop:
            if self.options.rows_per_call > 1:  # a group never spans start (nor stop)
                end = start if self.made < start else stop
                item = self._group(self.made, min(self.options.rows_per_call, end - self.made))
            else:
                item = self._item(self.made)
            if self.made >= start:
                out.append(item)
            self.made += len(item.rows)
        return out

    def _find_nearest(self, start: int, stop: int) -> None:
        """The nearest examples of rows ``start`` to ``stop - 1``, their texts embedded in one call."""
        task = self.task
        if task.similar is None or task.unlabeled_rows is None:
            return
        indices = range(start, min(stop, len(task.unlabeled_rows)))
        texts = [task.similar.text_of(task.unlabeled_rows[i]) for i in indices]
        k = task.per_class or self.options.fewshot_examples or 1
        self._nearest = dict(zip(indices, task.similar.nearest(texts, k, bool(task.per_class)), strict=True))

    def _sample(self, pool: FewShotPool, index: int, label: str | None) -> FewShotSample:
        """Row ``index``'s examples: its nearest, or a seeded draw shared by ``reuse`` rows in a row
        (so their prompts share the task-and-examples prefix the server caches)."""
        task = self.task
        if task.similar is not None:
            picked = self._nearest.pop(index, [])  # none: an item skipped over, never sent
            return FewShotSample(None, [pool.rows[i] for i in picked], [pool.row_ids[i] for i in picked])
        block = index % self._span % self._width
        shared = self._draws.get(block)
        if shared is None or index % self._span < self._width or shared[0] != label:
            shared = self._draws[block] = (label, pool.draw(self.rng, task.strategy, task.per_class, label))
        return shared[1]

    def reserve(self, budget: CallBudget, rows: int, calls_per_row: int, *, first: bool = False) -> int:
        """Set aside in ``budget`` the first asks of up to ``rows`` more rows; how many rows got
        them. A grouped plan's call writes ``rows_per_call`` rows of one label, so its calls are
        counted per label; for its ``first`` rows it deals the labels in even shares of those rows
        (``top_up`` deals later rows by what the kept rows lack)."""
        per_call = self.options.rows_per_call
        labels = (len(self.labels or ()) or 1) if per_call > 1 else 1
        granted = budget.reserve(rows, calls_per_row, per_call, labels)
        if first and per_call > 1:
            self.top_up({}, granted, granted)
        return granted

    def top_up(self, kept: Mapping[str, int], wanted: int, rows: int) -> None:
        """Label the next ``rows`` items by what the kept rows lack, so filters that drop more of
        one class (near duplicates, verification) do not unbalance a run of ``wanted`` rows: the
        labels furthest below their even share first, in turns; rows beyond the shortfall follow
        the seeded sequence."""
        if not self.labels:
            return
        share, extra = divmod(wanted, len(self.labels))
        short = {label: share - kept.get(label, 0) for label in self.labels}
        for label in sorted(self.labels, key=lambda lab: -short[lab])[:extra]:
            short[label] += 1  # the remainder goes to the labels furthest behind
        queue: list[str] = []
        while len(queue) < rows and any(n > 0 for n in short.values()):
            for label in sorted(self.labels, key=lambda lab: -short[lab]):
                if short[label] > 0 and len(queue) < rows:
                    queue.append(label)
                    short[label] -= 1
        self._wanted = queue[::-1]  # popped from the end

    def _next_label(self) -> str | None:
        if not self.labels:
            return None
        if self._wanted:
            return self._wanted.pop()
        if not self._block:  # balanced: every label once per block, in a seeded order
            self._block = list(self.labels)
            self.rng.shuffle(self._block)
        return self._block.pop()

    def _row_label(self, index: int) -> str | None:
        """Row ``index``'s label. With ``fewshot_reuse`` a block of generated rows keeps the label of
        its first row, so the block's prompts are one text and the server's prompt cache serves all
        of it after the first row; balance holds over blocks (top-ups still go row by row). With
        ``fewshot_blocks`` the blocks are dealt round robin: row ``i`` is in block ``i % blocks`` of
        its round, so the rows in flight at once are in different blocks."""
        if self._span == 1 or self._wanted:
            return self._next_label()
        block = index % self._span % self._width
        if index % self._span < self._width or block not in self._labels:
            self._labels[block] = self._next_label()
        return self._labels[block]

    def _item(self, index: int) -> WorkItem:
        task, prompt = self.task, self.task.prompt
        label = self._row_label(index)
        labels: str | list[str] | None = label if label is not None else prompt.label_options
        examples: list[dict[str, Any]] = []
        ids: tuple[int, ...] = ()
        if task.pool is not None:
            sample = self._sample(task.pool, index, label)
            examples, ids = sample.examples, tuple(sample.ids)
            if label is None and isinstance(sample.labels, str):
                labels = sample.labels
        row = task.unlabeled_rows[index] if task.unlabeled_rows is not None else None
        values = self.dealer.deal(label) if self.dealer is not None else ()
        text, messages = self._chat(prompt, labels, examples, row, dict(values) or None)
        votes = self._votes(index, labels, examples, ids, row) if task.prompts_per_row > 1 else ()
        source = index if row is not None else None
        slot = index % self._span % self._width if self._pinned else None
        return WorkItem(index, tuple(messages), text, label, source, ids, votes, values, slot=slot)

    def _group(self, index: int, size: int) -> WorkItem:
        """Rows ``index`` to ``index + size - 1`` written by one call (``rows_per_call``): one label
        and one few-shot draw, each row with its own attribute values (``fabricator.grouped``)."""
        task, prompt = self.task, self.task.prompt
        queued = bool(self._wanted)
        label = self._next_label()
        if queued and label is not None:  # a top-up label: the group writes no more than wanted
            size = min(size, 1 + self._wanted.count(label))
            for _ in range(size - 1):
                self._wanted.remove(label)
        examples: list[dict[str, Any]] = []
        ids: tuple[int, ...] = ()
        if task.pool is not None:
            sample = self._sample(task.pool, index, label)
            examples, ids = sample.examples, tuple(sample.ids)
        values = [self.dealer.deal(label) if self.dealer is not None else () for _ in range(size)]
        labels = label if label is not None else prompt.label_options
        text = group_prompt_text(prompt, labels, examples, [dict(v) for v in values])
        messages = group_messages(text, self.system, task.use_prefill)
        members = tuple(WorkItem(index + j, (), text, label, None, ids, (), values[j]) for j in range(size))
        return WorkItem(index, messages, text, label, None, ids, members=members)

    def _votes(
        self,
        index: int,
        labels: str | list[str] | None,
        examples: list[dict[str, Any]],
        ids: tuple[int, ...],
        row: dict[str, Any] | None,
    ) -> tuple[tuple[tuple[dict[str, str], ...], tuple[int, ...]], ...]:
        """The other prompts of row ``index``: a new seeded draw each ("similar": its examples
        in another seeded order), then each task rephrasing with the row's own examples. Seeded by
        row (by block with ``fewshot_reuse``, so the rows of a block share each vote's prompt
        prefix too) and vote; the main sequence is unchanged."""
        task, prompt = self.task, self.task.prompt
        out = []
        seed, reuse = self.options.seed, self.options.fewshot_reuse
        for vote in range(1, self.options.votes):
            assert task.pool is not None
            rng = random.Random(f"{seed}:{index // reuse}:{vote}")  # shared like the main draw
            if task.similar is not None:
                order = list(range(len(examples)))
                rng.shuffle(order)
                drawn, drawn_ids = [examples[i] for i in order], tuple(ids[i] for i in order)
            else:
                sample = task.pool.draw(rng, task.strategy, task.per_class)
                drawn, drawn_ids = sample.examples, tuple(sample.ids)
            _, messages = self._chat(prompt, labels, drawn, row)
            out.append((tuple(messages), drawn_ids))
        for rephrased in task.rephrasings:
            _, messages = self._chat(rephrased, labels, examples, row)
            out.append((tuple(messages), ids))
        return tuple(out)

    def _chat(
        self,
        prompt: BasePrompt,
        labels: str | list[str] | None,
        examples: list[dict[str, Any]],
        row: dict[str, Any] | None,
        attributes: dict[str, str] | None = None,
    ) -> tuple[str, list[dict[str, str]]]:
        """A prompt's text and messages; shown as turns, a generated label's examples each ask for
        their own label."""
        column = self.task.pool.label_column if self.task.pool is not None else None
        own = isinstance(labels, str) and column is not None and prompt.examples_as_turns
        return prompt.chat(
            labels,
            examples,
            row,
            attributes,
            example_labels=[str(e[column]) for e in examples] if own and column else None,
            system=self.system,
            prefill=self.task.use_prefill,
        )


class PlanOptions(TypedDict, total=False):
    """What ``plan_prompts`` takes besides the paper's arguments."""

    count: int  # prompts wanted (default 10)
    llm: LLM | None
    options: GenerationOptions | None


def plan_prompts(
    prompt_template: BasePrompt,
    fewshot_dataset: Dataset | None = None,
    fewshot_sampling_strategy: str | None = None,
    fewshot_examples_per_class: int | None = None,
    fewshot_sampling_column: str | None = None,
    unlabeled_dataset: Dataset | None = None,
    **how: Unpack[PlanOptions],
) -> list[WorkItem]:
    """The first ``count`` prompts ``generate`` would send with these arguments (no model call)."""
    options = how.get("options") or GenerationOptions()
    task = resolve_task(
        prompt_template,
        fewshot_dataset,
        fewshot_sampling_strategy,
        fewshot_examples_per_class,
        fewshot_sampling_column,
        unlabeled_dataset,
        llm=how.get("llm"),
        sampling=options.sampling,
    )
    return Planner(task, options.sampling.system_prompt).items(0, how.get("count", 10))


__all__ = ["PlanOptions", "Planner", "plan_prompts"]
