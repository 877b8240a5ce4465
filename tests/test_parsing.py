import pytest

from fabricator.errors import ParseError, RefusalError
from fabricator.parsing import clean_generated_text, complete_sentences, normalize_label

OPTIONS = ["positive", "negative"]


@pytest.mark.parametrize("raw, expected", [
    ("Positive.", "positive"), ("NEGATIVE", "negative"), ("label: positive", "positive"),
    ('{"label": "negative"}', "negative"), ("pos", "positive"), ("I think it is negative", "negative"),
    ("'positive'", "positive"),
])
def test_label_variants_map_to_the_options(raw, expected):
    assert normalize_label(raw, OPTIONS) == expected


def test_unclear_labels_are_errors_and_synonyms_help():
    for raw in ["neutral", "positive or negative", ""]:
        with pytest.raises(ParseError):
            normalize_label(raw, OPTIONS)
    assert normalize_label("thumbs up", OPTIONS, synonyms={"thumbs up": "positive"}) == "positive"


@pytest.mark.parametrize("raw, expected", [
    ("Sure! Here is a negative review:\n\"Dull and slow.\"", "Dull and slow."),
    ("Here's a review: A fine, warm film.", "A fine, warm film."),
    ("text: Great cast. Superb score.", "Great cast. Superb score."),
    ("Great cast, weak plot.\ntext: another example", "Great cast, weak plot."),
    ("A sharp comedy.\n\nNote: this review is fictional.", "A sharp comedy."),
    ("OK movie, nothing special.", "OK movie, nothing special."),
])
def test_chatter_and_scaffolding_are_removed(raw, expected):
    assert clean_generated_text(raw, prefix="text:", stop_columns=["text", "label"]) == expected


@pytest.mark.parametrize("raw", [
    "As an AI language model, I cannot write reviews.",
    "I'm sorry, but I can't help with that.",
    "Sure! Here is a review:",
])
def test_refusals_and_empty_chatter_are_refusals(raw):
    with pytest.raises(RefusalError):
        clean_generated_text(raw, prefix="text:")


def test_complete_sentences():
    assert complete_sentences('He said "wow!" and left. Then') == 'He said "wow!" and left.'
    with pytest.raises(ParseError):
        complete_sentences("An endless, aimless")
