"""Output formats, public face (kept for imports written before ``fabricator.formats``)."""

from .formats import (
    BaseFormat,
    Entities,
    ExtractiveQA,
    FreeText,
    LabelConditioned,
    Labels,
    OutputFormat,
    output_format,
)

__all__ = [
    "BaseFormat",
    "Entities",
    "ExtractiveQA",
    "FreeText",
    "LabelConditioned",
    "Labels",
    "OutputFormat",
    "output_format",
]
