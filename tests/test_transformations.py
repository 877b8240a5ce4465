"""Dataset transformations: label ids <-> text, BIO tags <-> spans, SQuAD answers <-> flat."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from conftest import SHARED_DATA
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from fabricator.dataset_transformations import (
    Span,
    align_answer,
    bio_to_spans,
    convert_label_ids_to_texts,
    convert_spans_to_token_labels,
    convert_texts_to_label_ids,
    convert_token_labels_to_spans,
    locate_answer,
    parse_entity_json,
    parse_span_string,
    postprocess_squad_format,
    preprocess_squad_format,
    spans_to_bio,
    spans_to_string,
    tags_to_chunks,
)
from fabricator.errors import ConfigError, ParseError

datasets.disable_progress_bars()

CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def conll_train(shared_data: Path) -> list[dict]:
    """CoNLL-2003 train; the tests using it are skipped when the shared data is absent."""
    return read_jsonl(shared_data / "conll2003" / "train.jsonl")


# --- token classification: real data --------------------------------------------------------------


def test_every_conll_train_sentence_round_trips_through_spans(conll_train):
    dataset = Dataset.from_list(conll_train)
    spans, options = convert_token_labels_to_spans(dataset, "tokens", "ner_tags", return_label_options=True)
    assert options == ["LOC", "MISC", "ORG", "PER"]
    first = spans[0]
    assert first["ner_tags"] == "EU is ORG.\nGerman is MISC.\nBritish is MISC."
    assert first["spans"][0] == {"text": "EU", "type": "ORG", "start": 0, "end": 2}
    for row in spans.select(range(200)):  # offsets point into " ".join(tokens)
        sentence = " ".join(row["tokens"])
        for span in row["spans"]:
            assert sentence[span["start"] : span["end"]] == span["text"]

    back = convert_spans_to_token_labels(spans.remove_columns("ner_tags"), "tokens", "spans", options)
    assert len(back) == len(conll_train) == 14041
    assert back["error"] == [None] * len(conll_train)
    assert back["ner_tags"] == [row["ner_tags"] for row in conll_train]


def test_every_conll_train_sentence_round_trips_with_classlabel_ids(conll_train):
    features = Features(
        {
            "id": Value("string"),
            "tokens": Sequence(Value("string")),
            "ner_tags": Sequence(ClassLabel(names=CONLL_TAGS)),
        }
    )
    ids = [[CONLL_TAGS.index(t) for t in row["ner_tags"]] for row in conll_train]
    dataset = Dataset.from_dict(
        {
            "id": [row["id"] for row in conll_train],
            "tokens": [row["tokens"] for row in conll_train],
            "ner_tags": ids,
        },
        features=features,
    )
    mapping = {"PER": "person", "ORG": "organization", "LOC": "location", "MISC": "miscellaneous"}
    spans, options = convert_token_labels_to_spans(
        dataset, "tokens", "ner_tags", expanded_label_mapping=mapping, return_label_options=True
    )
    assert options == ["person", "organization", "location", "miscellaneous"]  # ClassLabel order
    assert spans[0]["ner_tags"].startswith("EU is organization.")
    back = convert_spans_to_token_labels(
        spans.remove_columns("ner_tags"),
        "tokens",
        "spans",
        options,
        id2label=CONLL_TAGS,
        expanded_label_mapping=mapping,
    )
    assert back.features["ner_tags"].feature.names == CONLL_TAGS
    assert back["ner_tags"] == ids


def _untagged_repeat(tokens: list[str], tags: list[str]) -> bool:
    """Whether some gold entity text also occurs in the sentence outside that entity's tags."""
    entities = tags_to_chunks(tags)
    for type_, first, last in entities:
        words = tokens[first : last + 1]
        for i in range(len(tokens) - len(words) + 1):
            end = i + len(words) - 1
            if tokens[i : end + 1] == words and (type_, i, end) not in entities:
                return True
    return False


def test_text_only_spans_round_trip_except_untagged_repeats(conll_train):
    """Without offsets an entity text tags all its occurrences (the documented rule), so the only
    sentences that cannot come back are those where the gold leaves a repeat of it untagged."""
    mismatches = []
    for row in conll_train:
        found = bio_to_spans(row["tokens"], row["ner_tags"])
        spans = [{"text": s.text, "type": s.type} for s in found]
        tags, _ = spans_to_bio(row["tokens"], spans)
        if tags != row["ner_tags"]:
            mismatches.append(row)
            assert _untagged_repeat(row["tokens"], row["ner_tags"]), row
    assert len(mismatches) <= 20


def test_span_strings_parse_back_on_real_sentences(conll_train):
    rows = conll_train
    spans = convert_token_labels_to_spans(Dataset.from_list(rows), "tokens", "ner_tags")
    back = convert_spans_to_token_labels(
        spans.rename_column("ner_tags", "answer").remove_columns("spans"),
        "tokens",
        "answer",
        ["LOC", "MISC", "ORG", "PER"],
    )
    assert back["error"] == [None] * len(rows)
    for row, tags in zip(rows, back["ner_tags"], strict=True):
        if tags != row["ner_tags"]:
            assert _untagged_repeat(row["tokens"], row["ner_tags"]), row


# --- token classification: units ----------------------------------------------------------------


def test_bio_to_spans_multi_token_offsets_and_seqeval_conventions():
    tokens = ["Peter", "Blackburn", "visited", "New", "York", "City", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"]
    assert bio_to_spans(tokens, tags) == [
        Span("Peter Blackburn", "PER", 0, 15),
        Span("New York City", "LOC", 24, 37),
    ]
    # I- without B- opens an entity; a type change splits; B- after B- splits (seqeval default)
    assert tags_to_chunks(["O", "I-PER", "I-PER", "I-LOC", "B-LOC", "B-LOC"]) == [
        ("PER", 1, 2),
        ("LOC", 3, 3),
        ("LOC", 4, 4),
        ("LOC", 5, 5),
    ]
    with pytest.raises(ConfigError, match="not a BIO tag"):
        bio_to_spans(["a"], ["PER"])
    with pytest.raises(ConfigError, match="1 tokens but 2 tags"):
        bio_to_spans(["a"], ["O", "O"])


def test_spans_to_bio_multi_token_and_entity_occurring_twice():
    tokens = ["EU", "rejects", "German", "call", ",", "EU", "says", "."]
    tags, errors = spans_to_bio(tokens, [{"text": "EU", "type": "ORG"}])
    assert errors == []
    assert tags == ["B-ORG", "O", "O", "O", "O", "B-ORG", "O", "O"]  # every occurrence

    tokens = ["Peter", "Blackburn", "met", "Peter", "Smith"]
    tags, errors = spans_to_bio(
        tokens, [{"text": "Peter Blackburn", "type": "PER"}, {"text": "Peter Smith", "type": "PER"}]
    )
    assert errors == []
    assert tags == ["B-PER", "I-PER", "O", "B-PER", "I-PER"]


def test_spans_to_bio_repeated_word_inside_longer_entity():
    tokens = ["The", "New", "York", "Times", "reported", "from", "New", "York", "."]
    spans = [Span("New York", "LOC"), Span("New York Times", "ORG")]  # listed short first
    tags, errors = spans_to_bio(tokens, spans)
    assert errors == []
    assert tags == ["O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "B-LOC", "I-LOC", "O"]


def test_spans_to_bio_same_text_with_two_types_pairs_in_order():
    tokens = ["Jordan", "beat", "Jordan", "."]
    spans = [{"text": "Jordan", "type": "LOC"}, {"text": "Jordan", "type": "PER"}]
    tags, errors = spans_to_bio(tokens, spans)
    assert errors == []
    assert tags == ["B-LOC", "O", "B-PER", "O"]
    # three occurrences, two different listings: ambiguous
    tags, errors = spans_to_bio(["Jordan", "Jordan", "Jordan"], spans)
    assert errors and "Jordan" in errors[0]


def test_spans_to_bio_offsets_pick_one_occurrence():
    tokens = ["Paris", "loves", "Paris"]
    tags, errors = spans_to_bio(tokens, [{"text": "Paris", "type": "PER", "start": 0, "end": 5}])
    assert (tags, errors) == (["B-PER", "O", "O"], [])
    tags, errors = spans_to_bio(tokens, [Span("Paris", "LOC", 12, 17)])
    assert (tags, errors) == (["O", "O", "B-LOC"], [])
    _, errors = spans_to_bio(tokens, [Span("Pari", "LOC", 0, 4)])
    assert errors and "token boundaries" in errors[0]
    _, errors = spans_to_bio(tokens, [Span("loves", "LOC", 0, 5)])
    assert errors and "does not match" in errors[0]


def test_spans_to_bio_errors_instead_of_invented_tags():
    tokens = ["EU", "rejects", "German", "call"]
    _, errors = spans_to_bio(tokens, [Span("France", "LOC")])
    assert errors == ["span 'France' (LOC) is not in the sentence"]
    _, errors = spans_to_bio(tokens, [Span("Germ", "MISC")])  # not on token boundaries
    assert errors and "not in the sentence" in errors[0]
    _, errors = spans_to_bio(tokens, [Span("EU", "ANIMAL")], label_types=["ORG", "MISC"])
    assert errors and "unknown type 'ANIMAL'" in errors[0]
    _, errors = spans_to_bio(tokens, [Span("EU rejects", "ORG"), Span("rejects German", "MISC")])
    assert errors and "overlaps" in errors[0]
    _, errors = spans_to_bio(tokens, [Span("  ", "ORG")])
    assert errors and "empty" in errors[0]


def test_spans_to_bio_whitespace_insensitive_match_and_types():
    tokens = ["Blackburn", "'s", "team", "won"]
    tags, errors = spans_to_bio(
        tokens,
        [Span("Blackburn's team", "person")],
        expanded_label_mapping={"ORG": "organization", "PER": "person"},
    )
    assert errors == []
    assert tags == ["B-PER", "I-PER", "I-PER", "O"]


def test_invented_span_is_a_row_error_in_the_dataset():
    dataset = Dataset.from_list(
        [
            {
                "tokens": ["EU", "rejects", "German", "call"],
                "spans": [{"text": "EU", "type": "ORG"}],
            },
            {"tokens": ["Peter", "Blackburn"], "spans": [{"text": "Peter Smith", "type": "PER"}]},
            {"tokens": ["Nothing", "here"], "spans": []},
        ]
    )
    out = convert_spans_to_token_labels(dataset, "tokens", "spans", ["ORG", "PER"])
    assert len(out) == 3  # nothing dropped
    assert out[0]["ner_tags"] == ["B-ORG", "O", "O", "O"] and out[0]["error"] is None
    assert out[1]["ner_tags"] is None
    assert "'Peter Smith'" in out[1]["error"]
    assert out[2]["ner_tags"] == ["O", "O"] and out[2]["error"] is None

    dict_of_lists = Dataset.from_dict(  # a Sequence({...}) spans feature reads as a dict of lists
        {"tokens": [["EU", "says"]], "spans": [{"text": ["EU"], "type": ["ORG"]}]},
        features=Features(
            {
                "tokens": Sequence(Value("string")),
                "spans": Sequence({"text": Value("string"), "type": Value("string")}),
            }
        ),
    )
    out = convert_spans_to_token_labels(dict_of_lists, "tokens", "spans")
    assert out[0]["ner_tags"] == ["B-ORG", "O"] and out[0]["error"] is None


def test_model_answers_in_the_dataset_are_parsed():
    dataset = Dataset.from_dict(
        {
            "tokens": [["EU", "rejects", "German", "call"]] * 4,
            "answer": [
                'Entities:\n```json\n[{"text": "EU", "type": "organization"}]\n```',
                "EU is organization.\nGerman is miscellaneous.",
                "I cannot help with that.",
                '[{"text": "EU", "type": "animal"}]',
            ],
        }
    )
    mapping = {"ORG": "organization", "MISC": "miscellaneous"}
    out = convert_spans_to_token_labels(
        dataset,
        "tokens",
        "answer",
        ["organization", "miscellaneous"],
        id2label=["O", "B-ORG", "I-ORG", "B-MISC", "I-MISC"],
        expanded_label_mapping=mapping,
    )
    assert out[0]["ner_tags"] == [1, 0, 0, 0]
    assert out[1]["ner_tags"] == [1, 0, 3, 0]
    assert out[2]["ner_tags"] is None and "no JSON list" in out[2]["error"]
    assert out[3]["ner_tags"] is None and "unknown type 'animal'" in out[3]["error"]


def test_parse_entity_json_is_tolerant_but_never_evaluates():
    spans, errors = parse_entity_json(
        'Sure! Here they are:\n```json\n{"entities": [{"text": "EU", "type": "org"}, '
        '{"entity": "German", "label": "MISC"}, {"text": "Bob", "type": "ANIMAL"}, '
        '{"type": "PER"}]}'
        "\n```\nHope this helps.",
        label_types=["ORG", "MISC", "PER"],
    )
    assert spans == [Span("EU", "ORG"), Span("German", "MISC")]
    assert len(errors) == 2 and "ANIMAL" in errors[0] and "no text" in errors[1]
    assert parse_entity_json("[]") == ([], [])
    assert parse_entity_json('{"text": "EU", "type": "ORG"}') == ([Span("EU", "ORG")], [])
    answer = 'noise [1, 2] then [{"text": "A", "type": "X", "start": 0, "end": 1}]'
    assert parse_entity_json(answer) == ([Span("A", "X", 0, 1)], [])
    for bad in ("__import__('os').system('true')", "no entities", "[{'text': 'EU'}]"):
        with pytest.raises(ParseError):
            parse_entity_json(bad)


def test_span_string_round_trip():
    spans = [Span("EU", "ORG"), Span("What is Love", "MISC"), Span("U.S.", "LOC")]
    text = spans_to_string(spans)
    assert text == "EU is ORG.\nWhat is Love is MISC.\nU.S. is LOC."
    assert parse_span_string(text, ["ORG", "MISC", "LOC"]) == (spans, [])
    assert parse_span_string(text) == (spans, [])
    parsed, errors = parse_span_string(
        "- EU is an organization entity.\nrubbish", ["ORG"], {"ORG": "organization"}
    )
    assert parsed == [Span("EU", "ORG")] and len(errors) == 1
    assert spans_to_string([]) == ""


def test_token_label_mapping_errors():
    dataset = Dataset.from_list([{"tokens": ["EU"], "ner_tags": ["B-ORG"]}])
    with pytest.raises(ConfigError, match="not entity types"):
        convert_token_labels_to_spans(dataset, "tokens", "ner_tags", {"B-ORG": "organization"})
    with pytest.raises(ConfigError, match="not in the dataset"):
        convert_token_labels_to_spans(dataset, "words", "ner_tags")


# --- token classification: the paper's calls ----------------------------------------------------

# The paper README's expanded_label_mapping, verbatim; its ids follow these tags.
README_ID2LABEL = {
    0: "O",
    1: "B-person",
    2: "I-person",
    3: "B-location",
    4: "I-location",
    5: "B-organization",
    6: "I-organization",
    7: "B-miscellaneous",
    8: "I-miscellaneous",
}
README_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def _ner_dataset(tags: list[str]) -> Dataset:
    rows = [
        (
            ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
            ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
        ),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    return Dataset.from_dict(
        {
            "id": ["0", "1"],
            "tokens": [tokens for tokens, _ in rows],
            "ner_tags": [[tags.index(t) for t in row_tags] for _, row_tags in rows],
        },
        features=Features(
            {
                "id": Value("string"),
                "tokens": Sequence(Value("string")),
                "ner_tags": Sequence(ClassLabel(names=tags)),
            }
        ),
    )


def test_ner_round_trip_as_the_paper_readme_calls_it():
    dataset = _ner_dataset(README_TAGS)
    gold = dataset["ner_tags"]
    expanded_label_mapping = README_ID2LABEL
    dataset, label_options = convert_token_labels_to_spans(
        dataset=dataset,
        token_column="tokens",
        label_column="ner_tags",
        expanded_label_mapping=expanded_label_mapping,
        return_label_mapping=True,
    )
    assert label_options == ["person", "location", "organization", "miscellaneous"]
    assert dataset[0]["ner_tags"] == (
        "EU is organization.\nGerman is miscellaneous.\nBritish is miscellaneous."
    )
    dataset = convert_spans_to_token_labels(
        dataset=dataset.select(range(2)),
        token_column="tokens",
        label_column="ner_tags",
        id2label=expanded_label_mapping,
    )
    assert dataset[1]["tokens"] == ["Peter", "Blackburn"]
    assert dataset[1]["ner_tags"] == [1, 2]
    assert dataset["ner_tags"] == gold


def test_model_answers_in_the_papers_format_become_tag_ids():
    """The paper's generated rows: tokens as a sentence string, spans as "<text> is <type> entity."."""
    id2label = dict(enumerate(CONLL_TAGS))
    generated = Dataset.from_dict(
        {
            "tokens": ["Peter Blackburn", "EU rejects German call", "Nothing here"],
            "ner_tags": ["Peter Blackburn is PER entity.", "EU is ORG entity.\nGerman is MISC entity.", ""],
        }
    )
    out = convert_spans_to_token_labels(generated, "tokens", "ner_tags", id2label)  # positional
    assert out["tokens"] == [["Peter", "Blackburn"], ["EU", "rejects", "German", "call"], ["Nothing", "here"]]
    assert out["ner_tags"] == [[1, 2], [3, 0, 7, 0], [0, 0]]
    assert out["error"] == [None, None, None]
    assert out.features["ner_tags"].feature.names == CONLL_TAGS

    # the paper's own test: spans from convert_token_labels_to_spans, id2label from the ClassLabel
    dataset = _ner_dataset(CONLL_TAGS)
    spans = convert_token_labels_to_spans(dataset=dataset, token_column="tokens", label_column="ner_tags")
    id2label = dict(enumerate(dataset.features["ner_tags"].feature.names))
    back = convert_spans_to_token_labels(
        dataset=spans, token_column="tokens", label_column="ner_tags", id2label=id2label
    )
    assert back["ner_tags"] == dataset["ner_tags"]


def test_id2label_in_io_and_bioes_schemes():
    answers = Dataset.from_dict(
        {
            "tokens": [["Ada", "Lovelace", "met", "Bob"], ["Ada", "Mary", "Lovelace", "met", "Bob"]],
            "answer": ["Ada Lovelace is PER.\nBob is PER.", "Ada Mary Lovelace is PER.\nBob is PER."],
        }
    )
    io = convert_spans_to_token_labels(answers, "tokens", "answer", id2label={0: "O", 1: "PER"})
    assert io["ner_tags"] == [[1, 1, 0, 1], [1, 1, 1, 0, 1]]
    bioes = convert_spans_to_token_labels(
        answers, "tokens", "answer", id2label=["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    )
    assert bioes["ner_tags"] == [[1, 3, 0, 4], [1, 2, 3, 0, 4]]


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {"PER": "person"}),
            "label_options must be a list",
        ),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", id2label={"PER": "person"}),
            "not a label id",
        ),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {1: "B-PER", 2: "I-PER"}),
            "0..n-1",
        ),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {0: "B-PER", 1: "I-PER"}),
            "no 'O' tag",
        ),
        (
            lambda ds: convert_spans_to_token_labels(
                ds, "tokens", "ner_tags", {0: "O", 1: "B-PER", 2: "LOC"}
            ),
            "mixes",
        ),
        (lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {0: "O", 1: 7}), "tag names"),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {0: "O", 1: "B-X", 2: "B-X"}),
            "more than once",
        ),
        (lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {0: "O"}), "only 'O'"),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", id2label="O B-PER I-PER"),
            "dict id -> tag",
        ),
        (
            lambda ds: convert_spans_to_token_labels(ds, "tokens", "ner_tags", {0: "O"}, id2label=["O"]),
            "given twice",
        ),
        (lambda ds: convert_spans_to_token_labels(ds, "tokens", id2label=["O", "B-PER"]), "name the column"),
        (
            lambda ds: convert_spans_to_token_labels(
                ds, "tokens", "ner_tags", expanded_label_mapping=README_ID2LABEL
            ),
            "keyed by label ids",
        ),
        (
            lambda ds: convert_token_labels_to_spans(ds, "tokens", "ner_tags", {0: "O", 1: "B-person"}),
            "2 ids but the dataset has 3 tags",
        ),
        (
            lambda ds: convert_token_labels_to_spans(
                ds, "tokens", "ner_tags", dict(enumerate(["O", "I-a", "I-a"]))
            ),
            "turns 'B-PER' into 'I-a'",
        ),
        (
            lambda ds: convert_token_labels_to_spans(
                ds, "tokens", "ner_tags", dict(enumerate(["O", "B-a", "I-b"]))
            ),
            "expands 'PER' to 'a' and to 'b'",
        ),
    ],
)
def test_id2label_that_cannot_be_read_is_a_config_error(call, message):
    dataset = Dataset.from_dict(
        {
            "tokens": [["Peter", "Blackburn"]],
            "ner_tags": [[1, 2]],
        },
        features=Features(
            {
                "tokens": Sequence(Value("string")),
                "ner_tags": Sequence(ClassLabel(names=["O", "B-PER", "I-PER"])),
            }
        ),
    )
    with pytest.raises(ConfigError, match=message) as info:
        call(dataset)
    assert info.value.hint


# --- text classification -------------------------------------------------------------------------


@pytest.fixture()
def sst2_ids() -> Dataset:
    if SHARED_DATA.is_dir():
        rows = read_jsonl(SHARED_DATA / "sst2" / "validation.jsonl")[:300]
    else:  # pragma: no cover - data folder absent
        rows = [{"text": "good", "label_id": 1}, {"text": "bad", "label_id": 0}]
    return Dataset.from_dict(
        {"text": [r["text"] for r in rows], "label": [r["label_id"] for r in rows]},
        features=Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}),
    )


def test_label_ids_to_text_and_back(sst2_ids):
    mapping = {"neg": "negative", "pos": "positive"}
    texts, options = convert_label_ids_to_texts(
        sst2_ids, "label", expanded_label_mapping=mapping, return_label_options=True
    )
    assert options == ["negative", "positive"]
    assert texts.features["label"] == Value("string")
    assert set(texts["label"]) == {"negative", "positive"}
    back = convert_texts_to_label_ids(texts, "label", options, expanded_label_mapping=mapping)
    assert back.features["label"].names == ["neg", "pos"]
    assert back["label"] == sst2_ids["label"]

    plain = convert_label_ids_to_texts(sst2_ids, "label")
    assert set(plain["label"]) == {"neg", "pos"}
    again = convert_texts_to_label_ids(plain, "label", ["neg", "pos"])
    assert again["label"] == sst2_ids["label"]


def test_label_text_matching_and_unknown_labels():
    texts = Dataset.from_dict({"label": [" Positive", "negative", None]})
    out = convert_texts_to_label_ids(texts, "label", ["negative", "positive"])
    assert out["label"] == [1, 0, -1]
    bad = Dataset.from_dict({"label": ["positive", "meh"]})
    with pytest.raises(ConfigError) as info:
        convert_texts_to_label_ids(bad, "label", ["negative", "positive"])
    assert "'meh'" in str(info.value) and "['negative', 'positive']" in str(info.value)


def test_label_conversion_input_errors(sst2_ids):
    with pytest.raises(ConfigError, match="not a ClassLabel"):
        convert_label_ids_to_texts(Dataset.from_dict({"label": ["a"]}), "label")
    with pytest.raises(ConfigError, match="not in the dataset"):
        convert_label_ids_to_texts(sst2_ids, "labels")
    with pytest.raises(ConfigError, match="not labels of the dataset"):
        convert_label_ids_to_texts(sst2_ids, "label", {"positive": "good"})
    with pytest.raises(ConfigError, match="same text"):
        convert_label_ids_to_texts(sst2_ids, "label", {"neg": "x", "pos": "x"})


# --- question answering --------------------------------------------------------------------------


def test_every_squad_row_keeps_its_answer_start(shared_data):
    rows = read_jsonl(shared_data / "squad" / "train.jsonl")
    dataset = Dataset.from_list(rows)
    flat = preprocess_squad_format(dataset)
    assert "answers" not in flat.column_names
    assert flat[0]["answer"] == "Saint Bernadette Soubirous" and flat[0]["answer_start"] == 515
    back = postprocess_squad_format(flat)
    assert len(back) == len(rows) == 9535
    assert back["error"] == [None] * len(rows)
    for original, answers in zip(rows, back["answers"], strict=True):
        assert answers["text"] == original["answers"]["text"][:1]
        assert answers["answer_start"] == original["answers"]["answer_start"][:1]
    # a start that is not the first occurrence survives the round trip too
    second = [
        dict(r, answer_start=r["context"].find(r["answer"], r["answer_start"] + 1))
        for r in flat.select(range(3000))
        if r["context"].find(r["answer"], r["answer_start"] + 1) != -1
    ]
    assert second
    moved = postprocess_squad_format(Dataset.from_list(second))
    assert [a["answer_start"][0] for a in moved["answers"]] == [r["answer_start"] for r in second]


def test_locate_answer_prefers_a_valid_hint():
    context = "Paris is big. Paris is old. Lyon is small."
    assert locate_answer(context, "Paris") == 0
    assert locate_answer(context, "Paris", hint_start=14) == 14
    assert locate_answer(context, "Paris", hint_start=12) == 14  # nearest occurrence
    assert locate_answer(context, "Berlin") is None
    assert locate_answer(context, "") is None
    assert align_answer(context, "lyon  IS small.") == ("Lyon is small", 28)
    assert align_answer(context, "Munich") is None


def test_postprocess_keeps_bad_answers_as_row_errors():
    dataset = Dataset.from_list(
        [
            {"context": "Paris is big. Paris is old.", "answer": "Paris", "answer_start": 14},
            {"context": "Paris is big.", "answer": "Berlin", "answer_start": None},
            {"context": "Paris is big.", "answer": None, "answer_start": None},
            {"context": "Paris is big.", "answer": "paris", "answer_start": None},
        ]
    )
    out = postprocess_squad_format(dataset)
    assert len(out) == 4
    assert out[0]["answers"] == {"text": ["Paris"], "answer_start": [14]}
    assert out[0]["error"] is None
    assert out[1]["answers"] == {"text": [], "answer_start": []}
    assert "'Berlin' is not in the context" in out[1]["error"]
    assert out[2]["answers"] == {"text": [], "answer_start": []} and out[2]["error"] is None
    assert out[3]["error"] is not None
    tolerant = postprocess_squad_format(dataset, tolerant=True)
    assert tolerant[3]["answers"] == {"text": ["Paris"], "answer_start": [0]}

    trusted = postprocess_squad_format(
        Dataset.from_list([{"context": "abc def", "answer": "def", "answer_start": 0}]),
        add_answer_start=False,
    )
    assert trusted[0]["answers"]["text"] == [] and "not at answer_start 0" in trusted[0]["error"]
    with pytest.raises(ConfigError, match="needs an 'answer_start' column"):
        postprocess_squad_format(Dataset.from_list([{"context": "a", "answer": "a"}]), False)


def test_preprocess_handles_unanswerable_and_bad_rows():
    dataset = Dataset.from_list(
        [
            {"context": "abc", "answers": {"text": ["abc", "ab"], "answer_start": [0, 0]}},
            {"context": "abc", "answers": {"text": [], "answer_start": []}},
        ]
    )
    flat = preprocess_squad_format(dataset)
    assert flat["answer"] == ["abc", None] and flat["answer_start"] == [0, None]
    back = postprocess_squad_format(flat)
    assert back["answers"] == [
        {"text": ["abc"], "answer_start": [0]},
        {"text": [], "answer_start": []},
    ]
    with pytest.raises(ConfigError, match="not in the dataset"):
        preprocess_squad_format(Dataset.from_list([{"context": "a"}]))
