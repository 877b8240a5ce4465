"""The one tokenizer-free token estimate: what ``fabricator plan`` counts, what the engine reserves
against rate limits, and what an answer without usage figures is counted as."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: characters per token, and tokens a chat message adds around its text
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4

Conversation = Sequence[Mapping[str, str]]


def estimate_tokens(messages: Conversation) -> int:
    """A chat prompt's tokens, estimated: ~4 characters a token, plus each message's framing."""
    return sum(
        math.ceil(len(m.get("content") or "") / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages
    )
