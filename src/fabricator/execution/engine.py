"""The async engine: the only place that talks to models.

A fixed pool of workers (never an unbounded ``gather``) pulls work items; each model call goes
through the journal (answered from it when already done), the rate limiter, the adaptive
concurrency gate (fewer calls at once while the server answers 429/503: ``adaptive.py``), and
bounded retries with exponential backoff and jitter that honour ``Retry-After``. Fatal errors (a
rejected key, a wrong model name, an unreachable server) stop the run at once; a spent budget
stops it cleanly.
A long wait is announced as it starts, and a server asking for more than ``max_retry_wait`` fails
that request (kept as a failure row) instead of stalling the run. Time comes from an injectable
``Clock`` so tests run on virtual time.

Budgets count what the run has spent across resumes: a journaled answer's tokens (and cost) count
once, as they did when it was made, so a killed and resumed run stops where an uninterrupted one
would. An answer the backend repaired as it entered (``Completion.notes``) is counted in
``RunStats``; one without token counts is counted by the plan's estimate (``llms.tokens``), never as 0.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from ..errors import (
    BackendError,
    BackendUnavailable,
    BudgetExceeded,
    ConfigError,
    ConnectionFailed,
    RateLimitError,
)
from ..llms.base import (
    LLM,
    LOGPROBS_INVALID,
    TEXT_REPAIRED,
    USAGE_MISSING,
    Completion,
    Request,
    Usage,
    valid_logprobs,
)
from ..llms.tokens import estimate_tokens
from ..progress import ProgressReporter
from .adaptive import AdaptiveLimit, Outcome, outcome_of
from .clock import SYSTEM_CLOCK, Clock
from .journal import decode_logprobs, encode_logprobs
from .ratelimit import RateLimiter

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("fabricator")

LONG_WAIT = 5.0  # seconds: a retry wait longer than this is announced on the terminal as it starts


class JournalLike(Protocol):
    def get(self, key: str) -> Mapping[str, Any] | None: ...

    def append(self, key: str, record: Mapping[str, Any]) -> None: ...


#: the counters of ``RunStats`` that add up across engines (``cost_usd`` too, where priced)
COUNTERS = (
    "requests",
    "succeeded",
    "cached",
    "cached_tokens",
    "retries",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_tokens",
    "resumed_prompt_tokens",
    "resumed_completion_tokens",
    "repaired_text",
    "invalid_logprobs",
    "estimated_usage",
)

#: what each repair note of an answer is counted as, and what the run says the first time
_NOTES = {
    TEXT_REPAIRED: (
        "repaired_text",
        "an answer held invalid Unicode (a lone surrogate); replaced by U+FFFD",
    ),
    LOGPROBS_INVALID: (
        "invalid_logprobs",
        "an answer's log-probabilities were invalid (NaN, infinite or > 0); treated as absent",
    ),
    USAGE_MISSING: (
        "estimated_usage",
        "the server sent no usable token counts with an answer; counted by the plan's estimate",
    ),
}


@dataclass
class RunStats:
    """What a run did and cost; shown live and in the final summary."""

    requests: int = 0
    succeeded: int = 0
    cached: int = 0
    cached_tokens: int = 0  # what the journaled answers cost when they were first made
    retries: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_cache_tokens: int = 0  # prompt tokens the server served from its prompt cache (where it says)
    #: tokens of the journaled answers this run reused, each answer once: spent on the budget
    resumed_prompt_tokens: int = 0
    resumed_completion_tokens: int = 0
    repaired_text: int = 0  # answers whose invalid Unicode was replaced as they entered
    invalid_logprobs: int = 0  # answers whose log-probabilities were dropped as invalid
    estimated_usage: int = 0  # answers without usable token counts, counted by estimate
    cost_usd: float | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    stopped: str | None = None
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)  # what started/finished read

    @property
    def elapsed(self) -> float:
        return (self.finished if self.finished is not None else self.clock.now()) - self.started

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def resumed_tokens(self) -> int:
        return self.resumed_prompt_tokens + self.resumed_completion_tokens

    def counters(self) -> dict[str, Any]:
        """The additive counters (what another engine's share adds to these: ``add``)."""
        counts: dict[str, Any] = {name: getattr(self, name) for name in COUNTERS}
        counts["cost_usd"] = self.cost_usd or 0.0
        return counts

    def add(self, counts: Mapping[str, Any]) -> None:
        """Add another engine's counters (a Ray actor's block, say) to these."""
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + counts.get(name, 0))
        if self.cost_usd is not None:
            self.cost_usd += counts.get("cost_usd", 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in COUNTERS},
            "cost_usd": self.cost_usd,
            "elapsed_s": round(self.elapsed, 3),
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class Prices:
    """US dollars per million prompt and completion tokens."""

    prompt: float
    completion: float

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.prompt + usage.completion_tokens * self.completion) / 1e6


def estimated_usage(request: Request, completion: Completion) -> Usage:
    """The tokens of an answer the server gave no counts for, by the plan's estimate: the prompt
    as ``fabricator plan`` counts it, the answer by its length (at most ``max_tokens``)."""
    answer = estimate_tokens([{"role": "assistant", "content": completion.text}])
    return Usage(estimate_tokens(request.messages), min(answer, max(1, request.max_tokens)))


class Engine:
    """Runs model calls for many work items concurrently, within limits and budgets."""

    def __init__(
        self,
        llm: LLM,
        *,
        concurrency: int | None = None,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float | None = None,
        rate_limiter: RateLimiter | None = None,
        journal: JournalLike | None = None,
        prices: Prices | None = None,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        progress: ProgressReporter | None = None,
        max_retry_wait: float | None = 60.0,
        clock: Clock | None = None,
        adaptive: bool = True,
    ) -> None:
        if max_retry_wait is not None and not max_retry_wait >= 0:
            raise ConfigError(
                f"max_retry_wait must be a number of seconds >= 0, not {max_retry_wait!r}",
                hint="pass e.g. max_retry_wait=60, or None to wait as long as the server asks",
            )
        self.llm = llm
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.concurrency = max(1, concurrency or getattr(llm, "max_concurrency", 8))
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.max_retry_wait = max_retry_wait
        self.limiter = rate_limiter or RateLimiter(clock=self.clock)
        self.journal = journal
        self.prices = prices
        self.budget_tokens = budget_tokens
        self.budget_usd = budget_usd
        self.progress = progress or ProgressReporter(enabled=False)
        self.stats = RunStats(cost_usd=0.0 if prices else None, started=self.clock.now(), clock=self.clock)
        self._stop: str | None = None
        self._refusals = 0  # requests failed because the server asked for too long a wait
        self._spent_keys: set[str] = set()  # answers whose tokens the budget counts already
        self._said: set[str] = set()  # repair notes already warned about (once per run each)
        #: bounds the calls in flight below ``concurrency`` while the server is overloaded (AIMD)
        self.gate: AdaptiveLimit | None = (
            AdaptiveLimit(self.concurrency, clock=self.clock, on_change=self._level_changed)
            if adaptive
            else None
        )

    # --- one call ---------------------------------------------------------------------------------

    async def call(self, request: Request, key: str) -> Completion:
        """One completion: from the journal if done before, else from the model with retries."""
        cached = self.lookup(key)
        if cached is not None:
            return cached
        if self.timeout and request.timeout is None:
            request = _with_timeout(request, self.timeout)
        attempt = 0
        estimate = estimate_tokens(request.messages) + request.max_tokens  # the same on every attempt
        while True:
            self.check_budget()
            await self.limiter.acquire(estimate)
            try:
                completion = await self._complete(request)
            except BackendError as exc:
                self.limiter.settle(estimate, 0)
                if exc.fatal or not exc.retryable:
                    self.stats.failed_requests += 1
                    raise
                if attempt >= self.max_retries:
                    self.stats.failed_requests += 1
                    if isinstance(exc, ConnectionFailed) and self.stats.succeeded == 0:
                        raise BackendUnavailable(
                            f"no request reached the model: {exc.message}",
                            hint="check that the server is running and base_url is right",
                        ) from exc
                    raise
                cap = self.max_retry_wait
                if exc.retry_after is not None and cap is not None and exc.retry_after > cap:
                    self.stats.failed_requests += 1
                    raise self._wait_refused(exc, exc.retry_after, cap) from exc
                attempt += 1
                self.stats.retries += 1
                delay = self._delay(attempt, exc.retry_after)
                if delay > LONG_WAIT:
                    self._announce_wait(exc, delay, attempt)
                await self.clock.sleep(delay)
                continue
            completion = self.admit(request, completion)
            self.account(completion, estimate)
            self.record(key, completion)
            self._spent_keys.add(key)
            return completion

    def admit(self, request: Request, completion: Completion) -> Completion:
        """Count what the backend repaired in an answer; give one without token counts its estimate."""
        if not completion.notes:
            return completion
        for note in completion.notes:
            counter, warning = _NOTES.get(note, (None, ""))
            if counter is None:
                continue
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            if note not in self._said:  # once per run: the summary has the count
                self._said.add(note)
                log.warning("%s: %s (counted as %s in the run summary)", self.llm.name, warning, counter)
        if USAGE_MISSING in completion.notes:
            completion = replace(completion, usage=estimated_usage(request, completion))
        return completion

    async def _complete(self, request: Request) -> Completion:
        """One model call, inside the adaptive gate (released before any retry wait)."""
        gate = self.gate
        if gate is None:
            self.stats.requests += 1
            return await self.llm.complete(request)
        ticket = await gate.acquire()
        self.stats.requests += 1
        outcome: Outcome = "error"
        try:
            completion = await self.llm.complete(request)
            outcome = "success"
            return completion
        except BackendError as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            gate.release(ticket, outcome)

    def _level_changed(self, level: int, ceiling: int) -> None:
        """The gate moved: say so on the progress bar and in the log."""
        self.progress.concurrency(level, ceiling)
        log.info("%s: %d of %d requests in flight allowed", self.llm.name, level, ceiling)

    # --- the journal and the accounting, for callers that reach a model another way (Ray's vLLM)

    def lookup(self, key: str) -> Completion | None:
        """The journaled answer of ``key`` (counted as cached, with what it cost), or None."""
        record = self.journal.get(key) if self.journal is not None else None
        if record is None:
            return None
        usage = Usage(*record.get("usage", (0, 0)))
        self.stats.cached += 1
        self.stats.cached_tokens += usage.total_tokens
        if key not in self._spent_keys:  # spent by an earlier run: the budget counts it, once
            self._spent_keys.add(key)
            self.stats.resumed_prompt_tokens += usage.prompt_tokens
            self.stats.resumed_completion_tokens += usage.completion_tokens
        logprobs = decode_logprobs(record.get("logprobs"))
        checked = None if logprobs is None else valid_logprobs(logprobs)  # as a backend checks them
        if logprobs is not None and checked is None:  # journaled by an older version
            self.stats.invalid_logprobs += 1
        return Completion(
            record["text"], record.get("finish_reason", "stop"), usage, record.get("model", ""), checked
        )

    def record(self, key: str, completion: Completion) -> None:
        """Journal ``completion`` under ``key`` (nothing without a journal)."""
        if self.journal is not None:
            self.journal.append(
                key,
                {
                    "text": completion.text,
                    "finish_reason": completion.finish_reason,
                    "usage": [completion.usage.prompt_tokens, completion.usage.completion_tokens],
                    "model": completion.model,
                    **(
                        {"logprobs": encode_logprobs(completion.logprobs)}
                        if completion.logprobs is not None
                        else {}
                    ),
                },
            )

    def account(self, completion: Completion, estimate: int | None = None) -> None:
        """Count a model's answer: tokens, cost, progress; settles the rate limiter's ``estimate``."""
        s = self.stats
        s.succeeded += 1
        s.prompt_tokens += completion.usage.prompt_tokens
        s.completion_tokens += completion.usage.completion_tokens
        s.prompt_cache_tokens += completion.usage.cached_tokens
        if estimate is not None:
            self.limiter.settle(estimate, completion.usage.total_tokens)
        if self.prices is not None:
            s.cost_usd = (s.cost_usd or 0.0) + self.prices.cost(completion.usage)
        self.progress.usage(s.total_tokens, s.cost_usd)

    def spent(self) -> tuple[int, float]:
        """Tokens and dollars the budgets count: this run's answers and the journaled answers it
        reused (each once, as when they were made), so a resumed run counts what the first paid."""
        s = self.stats
        tokens = s.total_tokens + s.resumed_tokens
        usd = s.cost_usd or 0.0
        if self.prices is not None and s.resumed_tokens:
            usd += self.prices.cost(Usage(s.resumed_prompt_tokens, s.resumed_completion_tokens))
        return tokens, usd

    def budget_left(self) -> tuple[int | None, float | None]:
        """Tokens and dollars the budgets still allow (``None``: that budget is not set)."""
        tokens_spent, usd_spent = self.spent()
        tokens = None if self.budget_tokens is None else max(0, self.budget_tokens - tokens_spent)
        usd = None if self.budget_usd is None else max(0.0, self.budget_usd - usd_spent)
        return tokens, usd

    def check_budget(self) -> None:
        """Raise ``BudgetExceeded`` (and mark the run stopped) once a budget is spent."""
        if self._stop:
            raise BudgetExceeded(self._stop)
        s = self.stats
        tokens, usd = self.spent()
        earlier = f", {s.resumed_tokens} of them by earlier runs" if s.resumed_tokens else ""
        if self.budget_tokens is not None and tokens >= self.budget_tokens:
            self._stop = f"token budget of {self.budget_tokens} spent ({tokens} used{earlier})"
        elif self.budget_usd is not None and usd >= self.budget_usd:
            self._stop = f"budget of ${self.budget_usd:.2f} spent (${usd:.4f} used{earlier and ' in all'})"
        if self._stop:
            s.stopped = "budget"
            raise BudgetExceeded(self._stop)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = backoff * (0.5 + random.random())  # jitter keeps retries from synchronising
        if self.max_retry_wait is not None:  # our own backoff never outwaits the cap
            delay = min(delay, self.max_retry_wait)
        return max(delay, retry_after) if retry_after is not None else delay

    def _what(self, exc: BackendError) -> str:
        if isinstance(exc, RateLimitError):
            return f"rate limited by {self.llm.name}"
        return f"{type(exc).__name__} from {self.llm.name}"

    def _announce_wait(self, exc: BackendError, delay: float, attempt: int) -> None:
        """Say on the terminal why the run seems to stand still, as the wait starts."""
        why = "Retry-After" if exc.retry_after is not None and delay <= exc.retry_after else "backoff"
        log.warning(
            "%s: waiting %.0f s (%s) before retry %d of %d",
            self._what(exc),
            delay,
            why,
            attempt,
            self.max_retries,
        )

    def _wait_refused(self, exc: BackendError, wanted: float, cap: float) -> BackendError:
        """The server asked for a longer wait than the user allows: fail this request, not the run."""
        error = type(exc)(
            f"{self._what(exc)}: the server asked to wait {wanted:.0f} s (Retry-After), more than "
            f"max_retry_wait={cap:g} s; raise max_retry_wait or lower the request rate",
            status=exc.status,
            retry_after=wanted,
        )
        error.retryable = False  # not again in this run: the same wait would be asked for
        self._refusals += 1
        if self._refusals == 1:  # once per run: every other request would say the same
            log.warning("%s; failing such requests instead of waiting", error.message)
        return error

    # --- many items --------------------------------------------------------------------------

    async def map(
        self,
        items: Sequence[T],
        handler: Callable[[T], Awaitable[R]],
        on_result: Callable[[T, R], None],
    ) -> None:
        """Run ``handler`` on every item with ``self.concurrency`` workers.

        ``on_result`` receives each result as soon as it is ready, so nothing done is lost if the
        run is interrupted. A fatal error cancels the other workers and is raised; a spent budget
        lets in-flight items finish and ends the run cleanly.
        """
        queue = iter(items)
        fatal: list[BaseException] = []

        async def worker() -> None:
            for item in queue:
                if fatal or self._stop:
                    return
                try:
                    result = await handler(item)
                except BudgetExceeded:
                    return
                except BaseException as exc:  # fatal: stop everyone, raise once
                    fatal.append(exc)
                    raise
                on_result(item, result)
                self.progress.advance()

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(items)) or 1)]
        try:
            done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:  # mark every outcome as seen
                task.cancelled() or task.exception()
            if fatal:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise fatal[0]
        except asyncio.CancelledError:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            self.stats.finished = self.clock.now()


def _with_timeout(request: Request, timeout: float) -> Request:
    return replace(request, timeout=timeout)
