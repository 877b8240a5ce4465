import pytest
from datasets import Dataset

from fabricator.errors import ConfigError
from fabricator.prompts import BasePrompt


def test_plain_generation_layout():
    prompt = BasePrompt(task_description="Generate a short movie review.")
    assert prompt.get_prompt_text() == "Generate a short movie review.\n\ntext: "


def test_label_conditioned_layout_with_examples(sentiment_fewshot):
    prompt = BasePrompt(task_description="Generate a {} movie review.",
                        label_options=["positive", "negative"], generate_data_for_column="text")
    text = prompt.get_prompt_text("positive", sentiment_fewshot.select([0, 2]))
    assert text == ("Generate a positive movie review.\n\ntext: A delight from start to end.\n\n"
                    "text: I loved every minute.\n\ntext: ")


def test_annotation_layout_fills_the_row_and_formats_all_options(sentiment_fewshot):
    prompt = BasePrompt(task_description="Annotate reviews as either: {}.", label_options=["positive", "negative"],
                        generate_data_for_column="label", fewshot_example_columns="text")
    text = prompt.get_prompt_text(prompt.label_options, sentiment_fewshot.select([1]), {"text": "Meh."})
    assert text == ("Annotate reviews as either: positive, negative.\n\ntext: Dull and far too long.\n"
                    "label: negative\n\ntext: Meh.\nlabel: ")


def test_custom_templates_and_separators():
    prompt = BasePrompt(task_description="Translate to German.", generate_data_for_column="german",
                        fewshot_example_columns=["english"],
                        fewshot_formatting_template="EN: {english} => DE: {german}",
                        target_formatting_template="EN: {english} => DE:", fewshot_example_separator="\n")
    examples = Dataset.from_dict({"english": ["Hello"], "german": ["Hallo"]})
    assert prompt.get_prompt_text(None, examples, {"english": "Thanks"}) == (
        "Translate to German.\nEN: Hello => DE: Hallo\nEN: Thanks => DE:")


def test_chat_messages_have_system_user_and_prefill():
    prompt = BasePrompt(task_description="Generate a {} review.", label_options=["good", "bad"])
    messages = prompt.get_messages("good", system="You write data.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == "Generate a good review.\n\ntext:"
    assert messages[2]["content"] == "text:"
    assert [m["role"] for m in prompt.get_messages("good", prefill=False)] == ["user"]


@pytest.mark.parametrize("kwargs, needle", [
    ({"task_description": "Generate a review.", "label_options": ["a", "b"]}, "no '{}' placeholder"),
    ({"task_description": "x {}", "label_options": []}, "label_options is empty"),
    ({"task_description": "x {}", "label_options": ["a", "a"]}, "duplicates"),
    ({"task_description": "x", "fewshot_example_columns": ["text"]}, "needs generate_data_for_column"),
    ({"task_description": "x", "generate_data_for_column": "y",
      "target_formatting_template": "{nope}: "}, "not prompt columns"),
    ({"task_description": "  "}, "non-empty"),
])
def test_bad_prompts_are_clear_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        BasePrompt(**kwargs)
