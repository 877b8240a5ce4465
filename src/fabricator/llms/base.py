"""The one protocol every model backend implements, and the plain data it exchanges.

Backends are async at the core: the engine runs many ``complete`` calls at once, bounded by the
backend's ``max_concurrency``. A backend maps its own failures onto ``fabricator.errors``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

#: ``Completion.notes``: what the backend repaired in an answer as it entered (the engine counts
#: them in ``RunStats``): invalid Unicode replaced, log-probabilities dropped, usage not given
TEXT_REPAIRED = "text_repaired"
LOGPROBS_INVALID = "logprobs_invalid"
USAGE_MISSING = "usage_missing"

#: a surrogate code point: after JSON decoding, a valid pair is one character, so any left is lone
_SURROGATE = re.compile("[\ud800-\udfff]")
#: a log-probability above 0 by no more than this is float noise (taken as 0); beyond it, invalid
_LOGPROB_SLACK = 1e-4
#: how far above 1 the probabilities of one position's top tokens may add up (rounding of the server)
_MASS_SLACK = 0.01
_Self = TypeVar("_Self", bound="AsyncClosing")


@dataclass(frozen=True)
class Request:
    """One chat completion request.

    ``messages`` are OpenAI-style dicts. A trailing ``assistant`` message is a *prefill*: backends
    that support it continue that text; others drop it (see ``Capabilities.prefill``).
    ``json_schema`` asks for structured output constrained to that schema where the backend can.
    """

    messages: tuple[dict[str, str], ...]
    temperature: float = 0.8
    max_tokens: int = 256
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    timeout: float | None = None
    #: ask for the ``logprobs`` most likely tokens at each answer position (``None``: none)
    logprobs: int | None = None
    #: a routing hint, not part of the answer: requests with the same ``slot`` share a prompt
    #: prefix, so a server with slots (llama.cpp) serves them on one slot, from its prompt cache
    slot: int | None = None

    def params(self) -> dict[str, Any]:
        """Generation parameters that change the answer (they are part of the cache key)."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
            "json_schema": self.json_schema,
            **({"logprobs": self.logprobs} if self.logprobs is not None else {}),
        }


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: prompt tokens the server took from its prompt cache (where it says so)
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TokenChoice:
    """One answer position: the token the model wrote and the most likely tokens there.

    ``top`` holds ``(token text, log-probability)`` pairs, most likely first, as the backend
    returned them (the written token among them when it is likely enough).
    """

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    #: per answer position, when the request asked for ``logprobs`` and the backend gives them
    logprobs: tuple[TokenChoice, ...] | None = None
    #: what was repaired as the answer entered (``TEXT_REPAIRED``, ``LOGPROBS_INVALID``,
    #: ``USAGE_MISSING``); counted by the engine, never part of the answer itself
    notes: tuple[str, ...] = ()


def clean_text(text: str) -> tuple[str, bool]:
    """``text`` with lone surrogates replaced by U+FFFD, and whether any were.

    A gateway that cuts an emoji in half sends ``\\ud83d`` alone; such a string cannot be encoded
    as UTF-8, so it would crash whatever writes it (the journal, the dataset) and every rerun.
    """
    if _SURROGATE.search(text) is None:
        return text, False
    return _SURROGATE.sub("\ufffd", text), True


def _logprob(value: Any) -> float | None:
    """A log-probability as a float, or ``None`` when it is not one (NaN, inf, > 0, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if not math.isfinite(number) or number > _LOGPROB_SLACK:
        return None
    return min(number, 0.0)


def valid_logprobs(choices: Sequence[TokenChoice]) -> tuple[TokenChoice, ...] | None:
    """``choices`` with every log-probability checked (finite and <= 0, and the top tokens of each
    position a distribution: their probabilities add up to at most 1), or ``None`` if any is not.

    One bad value makes the whole set untrustworthy (a buggy fp16 server sends NaN everywhere):
    the caller treats it as absent, so the scorer falls back instead of scoring garbage.
    """
    checked = []
    for choice in choices:
        lp = _logprob(choice.logprob)
        top = [(t, _logprob(v)) for t, v in choice.top]
        values = [v for _, v in top if v is not None]
        if lp is None or len(values) < len(top) or sum(map(math.exp, values)) > 1.0 + _MASS_SLACK:
            return None
        checked.append(TokenChoice(choice.token, lp, tuple((t, v) for t, v in top if v is not None)))
    return tuple(checked)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond ``complete``, declared once by the backend (never probed).

    ``logprobs``: answers carry token log-probabilities when asked (label scoring reads them).
    ``json_schema``: ``Request.json_schema`` constrains the answer. ``token_counting``: it has
    ``count_tokens`` (its own tokenizer, for plans). ``batch``: it runs a whole round of prompts at
    once (vLLM on Ray). ``prefill``: a trailing assistant message is continued. ``preflight``: it has
    ``preflight()``, a cheap check that it can answer at all, run before the first call.
    ``batch_api``: it has ``batches()``, the provider's batch API (files + batches, half price:
    ``engine="batch"``, ``fabricator.llms.batch_api``).
    """

    logprobs: bool = False
    json_schema: bool = False
    token_counting: bool = False
    batch: bool = False
    prefill: bool = False
    preflight: bool = False
    #: not compared: a backend's capabilities equal those it had before batch APIs were declared
    batch_api: bool = False


@runtime_checkable
class LLM(Protocol):
    """A model backend. ``name`` identifies the model in cache keys and provenance."""

    name: str
    max_concurrency: int

    @property
    def capabilities(self) -> Capabilities: ...

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...


class Preflighting(Protocol):
    """A backend that declares ``Capabilities.preflight``."""

    async def preflight(self) -> None: ...


class TokenCounting(Protocol):
    """A backend that declares ``Capabilities.token_counting``."""

    def count_tokens(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int]: ...


class AsyncClosing:
    """``async with backend as llm: ...`` closes the backend on the way out (its ``aclose``)."""

    async def aclose(self) -> None:
        return None

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
