import re

import pytest
import yaml
from datasets import Dataset

from fabricator.app.cli import main
from fabricator.errors import ConfigError
from fabricator.llms import Fake
from fabricator.prompts import BasePrompt


def test_plain_generation_layout():
    prompt = BasePrompt(task_description="Generate a short movie review.")
    assert prompt.get_prompt_text() == "Generate a short movie review.\n\ntext: "


def test_label_conditioned_layout_with_examples(sentiment_fewshot):
    prompt = BasePrompt(
        task_description="Generate a {} movie review.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )
    text = prompt.get_prompt_text("positive", sentiment_fewshot.select([0, 2]))
    assert text == (
        "Generate a positive movie review.\n\ntext: A delight from start to end.\n\n"
        "text: I loved every minute.\n\ntext: "
    )


def test_annotation_layout_fills_the_row_and_formats_all_options(sentiment_fewshot):
    prompt = BasePrompt(
        task_description="Annotate reviews as either: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    text = prompt.get_prompt_text(prompt.label_options, sentiment_fewshot.select([1]), {"text": "Meh."})
    assert text == (
        "Annotate reviews as either: positive, negative.\n\ntext: Dull and far too long.\n"
        "label: negative\n\ntext: Meh.\nlabel: "
    )


def test_custom_templates_and_separators():
    prompt = BasePrompt(
        task_description="Translate to German.",
        generate_data_for_column="german",
        fewshot_example_columns=["english"],
        fewshot_formatting_template="EN: {english} => DE: {german}",
        target_formatting_template="EN: {english} => DE:",
        fewshot_example_separator="\n",
    )
    examples = Dataset.from_dict({"english": ["Hello"], "german": ["Hallo"]})
    assert prompt.get_prompt_text(None, examples, {"english": "Thanks"}) == (
        "Translate to German.\nEN: Hello => DE: Hallo\nEN: Thanks => DE:"
    )


def test_chat_messages_have_system_user_and_prefill():
    prompt = BasePrompt(task_description="Generate a {} review.", label_options=["good", "bad"])
    messages = prompt.get_messages("good", system="You write data.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == "Generate a good review.\n\ntext:"
    assert messages[2]["content"] == "text:"
    assert [m["role"] for m in prompt.get_messages("good", prefill=False)] == ["user"]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"task_description": "Generate a review.", "label_options": ["a", "b"]}, "no '{}' placeholder"),
        ({"task_description": "x {}", "label_options": []}, "label_options is empty"),
        ({"task_description": "x {}", "label_options": ["a", "a"]}, "duplicates"),
        ({"task_description": "x", "fewshot_example_columns": ["text"]}, "needs generate_data_for_column"),
        (
            {
                "task_description": "x",
                "generate_data_for_column": "y",
                "target_formatting_template": "{nope}: ",
            },
            "not prompt columns",
        ),
        ({"task_description": "  "}, "non-empty"),
    ],
)
def test_bad_prompts_are_clear_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        BasePrompt(**kwargs)


@pytest.mark.parametrize(
    "description, needle",
    [
        ("Write a {x:>9} review that is {}.", "has the field {x:>9}"),  # {x}: an attribute
        ("Write a {} review, {} please.", "more than one {}"),
        ("Write a {} review {0.__class__}.", "has the field {0.__class__}"),
        ("Write a {0.__class__} review.", "has the field {0.__class__}"),
        ("Write a {} review {", "unbalanced brace"),
        ("Write a } review {}", "unbalanced brace"),
        ("Write a {!r} review.", "has the field {!r}"),
    ],
)
@pytest.mark.parametrize("label_options", [["good", "bad"], None], ids=["labels", "no-labels"])
def test_stray_format_fields_in_the_task_description_are_refused(description, needle, label_options):
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        BasePrompt(task_description=description, label_options=label_options)
    assert "{{" in info.value.hint  # names the fix: literal braces are doubled


def test_task_description_fills_one_field_and_never_evaluates_one():
    prompt = BasePrompt(
        task_description='Write a {} review as {{"text": "..."}}.', label_options=["good", "bad"]
    )
    assert prompt.task_text("good") == 'Write a good review as {"text": "..."}.'
    assert prompt.task_text() == 'Write a good, bad review as {"text": "..."}.'
    assert BasePrompt(task_description="Sum {{a}} and {}.").task_text("{0.__class__}") == (
        "Sum {a} and {0.__class__}."
    )  # a label is text, never a format field
    assert BasePrompt(task_description="Plain {} text.").task_text() == "Plain {} text."


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"fewshot_formatting_template": "{}: {label}"}, "fewshot_formatting_template uses ['']"),
        ({"fewshot_formatting_template": "{text.__class__}"}, "['text.__class__']"),
        (
            {"target_formatting_template": "text: {text}\nlabel: {label}"},
            "target_formatting_template uses ['label']",
        ),
        ({"fewshot_formatting_template": "{text:{label}}"}, "a field inside a format spec"),
    ],
)
def test_column_templates_name_columns_only(kwargs, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        BasePrompt(
            task_description="Label: {}.",
            label_options=["a", "b"],
            generate_data_for_column="label",
            fewshot_example_columns="text",
            **kwargs,
        )


RECIPE = {
    "prompt": {
        "task_description": "Write a {} movie review.",
        "label_options": ["positive", "negative"],
        "generate_data_for_column": "text",
    },
    "model": {"backend": "fake", "responses": ["A moving film."]},
    "generation": {"num_samples_to_generate": 2, "max_prompt_calls": 4},
}


@pytest.mark.parametrize(
    "description, needle",
    [
        ("Write a {x} review that is {}.", "has the field {x}"),
        ("Write a {} review, {} please.", "more than one {}"),
        ("Write a {} review {0.__class__}.", "has the field {0.__class__}"),
        ("Write a {} review {", "unbalanced brace"),
    ],
)
def test_generate_refuses_stray_fields_before_any_call(tmp_path, capsys, monkeypatch, description, needle):
    calls = []
    monkeypatch.setattr(Fake, "complete", lambda self, request: calls.append(request))
    recipe = {
        **RECIPE,
        "prompt": {**RECIPE["prompt"], "task_description": description},
        "output": str(tmp_path / "out"),
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["generate", str(tmp_path / "recipe.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err.replace("\n", " ") and calls == []
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.splitlines()[0]]
    assert "Traceback" not in err


# --- label descriptions ---------------------------------------------------------------------------

DESCRIBED = {"pos": "the reviewer liked the film", "neg": "the reviewer disliked it"}


def test_label_descriptions_come_right_after_the_task_description():
    prompt = BasePrompt(
        "Classify the review as {}.",
        generate_data_for_column="label",
        fewshot_example_columns="text",
        label_options=["pos", "neg", "mixed"],
        label_descriptions=DESCRIBED,
    )
    text = prompt.get_prompt_text(None, [{"text": "Great.", "label": "pos"}], {"text": "Meh."})
    assert text == (
        "Classify the review as pos, neg, mixed.\n\n"
        "- pos: the reviewer liked the film\n- neg: the reviewer disliked it\n\n"  # "mixed": none
        "text: Great.\nlabel: pos\n\n"
        "text: Meh.\nlabel: "
    )
    # a prompt conditioned on one label describes that label only
    conditioned = BasePrompt("Write a {} review.", label_options=["pos", "neg"], label_descriptions=DESCRIBED)
    assert (
        conditioned.get_prompt_text("neg")
        == "Write a neg review.\n\n- neg: the reviewer disliked it\n\ntext: "
    )
    assert "- " not in BasePrompt("Write a {} review.", label_options=["pos"]).get_prompt_text()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"label_options": ["pos", "neg"], "label_descriptions": {"positive": "liked"}}, "positive"),
        ({"label_descriptions": {"pos": "liked"}}, "not among the label options"),
        ({"label_options": ["pos", "neg"], "label_descriptions": {"pos": " "}}, "non-empty text"),
        ({"label_options": ["pos", "neg"], "label_descriptions": ["pos"]}, "mapping"),
    ],
    ids=["unknown-label", "no-label-options", "empty", "not-a-mapping"],
)
def test_bad_label_descriptions_are_clear_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        BasePrompt("Classify as {}.", **kwargs)
    assert info.value.hint
