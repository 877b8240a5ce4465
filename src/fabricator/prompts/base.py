"""``BasePrompt``: the paper's prompt layout, kept exactly, plus chat rendering.

Layout (blocks joined by ``fewshot_example_separator``)::

    <task description, formatted with the label(s)>
    <label descriptions, if any: one "- label: what it means" line per label of the prompt>
    <few-shot example 1: "column: value" lines joined by inner_fewshot_example_separator>
    ...
    <target: the input columns of the row to annotate, then "target_column: ">

With ``examples_as_turns`` the examples become earlier exchanges of the chat instead: each is the
task asked about the example, answered with the example's value, and the row's own task comes
last. Small models copy an example shown inline far more often than one shown as a past answer.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ConfigError

DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _fields(template: str, what: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """``str.format`` pieces of a template (literal text, field, spec, conversion); clear errors."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(
            f"{what} {template!r} has an unbalanced brace ({exc})",
            hint="write literal braces twice, as {{ and }}",
        ) from exc


def _description_parts(description: str) -> list[tuple[str, str]]:
    """The task description as parts: ``("text", literal)``, ``("labels", "")`` for its one ``{}``
    and ``("field", name)`` for each ``{name}`` (an attribute, ``fabricator.attributes``).

    Anything else in braces (a second ``{}``, ``{0.__class__}``, ``{:>9}``, ``{x!r}``) is refused,
    so the description is never given to ``str.format``, which would evaluate such fields.
    """
    parts: list[tuple[str, str]] = []
    for literal, name, spec, conversion in _fields(description, "task_description"):
        if literal:
            parts.append(("text", literal))
        if name is None:
            continue
        field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if spec or conversion or (name and not name.isidentifier()):
            raise ConfigError(
                f"task_description has the field {field}; only one {{}} (filled with the labels) and "
                "{name} fields (filled with attributes) are allowed",
                hint="write {} for the labels, {name} for an attribute, literal braces twice ({{ and }})",
            )
        if name == "" and any(kind == "labels" for kind, _ in parts):
            raise ConfigError(
                "task_description has more than one {}; the labels fill exactly one",
                hint="keep one {} for the labels, and write literal braces twice, as {{ and }}",
            )
        parts.append(("field", name) if name else ("labels", ""))
    return parts


class BasePrompt:
    """A prompt template in the paper's layout.

    ``task_description`` is formatted with the label options (joined by ", ") or with the one label
    a prompt is conditioned on, through ``{}``. ``generate_data_for_column`` names the column the
    model writes; ``fewshot_example_columns`` the input columns shown with each example (and filled
    from the row being annotated). ``label_descriptions`` ({label: what it means}) are shown as
    ``- label: description`` lines right after the task description. ``{name}`` fields are filled
    with a row's attribute values (``fabricator.attributes``). ``examples_as_turns`` shows each
    few-shot example as an earlier question and answer of the chat rather than inline (``chat``).
    """

    DEFAULT_TEXT_COLUMN: ClassVar[list[str]] = [DEFAULT_TEXT_COLUMN]
    DEFAULT_LABEL_COLUMN: ClassVar[list[str]] = [DEFAULT_LABEL_COLUMN]

    def __init__(  # noqa: PLR0913, RUF100 - the paper's signature, kept for its users
        self,
        task_description: str,
        generate_data_for_column: str | None = None,
        fewshot_example_columns: str | Sequence[str] | None = None,
        label_options: Sequence[str] | None = None,
        fewshot_formatting_template: str | None = None,
        target_formatting_template: str | None = None,
        fewshot_example_separator: str = "\n\n",
        inner_fewshot_example_separator: str = "\n",
        label_descriptions: Mapping[str, str] | None = None,
        examples_as_turns: bool = False,
    ) -> None:
        if not isinstance(task_description, str) or not task_description.strip():
            raise ConfigError("task_description must be a non-empty string")
        self.task_description = task_description
        self._description = _description_parts(task_description)
        self.label_options = [str(o) for o in label_options] if label_options else None
        if label_options is not None and not self.label_options:
            raise ConfigError("label_options is empty", hint="give at least two label options or None")
        if self.label_options:
            if len(set(self.label_options)) != len(self.label_options):
                raise ConfigError(f"label_options has duplicates: {self.label_options}")
            if not any(kind == "labels" for kind, _ in self._description):
                raise ConfigError(
                    "task_description has no '{}' placeholder for the label options",
                    hint="write it like 'Generate a {} movie review.' or 'Classify as: {}.'",
                )
        generate = _as_list(generate_data_for_column)
        if len(generate) > 1:
            raise ConfigError("generate_data_for_column takes one column name")
        self.generate_data_for_column = generate or None
        self.fewshot_example_columns = _as_list(fewshot_example_columns) or None
        if self.fewshot_example_columns and not self.generate_data_for_column:
            raise ConfigError(
                "fewshot_example_columns needs generate_data_for_column",
                hint="name the column the model should write, e.g. generate_data_for_column='label'",
            )
        self.fewshot_example_separator = fewshot_example_separator
        self.inner_fewshot_example_separator = inner_fewshot_example_separator
        self.relevant_columns_for_fewshot_examples: list[str] | None = (
            (self.fewshot_example_columns or []) + (self.generate_data_for_column or [])
        ) or None
        self.fewshot_formatting_template = fewshot_formatting_template or (
            inner_fewshot_example_separator.join(
                f"{c}: {{{c}}}" for c in self.relevant_columns_for_fewshot_examples
            )
            if self.relevant_columns_for_fewshot_examples
            else None
        )
        self.target_formatting_template = target_formatting_template or self._default_target()
        self.label_descriptions = self._checked_descriptions(label_descriptions)
        self.examples_as_turns = bool(examples_as_turns)
        self._answer_prefix: str | None = None
        self._check_template_fields()

    def rephrased(self, task_description: str) -> BasePrompt:
        """This prompt with another wording of its task (a vote of ``task_rephrasings``): the same
        labels, descriptions, examples and layout, so only the wording differs between votes."""
        other = copy.copy(self)
        if not isinstance(task_description, str) or not task_description.strip():
            raise ConfigError("a task rephrasing must be a non-empty string")
        other.task_description = task_description
        other._description = _description_parts(task_description)
        if self.label_options and not any(kind == "labels" for kind, _ in other._description):
            raise ConfigError(
                f"task rephrasing {task_description!r} has no '{{}}' placeholder for the label options",
                hint="write it like the task description, e.g. 'Is this review {}?'",
            )
        if set(other.attribute_fields) != set(self.attribute_fields):
            raise ConfigError(
                f"task rephrasing {task_description!r} has the fields {list(other.attribute_fields)}, "
                f"the task description {list(self.attribute_fields)}",
                hint="a rephrasing names the same {name} fields as the task description",
            )
        return other

    # --- names --------------------------------------------------------------------------------

    @property
    def target_column(self) -> str:
        """The column the model writes."""
        return (self.generate_data_for_column or self.DEFAULT_TEXT_COLUMN)[0]

    @property
    def input_columns(self) -> list[str]:
        """Columns of the row being annotated that the prompt shows."""
        return list(self.fewshot_example_columns or [])

    @property
    def attribute_fields(self) -> tuple[str, ...]:
        """The ``{name}`` fields of the task description (attributes fill them), in order."""
        return tuple(dict.fromkeys(name for kind, name in self._description if kind == "field"))

    def _default_target(self) -> str:
        lines = [f"{c}: {{{c}}}" for c in self.input_columns] + [f"{self.target_column}: "]
        return self.inner_fewshot_example_separator.join(lines)

    def _checked_descriptions(self, descriptions: Mapping[str, str] | None) -> dict[str, str]:
        """What each label means, for labels the prompt has (a typo would silently show nothing)."""
        if not descriptions:
            return {}
        if not isinstance(descriptions, Mapping):
            raise ConfigError(
                "label_descriptions must be a mapping {label: description}",
                hint="e.g. label_descriptions={'positive': 'the reviewer liked the film'}",
            )
        unknown = [str(k) for k in descriptions if str(k) not in (self.label_options or [])]
        if unknown:
            raise ConfigError(
                f"label_descriptions has label(s) {unknown} that are not among the label options "
                f"{self.label_options}",
                hint="describe only labels of label_options (check the spelling)",
            )
        bad = [str(k) for k, v in descriptions.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise ConfigError(
                f"label_descriptions of {bad} must be non-empty text", hint="write what each label means"
            )
        return {str(k): v.strip() for k, v in descriptions.items()}

    def _check_template_fields(self) -> None:
        """Only column names in the templates: they are filled with ``str.format(**columns)``, so a
        ``{}``, a field of another name or ``{text.__class__}`` would fail or leak at run time."""
        examples = set(self.relevant_columns_for_fewshot_examples or [])
        for name, template, allowed, where in (
            (
                "fewshot_formatting_template",
                self.fewshot_formatting_template,
                examples,
                "fewshot_example_columns / generate_data_for_column",
            ),
            (
                "target_formatting_template",
                self.target_formatting_template,
                set(self.input_columns),
                "fewshot_example_columns (the target shows the input columns only)",
            ),
        ):
            if not template:
                continue
            fields = _fields(template, name)
            unknown = [f for _, f, _, _ in fields if f is not None and f not in allowed]
            if unknown:
                raise ConfigError(
                    f"{name} uses {unknown}, which are not prompt columns {sorted(allowed)}",
                    hint=f"name them in {where}; write literal braces twice, as {{{{ and }}}}",
                )
            if any(spec and "{" in spec for _, _, spec, _ in fields):
                raise ConfigError(
                    f"{name} has a field inside a format spec: {template!r}",
                    hint="write literal braces twice, as {{ and }}",
                )

    # --- text layout (the paper's) -------------------------------------------------------------

    def task_text(
        self, labels: str | Sequence[str] | None = None, attributes: Mapping[str, str] | None = None
    ) -> str:
        """The task description with the label(s) in its ``{}`` (joined by ", ") and the
        ``attributes`` in its ``{name}`` fields; attributes it does not name follow on one line,
        ``Attributes: name: value; other name: value``. A field without a value stays as written."""
        if labels is None and self.label_options:
            labels = self.label_options
        if isinstance(labels, (list, tuple)):
            labels = ", ".join(labels)
        values = attributes or {}
        out = []
        for kind, value in self._description:
            if kind == "text":  # {{ and }} are single braces here
                out.append(value)
            elif kind == "labels":  # no labels: the {} stays as written
                out.append(str(labels) if labels else "{}")
            else:
                out.append(values.get(value, "{" + value + "}"))
        text = "".join(out)
        rest = [(name, value) for name, value in values.items() if name not in self.attribute_fields]
        if rest:
            text += "\nAttributes: " + "; ".join(f"{name.replace('_', ' ')}: {value}" for name, value in rest)
        return text

    def descriptions_text(self, labels: str | Sequence[str] | None = None) -> str:
        """The ``- label: description`` lines of the prompt's label(s), in label order ("" if none)."""
        if not self.label_descriptions:
            return ""
        shown = [labels] if isinstance(labels, str) else list(labels or self.label_options or [])
        return "\n".join(
            f"- {lab}: {self.label_descriptions[lab]}" for lab in shown if lab in self.label_descriptions
        )

    def format_example(self, example: Mapping[str, Any]) -> str:
        assert self.fewshot_formatting_template is not None
        columns = self.relevant_columns_for_fewshot_examples or []
        return self.fewshot_formatting_template.format(**{c: example[c] for c in columns})

    def format_target(self, row: Mapping[str, Any] | None = None) -> str:
        values = {c: (row or {}).get(c, f"{{{c}}}") for c in self.input_columns}
        return self.target_formatting_template.format(**values) if values else self.target_formatting_template

    def get_prompt_text(
        self,
        labels: str | Sequence[str] | None = None,
        examples: Iterable[Mapping[str, Any]] | None = None,
        row: Mapping[str, Any] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """The prompt as one string, exactly in the paper's layout.

        ``row`` fills the input columns of the target (annotation); without it they stay as
        ``{column}`` placeholders, as in the paper. ``attributes`` are the row's attribute values.
        """
        blocks = [self.task_text(labels, attributes)]
        described = self.descriptions_text(labels)
        blocks += [described] if described else []
        blocks += [self.format_example(e) for e in (examples or [])]
        blocks.append(self.format_target(row))
        return self.fewshot_example_separator.join(blocks)

    # --- chat rendering ------------------------------------------------------------------------

    def answer_prefix(self) -> str:
        """The last line of the target ("label:"), used as an assistant prefill."""
        if self._answer_prefix is None:
            self._answer_prefix = self.format_target().split(self.inner_fewshot_example_separator)[-1].strip()
        return self._answer_prefix

    def get_messages(
        self,
        labels: str | Sequence[str] | None = None,
        examples: Iterable[Mapping[str, Any]] | None = None,
        row: Mapping[str, Any] | None = None,
        *,
        system: str | None = None,
        prefill: bool = True,
    ) -> list[dict[str, str]]:
        """The prompt as chat messages: optional system framing, the paper-layout text as the user
        turn, and the answer prefix as an assistant prefill (backends without prefill drop it);
        with ``examples_as_turns``, the examples as earlier turns (``chat``)."""
        return self.chat(labels, list(examples or []), row, system=system, prefill=prefill)[1]

    def chat(
        self,
        labels: str | Sequence[str] | None = None,
        examples: Sequence[Mapping[str, Any]] = (),
        row: Mapping[str, Any] | None = None,
        attributes: Mapping[str, str] | None = None,
        *,
        example_labels: Sequence[str] | None = None,
        system: str | None = None,
        prefill: bool = True,
    ) -> tuple[str, list[dict[str, str]]]:
        """The prompt text (what a row's provenance hashes) and the chat messages sent for it.

        Inline (the default), the text is the paper's layout and the one user turn. With
        ``examples_as_turns``, each example is an earlier user turn (the task, with the example's
        input columns) answered by an assistant turn (the answer prefix and the example's value);
        ``example_labels`` are the labels each example's turn asks for (in label-conditioned
        generation, the example's own label, so no turn asks for one label and answers with
        another); by default the prompt's ``labels``. The text is then the whole exchange, one
        ``role: content`` block per turn."""
        if not self.examples_as_turns or not examples:
            text = self.get_prompt_text(labels, examples, row, attributes)
            return text, self.messages_for(text, system=system, prefill=prefill)
        messages = [{"role": "system", "content": system}] if system else []
        prefix, target = self.answer_prefix(), self.target_column
        asked: list[str | Sequence[str] | None] = [labels] * len(examples)
        if example_labels is not None:
            asked = list(example_labels)
        for example, label in zip(examples, asked, strict=True):
            question = self.get_prompt_text(label, [], example, attributes).rstrip()
            answer = f"{prefix} {example[target]}" if prefix else str(example[target])
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        messages += self.messages_for(self.get_prompt_text(labels, [], row, attributes), prefill=prefill)
        text = self.fewshot_example_separator.join(
            f"{m['role']}: {m['content']}" for m in messages if m["role"] != "system"
        )
        return text, messages

    def messages_for(
        self, prompt_text: str, *, system: str | None = None, prefill: bool = True
    ) -> list[dict[str, str]]:
        """Chat messages around an already rendered prompt text."""
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt_text.rstrip()})
        prefix = self.answer_prefix()
        if prefill and prefix:
            messages.append({"role": "assistant", "content": prefix})
        return messages

    def __repr__(self) -> str:
        return (
            f"BasePrompt(task_description={self.task_description!r}, "
            f"generate_data_for_column={self.target_column!r}, label_options={self.label_options!r}"
            + (", examples_as_turns=True)" if self.examples_as_turns else ")")
        )
