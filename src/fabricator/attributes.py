"""Attribute samplers: per-prompt values (topic, length, style...) that make generated rows differ.

``attributes`` (an option of ``generate``, a recipe's ``attributes:`` section) maps a name to one of:

* a list of values, dealt in balanced blocks (every value once per block, in a seeded order);
* a mapping ``{value: weight}``, drawn with those weights (seeded);
* ``{"per_label": {label: list-or-weights}}``: other values for each label of the prompt;
* ``{"propose": N}`` (``"per_label": true`` by default when the prompt has labels): the model
  proposes N values once (per label) before the rows; they are reported (``GenerationReport
  .attributes``) in the shape above, so the file saved with a run can be given back as it is.

Each row gets one value per attribute from its own seeded sequence (the labels and few-shot draws
of a run without attributes are unchanged), made in row order, so row ``i`` gets the same values
whatever the number of rows. A ``{name}`` in the task description is filled with the row's value;
attributes it does not name are shown on a line after the description, ``Attributes: name: value;
other name: value``, so they still change the prompt.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .llms.base import Request

if TYPE_CHECKING:  # the options and the task hold attributes: their types only
    from .formats.kinds import TaskKind
    from .options import SamplingOptions
    from .pipeline.task import Task
    from .prompts import BasePrompt

SHAPES = (
    "a list of values, {value: weight}, {per_label: {label: values}} or {propose: N} "
    "(e.g. attributes={'topic': ['food', 'travel'], 'length': {'short': 3, 'long': 1}})"
)
MAX_PROPOSED = 1000  # values one proposal may ask for


# --- checking the option (shape only; labels and the description are checked with the task) ------


def check_attributes(value: Any) -> dict[str, Any] | None:
    """The ``attributes`` option in its plain form (what a recipe holds); ``ValueError`` naming
    the attribute when a spec has a wrong shape (pydantic turns it into the option's error)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"attributes must be a mapping {{name: values}}, not {type(value).__name__}")
    out: dict[str, Any] = {}
    for name, spec in value.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"attribute name {name!r} is not a plain name (letters, digits, _): "
                "it is written {name} in the task description"
            )
        out[name] = _check_spec(name, spec)
    return out or None


def _check_spec(name: str, spec: Any) -> Any:
    if isinstance(spec, Mapping) and "propose" in spec:
        extra = sorted(str(k) for k in spec if k not in ("propose", "per_label"))
        count, per_label = spec["propose"], spec.get("per_label")
        if extra:
            raise ValueError(f"attribute {name!r}: unknown key(s) {extra} beside 'propose'")
        if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= MAX_PROPOSED:
            raise ValueError(f"attribute {name!r}: propose must be a whole number of values from 2 to 1000")
        if per_label is not None and not isinstance(per_label, bool):
            raise ValueError(f"attribute {name!r}: per_label beside propose must be true or false")
        return {"propose": count, "per_label": per_label}
    if isinstance(spec, Mapping) and "per_label" in spec:
        if len(spec) != 1 or not isinstance(spec["per_label"], Mapping) or not spec["per_label"]:
            raise ValueError(
                f"attribute {name!r}: per_label must be the only key, with a mapping "
                "{label: list of values or {value: weight}}"
            )
        return {
            "per_label": {
                str(label): _check_choice(f"{name}.per_label.{label}", values)
                for label, values in spec["per_label"].items()
            }
        }
    return _check_choice(name, spec)


def _check_choice(name: str, spec: Any) -> list[str] | dict[str, float]:
    """A list of values or a mapping ``{value: weight}``, values as text."""
    if isinstance(spec, Mapping):
        weights: dict[str, float] = {}
        for value, weight in spec.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise ValueError(
                    f"attribute {name!r}: the weight of {value!r} must be a number above 0, not {weight!r}"
                )
            weights[_text(name, value)] = float(weight)
        if not weights:
            raise ValueError(f"attribute {name!r} has no values")
        return weights
    if isinstance(spec, (list, tuple)):
        values = [_text(name, v) for v in spec]
        if not values:
            raise ValueError(f"attribute {name!r} has no values")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(
                f"attribute {name!r} lists {repeated} more than once (weight values with {{value: weight}})"
            )
        return values
    raise ValueError(f"attribute {name!r} must be {SHAPES}, not {type(spec).__name__} {spec!r}")


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise ValueError(f"attribute {name!r}: each value must be non-empty text or a number, not {value!r}")
    return str(value).strip()


# --- the resolved attributes of a task -------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The values one row may get: dealt in balanced blocks, or drawn with ``weights``."""

    values: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    @classmethod
    def of(cls, spec: list[str] | dict[str, float]) -> Choice:
        if isinstance(spec, dict):
            return cls(tuple(spec), tuple(spec.values()))
        return cls(tuple(spec))

    def plain(self) -> list[str] | dict[str, float]:
        return dict(zip(self.values, self.weights, strict=True)) if self.weights else list(self.values)


@dataclass
class Attribute:
    """One attribute of a task: its values by label (``None``: the same for every row)."""

    name: str
    choices: dict[str | None, Choice] = field(default_factory=dict)
    propose: int | None = None  # values the model proposes (for each label when ``per_label``)
    per_label: bool = False

    def choice(self, label: str | None) -> Choice | None:
        """The values of a row with ``label``; ``None`` while they are still to be proposed."""
        return self.choices.get(label if self.per_label else None)

    def plain(self) -> Any:
        """The values in the option's shape (proposed ones included), to save and give back."""
        if self.per_label:
            return {"per_label": {str(k): c.plain() for k, c in self.choices.items()}}
        return self.choices[None].plain() if None in self.choices else {"propose": self.propose}


def resolve_attributes(
    spec: Mapping[str, Any] | None, prompt: BasePrompt, kind: TaskKind
) -> list[Attribute] | None:
    """The attributes of a task, checked against its kind, labels and task description."""
    fields = prompt.attribute_fields
    names = list(spec or {})
    unknown = [f for f in fields if f not in names]
    if unknown:
        raise ConfigError(
            f"task_description has the field {{{unknown[0]}}} but no attribute is named {unknown[0]!r}"
            + (f" (attributes: {names})" if names else ""),
            hint=f"give attributes={{'{unknown[0]}': [...]}}, write {{}} for the labels, "
            "and literal braces twice, as {{ and }}",
        )
    if not spec:
        return None
    if not kind.generates:
        raise ConfigError(
            "attributes vary the rows a model generates; an annotation labels the rows it is given",
            hint="drop attributes, or leave out unlabeled_dataset to generate",
        )
    labels = prompt.label_options
    return [_resolve(name, value, labels) for name, value in spec.items()]


def _resolve(name: str, spec: Any, labels: list[str] | None) -> Attribute:
    if isinstance(spec, dict) and "propose" in spec:
        per_label = spec.get("per_label")
        if per_label and not labels:
            raise ConfigError(
                f"attribute {name!r} is proposed per label, and the prompt has no label_options",
                hint=f"drop per_label from attribute {name!r}, or give label_options",
            )
        return Attribute(
            name, propose=spec["propose"], per_label=bool(labels) if per_label is None else per_label
        )
    if isinstance(spec, dict) and "per_label" in spec:
        given = spec["per_label"]
        if not labels:
            raise ConfigError(
                f"attribute {name!r} has values per label, and the prompt has no label_options",
                hint=f"give attribute {name!r} one list of values, or give label_options",
            )
        extra = [str(k) for k in given if k not in labels]
        missing = [label for label in labels if label not in given]
        if extra or missing:
            raise ConfigError(
                f"attribute {name!r} has values per label for {list(given)}, the labels are {labels}"
                + (f"; not labels: {extra}" if extra else "")
                + (f"; missing: {missing}" if missing else ""),
                hint=f"give attribute {name!r} an entry for every label of label_options, and no other",
            )
        return Attribute(name, {label: Choice.of(given[label]) for label in labels}, per_label=True)
    return Attribute(name, {None: Choice.of(spec)})


def plain_values(attributes: Sequence[Attribute] | None) -> dict[str, Any] | None:
    """Every attribute's values, proposed ones included, in the option's shape."""
    return {a.name: a.plain() for a in attributes} if attributes else None


# --- dealing the values to rows ---------------------------------------------------------------------


class AttributeDealer:
    """Each row's values: one seeded sequence per attribute (and label, for per-label values).

    Made in row order (as the planner makes its items), so row ``i`` gets the same values whatever
    the total; independent of the planner's own sequence, which attributes leave as it was.
    """

    def __init__(self, attributes: Sequence[Attribute], seed: int) -> None:
        self.attributes = attributes
        self.seed = seed
        self._rngs: dict[tuple[str, str | None], random.Random] = {}
        self._blocks: dict[tuple[str, str | None], list[str]] = {}

    def deal(self, label: str | None) -> tuple[tuple[str, str], ...]:
        """The values of the next row (conditioned on ``label``), as ``(name, value)`` pairs."""
        return tuple((a.name, self._value(a, label)) for a in self.attributes)

    def _value(self, attribute: Attribute, label: str | None) -> str:
        choice = attribute.choice(label)
        if choice is None:  # still to be proposed (a plan made before any model call): a placeholder
            return f"<{attribute.name}>"
        key = (attribute.name, label if attribute.per_label else None)
        rng = self._rngs.get(key)
        if rng is None:
            rng = self._rngs[key] = random.Random(f"{self.seed}:attribute:{key[0]}:{key[1]}")
        if choice.weights is not None:
            return rng.choices(choice.values, weights=choice.weights)[0]
        block = self._blocks.setdefault(key, [])
        if not block:  # balanced: every value once per block, in a seeded order
            block.extend(choice.values)
            rng.shuffle(block)
        return block.pop()


# --- values the model proposes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """One call that asks the model for the values of ``attribute`` (for rows of ``label``)."""

    attribute: Attribute
    label: str | None
    request: Request


def proposals(task: Task, sampling: SamplingOptions) -> list[Proposal]:
    """The proposal calls a run still has to make before its rows, in the order it makes them
    (``fabricator plan`` counts them too)."""
    labels = task.prompt.label_options or []
    return [
        Proposal(a, label, _proposal_request(task.prompt, a, label, sampling))
        for a in task.attributes or []
        if a.propose is not None
        for label in (labels if a.per_label else [None])
        if a.choice(label) is None
    ]


def proposal_text(prompt: BasePrompt, name: str, count: int, label: str | None) -> str:
    """What the model is asked for the values of attribute ``name`` (for rows of ``label``)."""
    placeholders = {f: f"<{f}>" for f in prompt.attribute_fields}
    task = prompt.task_text(label, placeholders).strip()
    return (
        f"List {count} different {_plural(name)} for this task: {task}\n"
        f"Write each on its own line, with no numbering and nothing else."
    )


def _proposal_request(
    prompt: BasePrompt, attribute: Attribute, label: str | None, sampling: SamplingOptions
) -> Request:
    count = attribute.propose
    assert count is not None
    digest = hashlib.blake2b(f"{sampling.seed}:{attribute.name}:{label}".encode(), digest_size=4).digest()
    return Request(
        messages=({"role": "user", "content": proposal_text(prompt, attribute.name, count, label)},),
        temperature=sampling.temperature,
        max_tokens=max(sampling.max_tokens, 32 * count),
        seed=int.from_bytes(digest, "big") & 0x7FFFFFFF,
    )


_BULLET = re.compile(r"^\s*(?:[-*•·]+|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s+")


def parse_values(text: str) -> list[str]:
    """The values of a proposal answer: one a line, bullets, numbers and quotes taken off,
    an introduction ("Here are 5 topics:") left out, repeats (any case) dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        value = _BULLET.sub("", line).strip().strip("\"'`*").strip().rstrip(".,;").strip()
        if not value or value.endswith(":") or value.casefold() in seen:
            continue
        seen.add(value.casefold())
        out.append(value)
    return out


def _plural(name: str) -> str:
    words = name.replace("_", " ").strip()
    if words.endswith("s"):
        return f"{words} values"
    if words.endswith("y") and words[-2:-1] not in ("a", "e", "i", "o", "u"):
        return words[:-1] + "ies"
    return words + "s"


__all__ = [
    "Attribute",
    "AttributeDealer",
    "Choice",
    "Proposal",
    "check_attributes",
    "parse_values",
    "plain_values",
    "proposal_text",
    "proposals",
    "resolve_attributes",
]
