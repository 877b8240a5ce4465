"""Model answers -> typed values, or a row error: the one home of answer parsing.

Generation (``rows``, ``formats``) and evaluation (``evaluation.metrics``) parse with
the same functions, so an answer reads the same everywhere:

* ``text``: free-text answers (chatter, refusals, run-ons, cut-off sentences)
* ``labels``: a label answer -> exactly one option
* ``json_extract``: the one JSON extractor (fences, chatter around it, ``json`` only)
* ``tags``: ``Span`` and the tag schemes (BIO/BIOES chunking as seqeval does it)
* ``entities``: entity answers -> spans (a JSON list or ``"<text> is <type>."`` lines)
"""

from fabricator.parsing.entities import (
    EntityTypes,
    parse_entities,
    parse_entity_json,
    parse_span_string,
    spans_to_string,
)
from fabricator.parsing.json_extract import find_json, json_values
from fabricator.parsing.labels import normalize_label
from fabricator.parsing.tags import (
    Span,
    bio_to_bioes,
    bio_to_spans,
    split_tag,
    tags_to_chunks,
    token_offsets,
)
from fabricator.parsing.text import clean_generated_text, complete_sentences, is_refusal, normalize_text

__all__ = [
    "EntityTypes",
    "Span",
    "bio_to_bioes",
    "bio_to_spans",
    "clean_generated_text",
    "complete_sentences",
    "find_json",
    "is_refusal",
    "json_values",
    "normalize_label",
    "normalize_text",
    "parse_entities",
    "parse_entity_json",
    "parse_span_string",
    "spans_to_string",
    "split_tag",
    "tags_to_chunks",
    "token_offsets",
]
