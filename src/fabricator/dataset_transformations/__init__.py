"""Convert datasets between the shapes training code uses and the shapes an LLM reads and writes.

* text classification: ``ClassLabel`` ids <-> label text
* token classification: BIO tags <-> entity spans (``"EU is ORG."`` and structured offsets)
* question answering: SQuAD ``answers`` <-> flat ``answer`` / ``answer_start``
"""

from fabricator.dataset_transformations.question_answering import (
    align_answer,
    locate_answer,
    postprocess_squad_format,
    preprocess_squad_format,
)
from fabricator.dataset_transformations.text_classification import (
    convert_label_ids_to_texts,
    convert_texts_to_label_ids,
)
from fabricator.dataset_transformations.token_classification import (
    Span,
    bio_to_spans,
    convert_spans_to_token_labels,
    convert_token_labels_to_spans,
    parse_entity_json,
    parse_span_string,
    spans_to_bio,
    spans_to_string,
    tags_to_chunks,
    token_offsets,
)

__all__ = [
    "Span",
    "align_answer",
    "bio_to_spans",
    "convert_label_ids_to_texts",
    "convert_spans_to_token_labels",
    "convert_texts_to_label_ids",
    "convert_token_labels_to_spans",
    "locate_answer",
    "parse_entity_json",
    "parse_span_string",
    "postprocess_squad_format",
    "preprocess_squad_format",
    "spans_to_bio",
    "spans_to_string",
    "tags_to_chunks",
    "token_offsets",
]
