"""Attribute proposals: the calls that ask the model for an attribute's values, before any row.

They go through the run's executor like every other call (local, or Ray actors), each counted
against the run's ``CallBudget`` from the spare calls and journaled (a resume asks nothing
again). ``ProposalMaker`` is their row maker: it asks one proposal's request and keeps the
answer's text; ``propose`` reads the values out of the answers, in the proposals' order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..attributes import Choice, Proposal, parse_values, plain_values, proposals
from ..errors import ConfigError, ParseError
from ..execution.call_log import CallLog
from ..execution.calls import CallBudget, CallLogger, EngineLike, counted_call
from ..execution.executor import Executor
from ..execution.work import Failure, FailureKind, Result, Row, WorkItem
from ..llms.base import Request
from ..options import SamplingOptions
from .task import Task

#: the column of a proposal's answer text
ANSWER = "text"


@dataclass(frozen=True)
class ProposalMaker:
    """Asks proposal ``i`` (work item ``i``) its request; the answer's text is the row."""

    requests: tuple[Request, ...]

    def without_rows(self) -> ProposalMaker:
        return self

    def source_row(self, item: WorkItem) -> Mapping[str, Any] | None:
        return None

    def request(self, item: WorkItem, messages: Sequence[dict[str, str]], attempt: int) -> Request:
        return self.requests[item.index]

    def parse(self, item: WorkItem, text: str) -> Row:
        return Row({ANSWER: text})

    async def make(
        self,
        engine: EngineLike,
        item: WorkItem,
        logger: CallLogger,
        source: Mapping[str, Any] | None = None,
        budget: CallBudget | None = None,
    ) -> Result:
        """One proposal's answer (its journal key is the request's alone: ``sample`` 0)."""
        request = self.requests[item.index]
        completion = await counted_call(engine, request, budget or CallBudget(), first=False)
        if completion is None:
            return Failure(item.index, "no call left", FailureKind.CALL_CAP_REACHED)
        return self.parse(item, completion.text)


async def propose(
    task: Task,
    executor: Executor,
    budget: CallBudget,
    sampling: SamplingOptions,
    log: CallLog | None = None,
) -> dict[str, Any] | None:
    """Ask the model for the values of each ``{"propose": N}`` attribute (once per label when per
    label), before any row, through ``executor``; counted in ``budget`` and written to ``log``.
    Returns every attribute's values (``plain_values``), ``None`` without attributes.
    """
    if not task.attributes:
        return None
    jobs = proposals(task, sampling)
    items = [
        WorkItem(i, job.request.messages, job.request.messages[-1]["content"], job.label)
        for i, job in enumerate(jobs)
    ]
    answers: dict[int, Result] = {}
    maker = ProposalMaker(tuple(job.request for job in jobs))
    await executor.map(items, lambda item, result: answers.__setitem__(item.index, result), maker=maker)
    for i, job in enumerate(jobs):  # in the proposals' order: the first that failed is the error
        job.attribute.choices[job.label] = Choice(_values(job, answers.get(i), budget, log))
    return plain_values(task.attributes)


def _values(job: Proposal, answer: Result | None, budget: CallBudget, log: CallLog | None) -> tuple[str, ...]:
    """The values of one proposal's answer; the error that ends the run when there are none."""
    attribute, label = job.attribute, job.label
    if not isinstance(answer, Row):
        raise ConfigError(
            f"max_prompt_calls ({budget.limit}) leaves no call to propose the values of "
            f"attribute {attribute.name!r}",
            hint="raise max_prompt_calls (each proposal is one call), or give the values as a list",
        )
    text = str(answer[ANSWER])
    if log is not None:
        log.write_proposal(attribute.name, label, job.request, text)
    count = attribute.propose
    values = parse_values(text)[:count]
    if len(values) < 2:
        where = f" for label {label!r}" if label is not None else ""
        raise ParseError(
            f"the model proposed {len(values)} value(s) of attribute {attribute.name!r}{where}, "
            f"not the {count} asked for",
            raw=text,
            hint=f"give attribute {attribute.name!r} as a list of values, or use another model",
        )
    return tuple(values)


__all__ = ["ProposalMaker", "propose"]
