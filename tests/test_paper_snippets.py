"""The paper's tutorial snippets, unchanged apart from the LLM object, as dry runs."""

from datasets import ClassLabel, Dataset

from fabricator import BasePrompt, DatasetGenerator


def test_plain_generation():
    prompt = BasePrompt(task_description="Generate a short movie review.")
    generator = DatasetGenerator(None)
    ds = generator.generate(
        prompt_template=prompt,
        max_prompt_calls=10,
        num_samples_to_generate=10,
        dummy_response="An okay film with a great cast.",
    )
    assert ds.column_names == ["text"] and len(ds) == 10


def test_label_conditioned_generation_with_fewshot(sentiment_fewshot):
    prompt = BasePrompt(
        task_description="Generate a {} movie review.",
        label_options=["positive", "negative"],
        generate_data_for_column="text",
    )
    generator = DatasetGenerator(None)
    ds = generator.generate(
        prompt_template=prompt,
        fewshot_dataset=sentiment_fewshot,
        fewshot_examples_per_class=1,
        fewshot_sampling_strategy="uniform",
        fewshot_sampling_column="label",
        max_prompt_calls=10,
        dummy_response=lambda prompt_text: prompt_text.split("\n")[0],
    )
    assert ds.column_names == ["text", "label"] and len(ds) == 10
    assert isinstance(ds.features["label"], ClassLabel)
    names = ds.features["label"].names
    for row in ds:  # each text was generated for the label the row carries
        assert row["text"] == f"Generate a {names[row['label']]} movie review."
    assert sorted(ds["label"]) == [0] * 5 + [1] * 5  # balanced


def test_annotation_with_fewshot(sentiment_fewshot):
    unlabeled = Dataset.from_dict({"text": [f"review number {i}" for i in range(7)]})
    prompt = BasePrompt(
        task_description="Annotate movie reviews as either: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    generator = DatasetGenerator(None)
    ds, original = generator.generate(
        prompt_template=prompt,
        fewshot_dataset=sentiment_fewshot,
        fewshot_examples_per_class=1,
        fewshot_sampling_strategy="stratified",
        unlabeled_dataset=unlabeled,
        max_prompt_calls=5,
        return_unlabeled_dataset=True,
        dummy_response="negative",
    )
    assert ds.column_names == ["text", "label"] and len(ds) == 5
    assert ds["text"] == unlabeled["text"][:5] == original["text"]
    assert set(ds["label"]) == {1}


def test_translation_with_fewshot_example_columns():
    fewshot = Dataset.from_dict(
        {"english": ["Good morning", "Thank you"], "german": ["Guten Morgen", "Danke"]}
    )
    unlabeled = Dataset.from_dict({"english": ["How are you?", "See you soon", "Good night"]})
    prompt = BasePrompt(
        task_description="Translate to german:",
        generate_data_for_column="german",
        fewshot_example_columns="english",
    )
    seen = []

    def echo(prompt_text: str) -> str:
        seen.append(prompt_text)
        return "Übersetzung"

    ds = DatasetGenerator(None).generate(
        prompt_template=prompt,
        fewshot_dataset=fewshot,
        fewshot_examples_per_class=2,
        unlabeled_dataset=unlabeled,
        max_prompt_calls=3,
        dummy_response=echo,
    )
    assert ds.column_names == ["english", "german"] and len(ds) == 3
    assert ds["german"] == ["Übersetzung"] * 3
    assert any(p.endswith("english: How are you?\ngerman:") for p in seen)
    assert all("german: Danke" in p for p in seen)


def test_annotation_dry_run_returns_every_row_even_when_the_dummy_is_no_label():
    """As the paper's documentation calls it: a dry run shows the rows that would be made."""
    prompt = BasePrompt(
        task_description="Annotate movie reviews as either: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    unlabeled_dataset = Dataset.from_dict({"text": ["This movie was a blast!", "This movie was not bad!"]})
    generated_dataset = DatasetGenerator(None).generate(
        prompt_template=prompt,
        unlabeled_dataset=unlabeled_dataset,
        max_prompt_calls=2,
        dummy_response="A dummy response",
    )
    assert len(generated_dataset) == 2
    assert generated_dataset["text"] == ["This movie was a blast!", "This movie was not bad!"]
    assert generated_dataset.features["label"].dtype == "string"
    assert generated_dataset["label"] == ["A dummy response"] * 2


def test_annotation_dry_run_with_fewshot_as_in_the_paper_tests():
    fewshot = Dataset.from_dict(
        {"text": ["This movie is great!", "This movie is bad!"], "label": ["positive", "negative"]}
    )
    prompt = BasePrompt(
        task_description="Annotate movie reviews as either: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    unlabeled = Dataset.from_dict({"text": ["This movie was a blast!", "This movie was not bad!"]})
    ds = DatasetGenerator(None).generate(
        prompt_template=prompt,
        fewshot_dataset=fewshot,
        fewshot_examples_per_class=1,
        fewshot_sampling_strategy="stratified",
        unlabeled_dataset=unlabeled,
        max_prompt_calls=2,
        dummy_response="A dummy movie review.",
    )
    assert len(ds) == 2 and ds[0]["text"] == "This movie was a blast!"
    assert ds.features["label"].dtype == "string"
