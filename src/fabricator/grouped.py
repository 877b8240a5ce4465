"""Several generated rows from one call (``rows_per_call``): one prompt lists their tasks, and the
answer, one line per task, is split back into rows.

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

from .errors import BackendError, ParseError
from .prompts import BasePrompt
from .rows import CallBudget, CallLogger, EngineLike, Failure, WorkItem, counted_call

if TYPE_CHECKING:
    from .rows import RowMaker

#: the assistant prefill of a grouped prompt without an answer prefix: the first answer's number
GROUP_PREFILL = "1."
_NUMBERED = re.compile(r"^\s*(?:\*\*)?(\d{1,2})\s*[.):]\s*(?:\*\*)?\s*(.*?)\s*$")


def group_prompt_text(
    prompt: BasePrompt,
    label: str | Sequence[str] | None,
    examples: Sequence[Mapping[str, Any]],
    attributes: Sequence[Mapping[str, str]],
) -> str:
    """The prompt of one call that writes ``len(attributes)`` rows: a numbered task per row (the
    task description with that row's attribute values), then the label descriptions and the
    examples in the paper's layout. Each answer starts a line with the prompt's answer prefix
    ("text:"), as the examples do, so the answers follow the examples' style; without a prefix
    the answers are numbered like the tasks."""
    count = len(attributes)
    tasks = "\n".join(
        f"{number}. {' '.join(prompt.task_text(label, values or None).split())}"
        for number, values in enumerate(attributes, start=1)
    )
    prefix = prompt.answer_prefix()
    how = (
        f'start each answer on a new line with "{prefix}"'
        if prefix
        else f"answer with {count} lines, numbered 1. to {count}."
    )
    style = "; new texts in the style of the examples, never a copy of one" if examples else ""
    blocks = [
        f"Write {count} answers, one for each task below, in this order; {how}{style}; nothing else.\n{tasks}"
    ]
    described = prompt.descriptions_text(label)
    blocks += [described] if described else []
    blocks += [prompt.format_example(e) for e in examples]
    return prompt.fewshot_example_separator.join(blocks)


def group_prefill(prompt: BasePrompt) -> str:
    """What the answer of a grouped call starts with: the answer prefix, or the first number."""
    return prompt.answer_prefix() or GROUP_PREFILL


def group_messages(prompt_text: str, system: str | None, prefill: str | None) -> tuple[dict[str, str], ...]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt_text.rstrip()})
    if prefill:
        messages.append({"role": "assistant", "content": prefill})
    return tuple(messages)


def split_answer(text: str, count: int, prefix: str = "") -> list[str | None]:
    """Answers 1 to ``count`` of a grouped call (``None`` where one is missing or empty).

    With ``prefix`` ("text:"), each line starting with it begins the next answer, in task order;
    an answer without any prefixed line is read as numbered lines instead. Numbered: a second
    answer with the same number is ignored, and an answer without numbers counts if it has
    exactly ``count`` non-empty lines. Either way a line that starts nothing continues the answer
    before it."""
    lines = text.replace("\r\n", "\n").split("\n")
    marker = prefix.strip().lower()
    if marker and sum(line.strip().lower().startswith(marker) for line in lines) > 0:
        answers: list[list[str]] = []
        for line in lines:
            stripped = line.strip()
            if stripped.lower().startswith(marker):
                answers.append([stripped[len(marker) :].strip()])
            elif answers and stripped:
                answers[-1].append(stripped)
        found = [" ".join(a).strip() or None for a in answers[:count]]
        return found + [None] * (count - len(found))
    parts: dict[int, list[str]] = {}
    current: int | None = None
    for line in lines:
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
        plain = [line.strip() for line in lines if line.strip()]
        if len(plain) == count:
            return list(plain)
    return [" ".join(parts[n]).strip() or None if n in parts else None for n in range(1, count + 1)]


async def make_group(
    maker: RowMaker, engine: EngineLike, item: WorkItem, logger: CallLogger, budget: CallBudget
) -> list[dict[str, Any] | Failure]:
    """The rows of a grouped item (``item.members``), one result per member, from one call.

    A member whose answer is missing or not valid text fails alone (the run tops it up); the
    call's answer is kept as each failure's raw output. Not asked again: its rows are replaced."""
    members = item.members
    request = replace(maker.request(item, item.messages, 0), max_tokens=maker.max_tokens * len(members))
    try:
        completion = await counted_call(engine, request, budget, first=True, sample=item.index)
    except BackendError as exc:
        if exc.fatal:
            raise
        return [Failure(m.index, exc.message, type(exc).__name__) for m in members]
    if completion is None:
        return [
            Failure(m.index, f"not asked: max_prompt_calls ({budget.limit}) reached", "CallCapReached")
            for m in members
        ]
    logger.write(item, request, completion.text)
    last_message = item.messages[-1]
    raw = (last_message["content"] if last_message["role"] == "assistant" else "") + completion.text
    answers = split_answer(raw, len(members), maker.group_prefix)
    last = max((j for j, a in enumerate(answers) if a is not None), default=-1)
    out: list[dict[str, Any] | Failure] = []
    for position, (member, answer) in enumerate(zip(members, answers, strict=True)):
        if answer is None:
            error = f"answer {position + 1} of {len(members)} is missing from the call's answer"
            out.append(Failure(member.index, error, "ParseError", raw))
            continue
        cut_short = completion.finish_reason == "length" and position == last
        try:
            row = maker.parse(member, answer, None, truncated=cut_short)
        except ParseError as exc:
            out.append(Failure(member.index, str(exc), type(exc).__name__, raw))
            continue
        provenance = maker.provenance(engine, member, request, 0)
        provenance["call"] = {"first_row": item.index, "rows": len(members), "position": position}
        row["__provenance"] = provenance
        out.append(row)
    return out


__all__ = [
    "GROUP_PREFILL",
    "group_messages",
    "group_prefill",
    "group_prompt_text",
    "make_group",
    "split_answer",
]
