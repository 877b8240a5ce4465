"""Several generated rows from one call (``rows_per_call``): one prompt lists their tasks, and the
answer, a numbered list, is split back into rows.

A call pays for its prompt (system prompt, task, label descriptions, few-shot examples) once,
however many rows it writes; on a CPU that prompt is most of the time of a short row. And a model
that writes five reviews in one answer sees the ones it has written, where five separate calls
with the same examples often write the same review. Each row keeps its own attribute values; the
rows of one call share their label and their few-shot examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import ParseError
from ..execution.calls import ItemCalls
from ..execution.work import Failure, FailureKind, Result
from ..prompts import BasePrompt

if TYPE_CHECKING:  # the driver hands itself in: its type only
    from .rows import RowMaker


#: the assistant prefill of a grouped prompt: the model goes on with its first answer
GROUP_PREFILL = "1."
_NUMBERED = re.compile(r"^\s*(?:\*\*)?(\d{1,2})\s*[.):]\s*(?:\*\*)?\s*(.*?)\s*$")


def group_prompt_text(
    prompt: BasePrompt,
    label: str | Sequence[str] | None,
    examples: Sequence[Mapping[str, Any]],
    attributes: Sequence[Mapping[str, str]],
) -> str:
    """The prompt of one call that writes ``len(attributes)`` rows: a numbered task per row (the
    task description with that row's attribute values), then the label descriptions and examples
    (the paper's order; examples first made no difference to the small embedded model's answers)."""
    count = len(attributes)
    tasks = "\n".join(
        f"{number}. {' '.join(prompt.task_text(label, values or None).split())}"
        for number, values in enumerate(attributes, start=1)
    )
    blocks = [
        f"Do these {count} tasks. Answer with {count} lines, numbered 1. to {count}., "
        f"one answer per line and nothing else.\n{tasks}"
    ]
    described = prompt.descriptions_text(label)
    blocks += [described] if described else []
    if examples:
        blocks.append("Examples of the kind of answer wanted (write new ones, never a copy):")
        blocks += [prompt.format_example(e) for e in examples]
    return prompt.fewshot_example_separator.join(blocks)


def group_messages(prompt_text: str, system: str | None, prefill: bool) -> tuple[dict[str, str], ...]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt_text.rstrip()})
    if prefill:
        messages.append({"role": "assistant", "content": GROUP_PREFILL})
    return tuple(messages)


def split_answer(text: str, count: int) -> list[str | None]:
    """Answers 1 to ``count`` of a numbered list (``None`` where one is missing or empty).

    A line without a number continues the answer before it; a second answer with the same number
    is ignored. An answer without numbers counts if it has exactly ``count`` non-empty lines."""
    parts: dict[int, list[str]] = {}
    current: int | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        match = _NUMBERED.match(line)
        number = int(match[1]) if match else 0
        if match and 1 <= number <= count and number not in parts:
            parts[number] = [match[2]]
            current = number
        elif match:
            current = None  # a number out of range, or repeated: not one of ours
        elif current is not None and line.strip():
            parts[current].append(line.strip())
    if not parts:
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        if len(lines) == count:
            return list(lines)
    return [" ".join(parts[n]).strip() or None if n in parts else None for n in range(1, count + 1)]


class GroupedRows:
    """The row strategy of a grouped item (``item.members``): one call, one result per member.

    A member whose answer is missing or not valid text fails alone (the run tops it up); the
    call's answer is kept as each failure's raw output. Not asked again: its rows are replaced."""

    async def rows(self, maker: RowMaker, calls: ItemCalls, source: Mapping[str, Any] | None) -> list[Result]:
        item, members = calls.item, calls.item.members
        request = replace(maker.request(item, item.messages, 0), max_tokens=maker.max_tokens * len(members))
        completion = await calls.ask(request, first=True)
        prefilled = item.messages[-1]["role"] == "assistant"
        raw = (GROUP_PREFILL if prefilled else "") + completion.text
        answers = split_answer(raw, len(members))
        last = max((j for j, a in enumerate(answers) if a is not None), default=-1)
        out: list[Result] = []
        for position, (member, answer) in enumerate(zip(members, answers, strict=True)):
            if answer is None:
                error = f"answer {position + 1} of {len(members)} is missing from the call's answer"
                out.append(Failure(member.index, error, FailureKind.PARSE_ERROR, raw))
                continue
            cut_short = completion.finish_reason == "length" and position == last
            try:
                row = maker.parse(member, answer, None, truncated=cut_short)
            except ParseError as exc:
                out.append(Failure(member.index, str(exc), FailureKind.of(exc), raw))
                continue
            row.provenance = maker.provenance(calls.engine, member, request, 0)
            row.provenance["call"] = {"first_row": item.index, "rows": len(members), "position": position}
            out.append(row)
        return out


__all__ = ["GROUP_PREFILL", "GroupedRows", "group_messages", "group_prompt_text", "split_answer"]
