"""The one protocol every model backend implements, and the plain data it exchanges.

Backends are async at the core: the engine runs many ``complete`` calls at once, bounded by the
backend's ``max_concurrency``. A backend maps its own failures onto ``fabricator.errors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Request:
    """One chat completion request.

    ``messages`` are OpenAI-style dicts. A trailing ``assistant`` message is a *prefill*: backends
    that support it continue that text; others drop it (see ``LLM.supports_prefill``).
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


@runtime_checkable
class LLM(Protocol):
    """A model backend. ``name`` identifies the model in cache keys and provenance."""

    name: str
    max_concurrency: int
    supports_prefill: bool

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...
