"""``Fake``: a deterministic backend for tests, dry runs and demos.

Responses are a string, a list (cycled) or a callable of the prompt text. ``failures`` scripts
errors by call number (0-based), e.g. ``{0: RateLimitError("slow down")}`` or ``{3: "timeout"}``.

Asked for log-probabilities, the fake is certain of every word it writes (log-probability 0), unless
``token_probs`` (a callable of the request: its prompt, and its prefill when a label branch is
scored) gives the probabilities of the likely tokens: one
``{token: probability}`` mapping for the first answer position, or a list of them, one per position.
``logprobs=False`` makes a backend that never returns them (like many hosted models).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence

from ..errors import (
    AuthenticationError,
    BackendError,
    ConnectionFailed,
    RateLimitError,
    RequestTimeout,
    ServerError,
)
from .base import AsyncClosing, Capabilities, Completion, Request, TokenChoice, Usage

_NAMED_FAILURES: dict[str, Callable[[], BackendError]] = {
    "429": lambda: RateLimitError("rate limited (scripted)", status=429, retry_after=0.0),
    "500": lambda: ServerError("server error (scripted)", status=500),
    "timeout": lambda: RequestTimeout("timed out (scripted)"),
    "reset": lambda: ConnectionFailed("connection reset (scripted)"),
    "401": lambda: AuthenticationError("invalid API key (scripted)", status=401),
}

Responder = str | Sequence[str] | Callable[[str], str]
TokenProbs = Callable[[Request], Mapping[str, float] | Sequence[Mapping[str, float]]]


def prompt_of(request: Request) -> str:
    """The user text of a request: the prompt in the paper's layout."""
    return "\n".join(m["content"] for m in request.messages if m["role"] == "user")


class Fake(AsyncClosing):
    """Canned or computed answers, scripted failures, optional latency; counts its calls."""

    supports_prefill = True

    def __init__(
        self,
        responses: Responder = "This is a fake response.",
        *,
        failures: Mapping[int, BackendError | str] | None = None,
        latency: float = 0.0,
        max_concurrency: int = 8,
        name: str = "fake",
        logprobs: bool = True,
        token_probs: TokenProbs | None = None,
    ) -> None:
        self.name = name
        self.logprobs = logprobs
        self.token_probs = token_probs
        self.max_concurrency = max_concurrency
        self.latency = latency
        self.failures = dict(failures or {})
        self._responses = responses
        self._cycle = itertools.cycle(responses) if isinstance(responses, (list, tuple)) else None
        self.calls = 0
        self.requests: list[Request] = []

    @property
    def capabilities(self) -> Capabilities:
        """Prefill; log-probabilities unless ``logprobs=False``; token counting where a subclass
        brings a tokenizer (overrides ``count_tokens``)."""
        counts = type(self).count_tokens is not Fake.count_tokens
        return Capabilities(logprobs=self.logprobs, token_counting=counts, prefill=True)

    def count_tokens(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int]:
        """None here (plans estimate); a test's subclass may count with a tokenizer of its own."""
        raise NotImplementedError("the fake backend has no tokenizer")

    def _failure(self, n: int) -> BackendError | None:
        failure = self.failures.get(n)
        if isinstance(failure, str):
            return _NAMED_FAILURES[failure]()
        return failure

    async def complete(self, request: Request) -> Completion:
        n = self.calls
        self.calls += 1
        self.requests.append(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        failure = self._failure(n)
        if failure is not None:
            raise failure
        prompt = prompt_of(request)
        if callable(self._responses):
            text = self._responses(prompt)
        elif self._cycle is not None:
            text = next(self._cycle)
        else:
            text = str(self._responses)
        usage = Usage(prompt_tokens=len(prompt.split()), completion_tokens=len(str(text).split()))
        logprobs = self._logprobs(request, str(text)) if request.logprobs and self.logprobs else None
        return Completion(text=str(text), usage=usage, model=self.name, logprobs=logprobs)

    def _logprobs(self, request: Request, text: str) -> tuple[TokenChoice, ...]:
        if self.token_probs is None:  # certain of each word of its answer
            return tuple(TokenChoice(w, 0.0, ((w, 0.0),)) for w in re.findall(r"\s*\S+", text))
        given = self.token_probs(request)
        positions = [given] if isinstance(given, Mapping) else list(given)
        choices = []
        for probs in positions:
            top = sorted(((t, math.log(p)) for t, p in probs.items() if p > 0), key=lambda x: -x[1])
            choices.append(TokenChoice(top[0][0], top[0][1], tuple(top)))
        return tuple(choices)

    def __getstate__(self) -> dict:
        """Pickle (e.g. to a Ray actor) without the calls seen so far; a copy counts its own."""
        state = dict(self.__dict__)
        state.update(_cycle=None, calls=0, requests=[])
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if isinstance(self._responses, (list, tuple)):
            self._cycle = itertools.cycle(self._responses)
