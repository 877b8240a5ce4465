import asyncio
import time

from fabricator import BasePrompt, DatasetGenerator
from fabricator.llms import Fake
from fabricator.ratelimit import RateLimiter


def test_requests_per_minute_paces_the_calls():
    async def go():
        limiter = RateLimiter(requests_per_minute=600)  # 10 per second, bursting 10
        started = time.monotonic()
        for _ in range(25):
            await limiter.acquire(1)
        return time.monotonic() - started

    elapsed = asyncio.run(go())
    assert 1.3 <= elapsed <= 3.0  # 10 at once, then 15 more at 10/s


def test_tokens_per_minute_limit_is_settled_with_the_true_usage():
    async def go():
        limiter = RateLimiter(tokens_per_minute=6000)  # 100 tokens per second
        started = time.monotonic()
        for _ in range(5):
            await limiter.acquire(100)   # estimated
            limiter.settle(100, 10)      # the answer used only 10
        return time.monotonic() - started

    assert asyncio.run(go()) < 0.5


def test_generate_respects_a_rate_limit_and_counts_tokens_and_cost():
    g = DatasetGenerator(Fake(lambda p: f"words {len(p)} here", max_concurrency=8))
    started = time.monotonic()
    g.generate(BasePrompt("Write."), max_prompt_calls=6, num_samples_to_generate=6,
               requests_per_minute=120, prices=(1.0, 2.0), dedup=False)
    elapsed = time.monotonic() - started
    stats = g.last_run.stats
    assert elapsed >= 2.0  # burst of 2, then 4 more at 2 per second
    assert stats.completion_tokens == 6 * 3 and stats.prompt_tokens > 0
    assert abs(stats.cost_usd - (stats.prompt_tokens * 1.0 + stats.completion_tokens * 2.0) / 1e6) < 1e-12
