"""A prompt longer than the model's context fails every row at call time: say so before any call.

A backend that knows its context per request (``context_tokens``: the embedded model's share of
``n_ctx`` a slot) gets the first planned prompt measured, by the usual estimate of characters a
token; one well over the context is a ``ConfigError`` naming what to change (typically a large
few-shot pool with no count of examples, which puts the whole pool into every prompt).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..llms.tokens import estimate_tokens
from .prepare import RunPlan

#: the estimate may be this far off before a prompt is refused (the server refuses the rest)
MARGIN = 1.25


def check_context(planned: RunPlan, llm: Any) -> None:
    """``ConfigError`` when the run's first prompt is well over ``llm``'s context a request."""
    context = getattr(llm, "context_tokens", None)
    if not isinstance(context, int) or context <= 0:
        return
    first = planned.planner().items(0, 1)
    if not first:
        return
    tokens = estimate_tokens(first[0].messages)
    if tokens > MARGIN * context:
        examples = len(first[0].fewshot_ids)
        raise ConfigError(
            f"the first prompt has about {tokens:,} tokens ({examples} few-shot examples), more than "
            f"the model's context of {context:,} tokens a request: every call would fail",
            hint="show fewer examples (fewshot_examples_per_class, or a sampling strategy with a count), "
            "or give the model more context (the embedded model's n_ctx is shared by its slots)",
        )


__all__ = ["MARGIN", "check_context"]
