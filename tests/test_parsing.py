import pytest

from fabricator.errors import ConfigError, ParseError, RefusalError
from fabricator.formats import ExtractiveQA
from fabricator.parsing import (
    Span,
    clean_generated_text,
    complete_sentences,
    find_json,
    normalize_label,
    parse_entities,
    split_tag,
)

OPTIONS = ["positive", "negative"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Positive.", "positive"),
        ("NEGATIVE", "negative"),
        ("label: positive", "positive"),
        ('{"label": "negative"}', "negative"),
        ("pos", "positive"),
        ("I think it is negative", "negative"),
        ("'positive'", "positive"),
    ],
)
def test_label_variants_map_to_the_options(raw, expected):
    assert normalize_label(raw, OPTIONS) == expected


def test_unclear_labels_are_errors_and_synonyms_help():
    for raw in ["neutral", "positive or negative", ""]:
        with pytest.raises(ParseError):
            normalize_label(raw, OPTIONS)
    assert normalize_label("thumbs up", OPTIONS, synonyms={"thumbs up": "positive"}) == "positive"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('Sure! Here is a negative review:\n"Dull and slow."', "Dull and slow."),
        ("Here's a review: A fine, warm film.", "A fine, warm film."),
        ("text: Great cast. Superb score.", "Great cast. Superb score."),
        ("Great cast, weak plot.\ntext: another example", "Great cast, weak plot."),
        ("A sharp comedy.\n\nNote: this review is fictional.", "A sharp comedy."),
        ("OK movie, nothing special.", "OK movie, nothing special."),
    ],
)
def test_chatter_and_scaffolding_are_removed(raw, expected):
    assert clean_generated_text(raw, prefix="text:", stop_columns=["text", "label"]) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "As an AI language model, I cannot write reviews.",
        "I'm sorry, but I can't help with that.",
        "Sure! Here is a review:",
    ],
)
def test_refusals_and_empty_chatter_are_refusals(raw):
    with pytest.raises(RefusalError):
        clean_generated_text(raw, prefix="text:")


def test_complete_sentences():
    assert complete_sentences('He said "wow!" and left. Then') == 'He said "wow!" and left.'
    with pytest.raises(ParseError):
        complete_sentences("An endless, aimless")


@pytest.mark.parametrize(
    "raw",
    [
        "I'm unable to generate a negative movie review due to the sensitive nature of the topic.",
        "As an artificial intelligence language model, I must adhere to certain ethical guidelines.",
        "I regret to inform you that I can't assist with that request.",
        "Unfortunately, I am unable to generate a negative movie review as it may contain "
        "offensive language.",
        "I cannot provide a negative movie review as it violates the policy of not criticizing any film.",
    ],
)
def test_refusal_phrasings_seen_from_the_embedded_model(raw):
    with pytest.raises(RefusalError):
        clean_generated_text(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "I'm sorry, this movie was a mess from start to finish.",
        "I regret to inform you that this movie was absolutely terrible.",
        "I can't recommend it: the plot is a mess.",
    ],
)
def test_negative_reviews_are_not_refusals(raw):
    assert clean_generated_text(raw) == raw


# --- one parsing home: JSON, entities, tags ------------------------------------------------------


def test_one_json_extractor_serves_labels_and_qa():
    assert find_json('Sure:\n```json\n{"a": [1, {"b": 2}]}\n```', lambda v: "b" in v) == {"b": 2}
    assert find_json("no json [here") is None
    # a label object followed by chatter: not JSON as a whole, but its object is
    assert normalize_label('{"label": "negative"} (confident, not positive)', OPTIONS) == "negative"
    # two objects in one answer: the one with a question and an answer counts
    qa = ExtractiveQA().parse(
        'Here: {"question": "Where does he live?", "answer": "Paris"} {"note": "hope it helps"}',
        {"context": "He lives in Paris."},
    )
    assert qa["answers"] == {"text": ["Paris"], "answer_start": [12]}


def test_public_entity_parser_reads_json_or_lines():
    assert parse_entities("") == ([], [])
    assert parse_entities('```json\n[{"text": "EU", "type": "ORG"}]\n```', ["ORG"]) == (
        [Span("EU", "ORG")],
        [],
    )
    assert parse_entities("EU is ORG entity.\nBonn is LOC.", ["ORG", "LOC"]) == (
        [Span("EU", "ORG"), Span("Bonn", "LOC")],
        [],
    )
    spans, errors = parse_entities("EU is person.", ["ORG"], {"ORG": "organization"})
    assert spans == [] and errors == ["line 'EU is person.' names no known type (allowed: ['organization'])"]
    with pytest.raises(ParseError, match="no JSON list"):
        parse_entities("There are no entities.")


def test_split_tag_is_public_and_rejects_non_tags():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-MISC") == ("I", "MISC")
    assert split_tag("O") == ("O", "")
    with pytest.raises(ConfigError, match="'PER' at position 3 is not a BIO tag") as info:
        split_tag("PER", 3)
    assert "B-PER" in (info.value.hint or "")
