"""Model backends behind one protocol (``LLM``): fake, OpenAI-compatible HTTP, embedded llama.cpp.

Imports are lazy so that ``import fabricator.llms`` stays cheap and optional backends only load
when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import LLM, Completion, Request, TokenChoice, Usage
from .ensemble import Ensemble
from .fake import Fake

if TYPE_CHECKING:  # pragma: no cover
    from .embedded import LlamaCpp
    from .openai import OpenAICompatible

__all__ = [
    "LLM",
    "Completion",
    "Ensemble",
    "Fake",
    "LlamaCpp",
    "OpenAICompatible",
    "Request",
    "TokenChoice",
    "Usage",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatible":
        from .openai import OpenAICompatible

        return OpenAICompatible
    if name == "LlamaCpp":
        from .embedded import LlamaCpp

        return LlamaCpp
    raise AttributeError(name)
