"""The generation layout a server with slots and a prompt cache gets by default (issue 29).

On llama.cpp a generated row costs the prompt tokens its slot has not cached plus the answer
tokens. With a new few-shot draw for every row, each prompt's examples are computed again. So,
where the user chose neither option, a block of ``BLOCK_ROWS`` rows shares one draw (one prompt
text), one block per server slot, dealt round robin and pinned to its slot (``WorkItem.slot``):
the block's later rows are served from that slot's cache.
"""

from __future__ import annotations

from typing import Any

from ..options import GenerationOptions

#: rows that share one few-shot draw (and so one prompt) when the layout is chosen for the user
BLOCK_ROWS = 4
#: options that, when the user set either, leave the layout to the user
LAYOUT_OPTIONS = ("fewshot_reuse", "fewshot_blocks")


def server_slots(llm: Any) -> int:
    """The slots of a backend that serves requests from per-slot prompt caches (llama.cpp's
    ``n_parallel``); 0 for backends without (their cache, if any, is not per slot)."""
    slots = getattr(llm, "n_parallel", 0)
    return slots if isinstance(slots, int) and slots > 1 else 0


def cache_layout(
    options: GenerationOptions, llm: Any, *, generates: bool, strategy: str | None
) -> GenerationOptions:
    """``options`` with blocks of shared draws, one per slot of ``llm``, for a generation that
    draws its examples from a pool, unless the user set the layout; else ``options`` as they are."""
    slots = server_slots(llm)
    explicit = options.explicit()
    if (
        not generates
        or strategy in (None, "similar")
        or not slots
        or any(k in explicit for k in LAYOUT_OPTIONS)
    ):
        return options
    if options.sampling.rows_per_call > 1:  # one call writes a group: its own layout
        return options
    layout = {"fewshot_reuse": BLOCK_ROWS, "fewshot_blocks": slots}
    return options.model_copy(update={"sampling": options.sampling.model_copy(update=layout)})


__all__ = ["BLOCK_ROWS", "LAYOUT_OPTIONS", "cache_layout", "server_slots"]
