"""NER, extractive QA, NLI and pair annotation through the generator (fake model)."""

import json

from datasets import ClassLabel, Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.formats import Entities, ExtractiveQA
from fabricator.llms import Fake

TYPES = ["PER", "ORG", "LOC", "MISC"]


def conll_rows():
    return Dataset.from_dict(
        {
            "tokens": [
                ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
                ["Peter", "Blackburn", "lives", "in", "New", "York", "and", "New", "York", "loves", "him"],
            ],
            "ner_tags": [
                ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
                ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC", "I-LOC", "O", "O"],
            ],
        }
    )


def test_ner_annotation_gives_bio_tags_and_drops_invented_spans():
    answers = {
        "Peter Blackburn lives": (
            '[{"text": "Peter Blackburn", "type": "PER"}, {"text": "New York", "type": "LOC"}]'
        ),
        "EU rejects": '```json\n[{"text": "EU", "type": "ORG"}, {"text": "Brussels", "type": "LOC"}]\n```',
    }

    def model(prompt: str) -> str:
        last = prompt.rsplit("text: ", 1)[-1]
        return next(v for k, v in answers.items() if last.startswith(k))

    fmt = Entities(TYPES)
    prompt = BasePrompt(
        "Extract the named entities ({}) from the text.",
        label_options=TYPES,
        generate_data_for_column="entities",
        fewshot_example_columns="text",
    )
    g = DatasetGenerator(Fake(model))
    gold = conll_rows()
    ds = g.generate(
        prompt,
        fewshot_dataset=gold,
        fewshot_examples_per_class=1,
        unlabeled_dataset=gold.remove_columns("ner_tags"),
        max_prompt_calls=2,
        output_format=fmt,
    )
    assert len(ds) == 2 and not g.last_run.failures  # one bad span never fails a sentence (issue 28)
    names = ds.features["ner_tags"].feature.names
    assert [names[t] for t in ds[1]["ner_tags"]] == gold[1]["ner_tags"]  # both New Yorks, B- then I-
    kept = [names[t] for t in ds[0]["ner_tags"]]
    assert kept[0] == "B-ORG" and set(kept[1:]) == {"O"}  # EU kept, the invented Brussels dropped
    dropped = g.last_run.provenance[0]["dropped_spans"]
    assert len(dropped) == 1 and "Brussels" in dropped[0]
    assert g.last_run.summary()["dropped_spans"] == 1 and g.last_run.summary()["calls"] == 2  # no re-ask


def test_ner_fewshot_prompt_shows_entity_json():
    fmt = Entities(TYPES)
    prepared = fmt.prepare(conll_rows())
    assert prepared[0]["text"] == "EU rejects German call to boycott British lamb ."
    assert json.loads(prepared[0]["entities"]) == [
        {"text": "EU", "type": "ORG"},
        {"text": "German", "type": "MISC"},
        {"text": "British", "type": "MISC"},
    ]


def test_qa_generation_validates_answer_start():
    contexts = Dataset.from_dict(
        {"context": ["The Eiffel Tower is in Paris. It opened in 1889.", "Water boils at 100 degrees."]}
    )

    def model(prompt: str) -> str:
        if "Eiffel" in prompt:
            return '{"question": "When did it open?", "answer": "1889"}'
        return '{"question": "What boils?", "answer": "milk"}'

    g = DatasetGenerator(Fake(model))
    prompt = BasePrompt(
        "Write a question about the context and answer it with a span of the context.",
        generate_data_for_column="qa",
        fewshot_example_columns="context",
    )
    ds = g.generate(prompt, unlabeled_dataset=contexts, max_prompt_calls=2, output_format=ExtractiveQA())
    assert ds.column_names == ["context", "question", "answers"]
    row = ds[0]
    start = row["answers"]["answer_start"][0]
    assert row["context"][start : start + 4] == "1889" and row["answers"]["text"] == ["1889"]
    assert "not in the context" in g.last_run.failures[0].error


def test_nli_generation_conditions_each_premise_on_a_label():
    premises = Dataset.from_dict({"premise": [f"A man plays guitar {i}." for i in range(6)]})
    fewshot = Dataset.from_dict(
        {
            "premise": ["A dog runs.", "A dog runs.", "A dog runs."],
            "hypothesis": ["An animal moves.", "The dog is old.", "The dog sleeps."],
            "label": ["entailment", "neutral", "contradiction"],
        }
    )
    prompt = BasePrompt(
        "Write a hypothesis that is in '{}' relation to the premise.",
        label_options=["entailment", "neutral", "contradiction"],
        generate_data_for_column="hypothesis",
        fewshot_example_columns="premise",
    )
    llm = Fake(lambda p: p.split("'")[1])
    ds = DatasetGenerator(llm).generate(
        prompt, fewshot, "uniform", 1, "label", unlabeled_dataset=premises, max_prompt_calls=6
    )
    assert ds.column_names == ["premise", "hypothesis", "label"]
    assert isinstance(ds.features["label"], ClassLabel)
    names = ds.features["label"].names
    assert all(r["hypothesis"] == names[r["label"]] for r in ds)  # the text was written for its label
    assert sorted(ds["label"]) == [0, 0, 1, 1, 2, 2]
    first_user = llm.requests[0].messages[1]["content"]
    assert "hypothesis: An animal moves." in first_user or "hypothesis: The dog" in first_user


def test_pair_annotation():
    pairs = Dataset.from_dict({"premise": ["A man sleeps."], "hypothesis": ["A man is awake."]})
    prompt = BasePrompt(
        "Does the premise entail the hypothesis? Answer {}.",
        label_options=["entailment", "neutral", "contradiction"],
        generate_data_for_column="label",
        fewshot_example_columns=["premise", "hypothesis"],
    )
    ds = DatasetGenerator(Fake("Contradiction.")).generate(
        prompt, unlabeled_dataset=pairs, max_prompt_calls=1
    )
    assert ds.column_names == ["premise", "hypothesis", "label", "confidence"] and ds[0]["label"] == 2
    assert ds[0]["confidence"] == 1.0  # the fake is certain of what it writes


def test_ner_rows_write_tag_names_to_jsonl(tmp_path):
    from fabricator.tables import load_table, write_jsonl

    fmt = Entities(TYPES)
    ds = DatasetGenerator(Fake('[{"text": "EU", "type": "ORG"}]')).generate(
        BasePrompt(
            "Find entities ({}).",
            label_options=TYPES,
            generate_data_for_column="entities",
            fewshot_example_columns="text",
        ),
        unlabeled_dataset=conll_rows().select([0]).remove_columns("ner_tags"),
        max_prompt_calls=1,
        output_format=fmt,
    )
    write_jsonl(ds, tmp_path / "ner.jsonl")
    row = load_table(tmp_path / "ner.jsonl")[0]
    assert row["ner_tags"] == ["B-ORG"] + ["O"] * 8
