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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import BackendError, BackendUnavailable, BudgetExceeded, ConnectionFailed, RateLimitError
from ..llms.base import LLM, USAGE_MISSING, Completion, Request, Usage, valid_logprobs
from ..llms.tokens import estimate_tokens
from ..progress import ProgressReporter
from .adaptive import AdaptiveLimit, Outcome, outcome_of
from .clock import SYSTEM_CLOCK, Clock
from .journal_records import decode_logprobs, encode_logprobs
from .ratelimit import RateLimiter
from .settings import EngineSettings
from .stats import REPAIR_NOTES, Prices, RunStats, estimated_usage

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .settings import EngineOptions

__all__ = ["Engine", "EngineSettings", "JournalLike", "Prices", "RunStats"]

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("fabricator")

LONG_WAIT = 5.0  # seconds: a retry wait longer than this is announced on the terminal as it starts


class JournalLike(Protocol):
    def get(self, key: str) -> Mapping[str, Any] | None: ...

    def append(self, key: str, record: Mapping[str, Any]) -> None: ...


class Engine:
    """Runs model calls for many work items concurrently, within limits and budgets."""

    def __init__(
        self,
        llm: LLM,
        settings: EngineSettings | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        journal: JournalLike | None = None,
        progress: ProgressReporter | None = None,
        clock: Clock | None = None,
        **options: Unpack[EngineOptions],
    ) -> None:
        """``settings`` holds the limits; keyword ``options`` override its fields one by one."""
        self.settings = replace(settings or EngineSettings(), **options)
        self.llm = llm
        self.clock = clock if clock is not None else SYSTEM_CLOCK
        self.concurrency = max(1, self.settings.concurrency or llm.max_concurrency)
        self.limiter = rate_limiter or RateLimiter(clock=self.clock)
        self.journal = journal
        self.prices = self.settings.prices
        self.progress = progress or ProgressReporter(enabled=False)
        cost = 0.0 if self.prices else None
        self.stats = RunStats(cost_usd=cost, started=self.clock.now(), clock=self.clock)
        self._stop: str | None = None
        self._refusals = 0  # requests failed because the server asked for too long a wait
        self._spent_keys: set[str] = set()  # answers whose tokens the budget counts already
        self._said: set[str] = set()  # repair notes already warned about (once per run each)
        #: bounds the calls in flight below ``concurrency`` while the server is overloaded (AIMD)
        self.gate: AdaptiveLimit | None = (
            AdaptiveLimit(self.concurrency, clock=self.clock, on_change=self._level_changed)
            if self.settings.adaptive
            else None
        )

    # --- one call ---------------------------------------------------------------------------------

    async def call(self, request: Request, key: str) -> Completion:
        """One completion: from the journal if done before, else from the model with retries."""
        cached = self.lookup(key)
        if cached is not None:
            return cached
        timeout = self.settings.timeout
        if timeout and request.timeout is None:
            request = replace(request, timeout=timeout)
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
                if attempt >= self.settings.max_retries:
                    self.stats.failed_requests += 1
                    if isinstance(exc, ConnectionFailed) and self.stats.succeeded == 0:
                        raise BackendUnavailable(
                            f"no request reached the model: {exc.message}",
                            hint="check that the server is running and base_url is right",
                        ) from exc
                    raise
                cap = self.settings.max_retry_wait
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
            counter, warning = REPAIR_NOTES.get(note, (None, ""))
            if counter is None:
                continue
            self.stats.count(counter)
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
        budget_tokens, budget_usd = self.settings.budget_tokens, self.settings.budget_usd
        tokens = None if budget_tokens is None else max(0, budget_tokens - tokens_spent)
        usd = None if budget_usd is None else max(0.0, budget_usd - usd_spent)
        return tokens, usd

    def check_budget(self) -> None:
        """Raise ``BudgetExceeded`` (and mark the run stopped) once a budget is spent."""
        if self._stop:
            raise BudgetExceeded(self._stop)
        s = self.stats
        tokens, usd = self.spent()
        earlier = f", {s.resumed_tokens} of them by earlier runs" if s.resumed_tokens else ""
        budget_tokens, budget_usd = self.settings.budget_tokens, self.settings.budget_usd
        if budget_tokens is not None and tokens >= budget_tokens:
            self._stop = f"token budget of {budget_tokens} spent ({tokens} used{earlier})"
        elif budget_usd is not None and usd >= budget_usd:
            self._stop = f"budget of ${budget_usd:.2f} spent (${usd:.4f} used{earlier and ' in all'})"
        if self._stop:
            s.stopped = "budget"
            raise BudgetExceeded(self._stop)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        limits = self.settings
        backoff = min(limits.backoff_max, limits.backoff_base * 2 ** (attempt - 1))
        delay = backoff * (0.5 + random.random())  # jitter keeps retries from synchronising
        if limits.max_retry_wait is not None:  # our own backoff never outwaits the cap
            delay = min(delay, limits.max_retry_wait)
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
            self.settings.max_retries,
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
