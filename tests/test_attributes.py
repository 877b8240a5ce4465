"""Attribute samplers: per-prompt values in the task description, seeded, balanced, prefix-stable,
proposed by the model once (per label) and recorded with the run and each row."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml
from conftest import write_recipe

from fabricator import BasePrompt, DatasetGenerator, GenerationOptions, plan_prompts
from fabricator.app.recipe import load_recipe
from fabricator.errors import ConfigError, ParseError
from fabricator.llms import Fake

LABELS = ["positive", "negative"]
TOPICS = ["food", "travel", "music"]


def conditioned(description: str = "Write a {} review about {topic}.") -> BasePrompt:
    return BasePrompt(task_description=description, label_options=LABELS, generate_data_for_column="text")


def unlabeled(description: str = "Write a short story about {topic}.") -> BasePrompt:
    return BasePrompt(task_description=description, generate_data_for_column="text")


def plan(prompt: BasePrompt, count: int, fewshot=None, strategy=None, per_class=None, **options):
    return plan_prompts(
        prompt, fewshot, strategy, per_class, count=count, options=GenerationOptions(**options)
    )


def topic_of(text: str) -> str:
    return re.search(r"about (\w+)\.", text).group(1)


def test_values_fill_their_fields_and_the_labels_still_fill_the_braces():
    items = plan(conditioned(), 6, attributes={"topic": TOPICS})
    for item in items:
        topic = dict(item.attributes)["topic"]
        assert item.prompt_text.startswith(f"Write a {item.label} review about {topic}.\n\ntext: ")
        assert [m["content"] for m in item.messages if m["role"] == "user"] == [item.prompt_text.rstrip()]
    assert {topic_of(i.prompt_text) for i in items} == set(TOPICS)


def test_attributes_not_in_the_description_follow_it_on_one_line():
    (item,) = plan(unlabeled(), 1, attributes={"topic": ["food"], "reading_level": ["easy"]})
    assert item.prompt_text.startswith(
        "Write a short story about food.\nAttributes: reading level: easy\n\ntext: "
    )
    assert item.attributes == (("topic", "food"), ("reading_level", "easy"))


def test_same_seed_same_plan_other_seed_another():
    spec = {"topic": [*TOPICS, "sport", "art"], "tone": {"dry": 1, "warm": 2}}
    first = [i.attributes for i in plan(conditioned(), 20, attributes=spec, seed=1)]
    assert first == [i.attributes for i in plan(conditioned(), 20, attributes=spec, seed=1)]
    assert first != [i.attributes for i in plan(conditioned(), 20, attributes=spec, seed=2)]


def test_list_values_are_balanced_over_the_rows():
    items = plan(unlabeled(), 30, attributes={"topic": TOPICS})
    assert Counter(topic_of(i.prompt_text) for i in items) == {t: 10 for t in TOPICS}
    blocks = [{topic_of(i.prompt_text) for i in items[b : b + 3]} for b in range(0, 30, 3)]
    assert all(block == set(TOPICS) for block in blocks)  # every value once per block
    assert len({tuple(topic_of(i.prompt_text) for i in items[b : b + 3]) for b in range(0, 30, 3)}) > 1


def test_per_label_values_are_balanced_within_each_label():
    spec = {
        "topic": {"per_label": {"positive": ["joy", "luck", "love"], "negative": ["rain", "loss", "debt"]}}
    }
    items = plan(conditioned(), 24, attributes=spec)
    by_label = {
        label: Counter(topic_of(i.prompt_text) for i in items if i.label == label) for label in LABELS
    }
    assert by_label == {
        "positive": {"joy": 4, "luck": 4, "love": 4},
        "negative": {"rain": 4, "loss": 4, "debt": 4},
    }


def test_weighted_values_follow_their_weights():
    items = plan(unlabeled(), 400, attributes={"topic": {"food": 3, "travel": 1}})
    counts = Counter(topic_of(i.prompt_text) for i in items)
    assert counts == {"food": 315, "travel": 85}  # seed 0: fixed draws
    assert abs(counts["food"] / 400 - 0.75) < 0.05  # about 3 to 1
    other = Counter(
        topic_of(i.prompt_text)
        for i in plan(unlabeled(), 400, attributes={"topic": {"food": 1, "travel": 3}})
    )
    assert abs(other["travel"] / 400 - 0.75) < 0.05


def test_a_row_gets_the_same_values_whatever_the_number_of_rows():
    spec = {"topic": TOPICS, "tone": {"dry": 1, "warm": 2}}
    short = plan(conditioned(), 10, attributes=spec)
    long = plan(conditioned(), 30, attributes=spec)
    assert long[:10] == short


def test_without_attributes_the_plan_is_as_before(sentiment_fewshot):
    """The attributes draw from their own sequences: labels and few-shot draws stay as they were."""
    prompt = conditioned("Write a {} review.")
    before = plan(prompt, 12, sentiment_fewshot, "uniform", 1)
    after = plan(prompt, 12, sentiment_fewshot, "uniform", 1, attributes={"topic": TOPICS})
    assert [(i.label, i.fewshot_ids) for i in after] == [(i.label, i.fewshot_ids) for i in before]
    assert all(i.attributes == () and "Attributes" not in i.prompt_text for i in before)
    shown = [f"\nAttributes: topic: {dict(i.attributes)['topic']}" for i in after]
    assert all(line in i.prompt_text for line, i in zip(shown, after, strict=True))
    assert [i.prompt_text.replace(line, "") for line, i in zip(shown, after, strict=True)] == [
        i.prompt_text for i in before
    ]


def test_rows_record_their_attributes_in_the_provenance():
    g = DatasetGenerator()
    ds = g.generate(
        conditioned(),
        max_prompt_calls=6,
        num_samples_to_generate=6,
        dummy_response=lambda prompt: f"A review of {topic_of(prompt)}.",
        attributes={"topic": TOPICS},
    )
    provenance = g.last_run.provenance
    assert [p["attributes"]["topic"] for p in provenance] == [
        re.search(r"of (\w+)", t).group(1) for t in ds["text"]
    ]
    assert g.last_run.attributes == {"topic": TOPICS}
    g.generate(
        conditioned("Write a {} review."), max_prompt_calls=2, num_samples_to_generate=2, dummy_response="x"
    )
    assert "attributes" not in g.last_run.provenance[0] and g.last_run.attributes is None


def proposer(prompt: str) -> str:
    """Lists the topics it is asked for (with bullets, numbers and a repeat to clean up), else writes."""
    if prompt.startswith("List "):
        mood = "bright" if "positive" in prompt else "dark"
        return (
            f"Here are some topics:\n1. {mood} food\n- {mood} travel\n* {mood.upper()} FOOD\n3) {mood} music"
        )
    topic = re.search(r"about (.+)\.", prompt).group(1)
    return f"A review of {topic}."


def test_the_model_proposes_values_once_per_label_and_they_are_used_and_saved(tmp_path):
    llm = Fake(proposer)
    g = DatasetGenerator(llm)
    ds = g.generate(
        conditioned(),
        max_prompt_calls=20,
        num_samples_to_generate=12,
        attributes={"topic": {"propose": 3}},
        dedup=False,
    )
    asked = [r.messages[0]["content"] for r in llm.requests if r.messages[0]["content"].startswith("List ")]
    assert asked == [
        "List 3 different topics for this task: Write a positive review about <topic>.\n"
        "Write each on its own line, with no numbering and nothing else.",
        "List 3 different topics for this task: Write a negative review about <topic>.\n"
        "Write each on its own line, with no numbering and nothing else.",
    ]
    values = {
        "positive": ["bright food", "bright travel", "bright music"],
        "negative": ["dark food", "dark travel", "dark music"],
    }
    assert g.last_run.attributes == {"topic": {"per_label": values}}
    assert g.last_run.summary()["calls"] == 2 + 12  # the proposals count like any call
    for row, p in zip(ds, g.last_run.provenance, strict=True):
        assert p["attributes"]["topic"] in values[p["label"]]
        assert row["text"].startswith(f"A review of {p['attributes']['topic']}.")
    assert Counter(p["attributes"]["topic"] for p in g.last_run.provenance) == {
        v: 2 for vs in values.values() for v in vs
    }


def test_proposals_come_from_the_journal_on_a_rerun(tmp_path):
    options = dict(
        max_prompt_calls=10, num_samples_to_generate=4, attributes={"topic": {"propose": 3}}, dedup=False
    )
    DatasetGenerator(Fake(proposer)).generate(unlabeled(), journal_dir=tmp_path / "j", **options)
    again = Fake(proposer)
    g = DatasetGenerator(again)
    g.generate(unlabeled(), journal_dir=tmp_path / "j", **options)
    assert again.calls == 0 and g.last_run.summary()["calls"] == 0
    assert g.last_run.attributes == {"topic": ["dark food", "dark travel", "dark music"]}


def test_proposals_need_calls_and_at_least_two_values():
    with pytest.raises(ConfigError, match="no call to propose the values of attribute 'topic'"):
        DatasetGenerator(Fake(proposer)).generate(  # two labels, two proposals
            conditioned(), max_prompt_calls=1, num_samples_to_generate=1, attributes={"topic": {"propose": 3}}
        )
    with pytest.raises(ParseError, match="proposed 1 value") as info:
        DatasetGenerator(Fake("just one")).generate(unlabeled(), attributes={"topic": {"propose": 3}})
    assert "as a list of values" in info.value.hint


def test_recipe_takes_an_attributes_section(tmp_path):
    recipe = {
        "prompt": {
            "task_description": "Write a {} review about {topic}.",
            "label_options": LABELS,
            "generate_data_for_column": "text",
        },
        "attributes": {"topic": TOPICS, "length": {"short": 2, "long": 1}},
    }
    loaded = load_recipe(write_recipe(tmp_path, recipe))
    assert loaded.generation.sampling.attributes == {"topic": TOPICS, "length": {"short": 2.0, "long": 1.0}}
    dumped = yaml.safe_load(yaml.safe_dump(loaded.model_dump(mode="json")))
    assert "attributes" not in dumped and dumped["generation"]["attributes"]["topic"] == TOPICS
    inside = load_recipe(
        write_recipe(tmp_path, recipe, attributes=None, generation={"attributes": {"topic": TOPICS}})
    )
    assert inside.generation.sampling.attributes == {"topic": TOPICS}
    with pytest.raises(ConfigError, match="attributes are given both as a section and in generation"):
        load_recipe(write_recipe(tmp_path, recipe, generation={"attributes": {"topic": TOPICS}}))
    with pytest.raises(ConfigError, match="attribute 'topic' must be a list of values"):
        load_recipe(write_recipe(tmp_path, recipe, attributes={"topic": "food"}))


@pytest.mark.parametrize(
    "prompt, spec, needle",
    [
        (conditioned(), {"tone": ["dry"]}, "has the field {topic} but no attribute is named 'topic'"),
        (conditioned(), None, "has the field {topic} but no attribute is named 'topic'"),
        (
            conditioned(),
            {"topic": {"per_label": {"positive": ["joy"]}}},
            "attribute 'topic' has values per label for ['positive'], the labels are "
            "['positive', 'negative']; missing: ['negative']",
        ),
        (
            conditioned(),
            {"topic": {"per_label": {"positive": ["joy"], "negative": ["rain"], "neutral": ["x"]}}},
            "not labels: ['neutral']",
        ),
        (unlabeled(), {"topic": {"per_label": {"a": ["x"]}}}, "the prompt has no label_options"),
        (unlabeled(), {"topic": {"propose": 3, "per_label": True}}, "the prompt has no label_options"),
    ],
)
def test_attributes_that_do_not_fit_the_prompt_are_clear_errors(prompt, spec, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        plan(prompt, 1, attributes=spec)
    assert info.value.hint


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"topic": "food"}, "attribute 'topic' must be a list of values, {value: weight}"),
        ({"topic": []}, "attribute 'topic' has no values"),
        ({"topic": ["a", "a"]}, "attribute 'topic' lists ['a'] more than once"),
        ({"topic": {"a": 0}}, "attribute 'topic': the weight of 'a' must be a number above 0"),
        ({"topic": {"propose": 1}}, "attribute 'topic': propose must be a whole number of values from 2"),
        ({"topic": {"propose": 3, "n": 1}}, "attribute 'topic': unknown key(s) ['n'] beside 'propose'"),
        ({"topic": {"per_label": ["a"]}}, "attribute 'topic': per_label must be the only key"),
        ({"topic": [None]}, "attribute 'topic': each value must be non-empty text or a number"),
        ({"my topic": ["a"]}, "attribute name 'my topic' is not a plain name"),
        (["topic"], "attributes must be a mapping"),
    ],
)
def test_bad_attribute_shapes_are_errors_naming_the_attribute(spec, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        DatasetGenerator().generate(unlabeled(), dummy_response="x", attributes=spec)


def test_attributes_are_refused_with_annotation():
    from datasets import Dataset

    prompt = BasePrompt(
        "Classify as: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    with pytest.raises(ConfigError, match="attributes vary the rows a model generates") as info:
        DatasetGenerator().generate(
            prompt,
            unlabeled_dataset=Dataset.from_dict({"text": ["ok"]}),
            dummy_response="positive",
            attributes={"topic": TOPICS},
        )
    assert "unlabeled_dataset" in info.value.hint
