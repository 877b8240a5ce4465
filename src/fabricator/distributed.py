"""``engine="ray"``: the same generation on a Ray cluster (a laptop's local one, or many nodes).

The planned work items become a Ray Dataset cut into a few blocks per actor, and ``map_batches``
hands the blocks to a fixed pool of actors (``ActorPoolStrategy(size=actors)``). Each actor runs
*our* async engine on its block: ``max_concurrency`` requests in flight, its share of the rate
limits, retries with backoff, its own journal shard, and the same ``RowMaker`` as a local run, so
rows are identical. Blocks come back as pickled results (rows or failures, the prompts and answers
for ``log_path``, and the stats of the block), which the driver merges as they arrive; the
generator builds the ``datasets.Dataset`` exactly as for the local engine.

Why not Ray Data's built-in HTTP request processor: it sends one request at a time per worker
(18-56 requests/s measured here, where one async engine did 700).

Limits across the cluster: ``requests_per_minute``/``tokens_per_minute`` and the budgets are
split evenly among the actors (an idle actor's share is not lent to the others). Journal: each
actor appends to ``journal-actor-<i>.jsonl`` in the journal folder, and reads every shard there
when it starts, so a resumed run skips work done by any actor. On several nodes the journal
folder must be on a filesystem they all share (NFS, a mounted bucket) for resume to see it all.

GPU clusters: ``RayVLLM`` (extra ``ray-vllm``) runs a model with Ray Data's vLLM engine processor
(``ray.data.llm``, Ray >= 2.53) instead of calling an HTTP endpoint; see docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Engine, Prices, RunStats
from .errors import BudgetExceeded, ConfigError, ParseError
from .journal import Journal, content_key
from .llms.base import Completion, Request, Usage
from .ratelimit import RateLimiter
from .rows import Failure, RowMaker, WorkItem

log = logging.getLogger("fabricator")

RAY_INSTALL = "pip install 'fabricator-data[ray]'"
VLLM_INSTALL = "pip install 'fabricator-data[ray-vllm]'"
#: blocks per actor: enough to balance actors that start at different times, few enough that
#: each block keeps an actor's ``max_concurrency`` requests in flight for most of its run
BLOCKS_PER_ACTOR = 4
_STAT_FIELDS = ("requests", "succeeded", "cached", "cached_tokens", "retries", "failed_requests",
                "prompt_tokens", "completion_tokens")


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or a ``ConfigError`` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"engine='ray' needs Ray Data, which is not installed: {RAY_INSTALL}",
                          hint=f"{RAY_INSTALL} (Ray >= 2.40), or use engine='local'") from exc
    return ray


# --- what travels to the actors and back ------------------------------------------------------


@dataclass(frozen=True)
class ActorSettings:
    """One actor's engine: the driver's settings, with its share of the cluster-wide limits."""

    concurrency: int
    max_retries: int
    timeout: float | None
    requests_per_minute: float | None
    tokens_per_minute: float | None
    prices: Prices | None
    budget_tokens: int | None
    budget_usd: float | None
    journal_dir: str | None
    collect_calls: bool


@dataclass
class BlockResult:
    """What an actor sends back for one block."""

    results: list[tuple[int, Any]] = field(default_factory=list)  # (item index, row | Failure)
    calls: list[tuple[int, Request, str]] = field(default_factory=list)  # for the call log
    stats: dict[str, Any] = field(default_factory=dict)  # this block's share of the counters
    stopped: str | None = None
    error: BaseException | None = None  # a fatal error: the driver raises it
    actor: str = ""
    started: float = 0.0  # wall-clock time the block began and ended in the actor
    finished: float = 0.0


def _snapshot(stats: RunStats) -> dict[str, Any]:
    snap: dict[str, Any] = {f: getattr(stats, f) for f in _STAT_FIELDS}
    snap["cost_usd"] = stats.cost_usd or 0.0
    return snap


def split_limit(value: float | None, actors: int) -> float | None:
    """An even share of a cluster-wide limit (``None``: unlimited)."""
    return None if value is None else value / actors


class _ShardJournal(Journal):
    """An actor's journal: appends to its own shard, reads all shards, repairs only its own.

    The driver has already repaired every shard before the actors start; a torn last line in
    another actor's shard now is a line being written, so it is skipped, never cut off.
    """

    def __init__(self, directory: str, shard: str) -> None:
        self._own = f"journal-{shard}.jsonl"
        super().__init__(directory, shard=shard)

    def _load(self, path: Path) -> None:
        if path.name == self._own:
            super()._load(path)
            return
        with open(path, "rb") as f:
            data = f.read()
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            self.records[record.pop("k")] = record


def claim_shard(directory: str) -> tuple[str, int]:
    """The lowest free actor shard of a journal folder, and an fd that holds it.

    An exclusive ``flock`` on ``journal-actor-<i>.jsonl`` marks the shard as taken for as long as
    the actor lives; the kernel drops it when the process ends, however it ends, so a shard is
    never left claimed. (Without ``fcntl``, e.g. on Windows, the process id names the shard.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return f"actor-p{os.getpid()}", -1
    Path(directory).mkdir(parents=True, exist_ok=True)
    i = 0
    while True:
        fd = os.open(Path(directory) / f"journal-actor-{i}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                     0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            i += 1
            continue
        return f"actor-{i}", fd


class _CollectCalls:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.calls: list[tuple[int, Request, str]] = []

    def write(self, item: WorkItem, request: Request, response: str) -> None:
        if self.enabled:
            self.calls.append((item.index, request, response))


class GenerationActor:
    """A Ray Data map actor: our async engine on each block it is given.

    One event loop and one engine (rate limiter, budget, journal shard) for the actor's life;
    blocks run one after another, each with ``concurrency`` requests in flight, and each closes
    its HTTP session when done (Ray may end an idle actor without warning).
    """

    def __init__(self, llm: Any, maker: RowMaker, settings: ActorSettings) -> None:
        self.maker = maker
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._lock_fd = -1
        journal = None
        if settings.journal_dir is not None:
            self.name, self._lock_fd = claim_shard(settings.journal_dir)
            journal = _ShardJournal(settings.journal_dir, self.name)
        else:
            self.name = f"actor-p{os.getpid()}"
        self.engine = Engine(
            llm, concurrency=settings.concurrency, max_retries=settings.max_retries,
            timeout=settings.timeout,
            rate_limiter=RateLimiter(settings.requests_per_minute, settings.tokens_per_minute),
            journal=journal, prices=settings.prices, budget_tokens=settings.budget_tokens,
            budget_usd=settings.budget_usd)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        work = [pickle.loads(blob) for blob in batch.column("item").to_pylist()]
        out = self.run(work)
        return pa.table({"out": pa.array([pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)],
                                         type=pa.large_binary())})

    def run(self, work: Sequence[tuple[WorkItem, Mapping[str, Any] | None]]) -> BlockResult:
        engine, maker = self.engine, self.maker
        calls = _CollectCalls(self.settings.collect_calls)
        out = BlockResult(actor=self.name, started=time.time())
        before = _snapshot(engine.stats)

        async def handle(pair: tuple[WorkItem, Mapping[str, Any] | None]) -> Any:
            return await maker.make(engine, pair[0], calls, pair[1])

        def keep(pair: tuple[WorkItem, Mapping[str, Any] | None], result: Any) -> None:
            out.results.append((pair[0].index, result))

        async def run_block() -> None:
            try:
                await engine.map(work, handle, keep)
            finally:  # no HTTP session outlives a block: Ray may end the actor at any time after it
                close = getattr(engine.llm, "aclose", None)
                if close is not None:
                    await close()

        try:
            self.loop.run_until_complete(run_block())
        except BudgetExceeded:
            pass
        except Exception as exc:  # fatal (a rejected key...): handed to the driver, which raises it
            out.error = _portable(exc)
        after = _snapshot(engine.stats)
        out.stats = {k: after[k] - before[k] for k in after}
        out.stopped = engine.stats.stopped
        out.calls = calls.calls
        out.finished = time.time()
        return out

    def __del__(self) -> None:
        journal = getattr(getattr(self, "engine", None), "journal", None)
        if journal is not None:
            journal.close()
        if getattr(self, "_lock_fd", -1) >= 0:
            os.close(self._lock_fd)  # frees the shard for the next actor
            self._lock_fd = -1


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


# --- the driver side ----------------------------------------------------------------------


class RayRunner:
    """Runs ``DatasetGenerator``'s work items on Ray actors (``engine="ray"``).

    ``map(items, keep)`` has the contract of ``Engine.map``: ``keep(item, row | Failure)`` for
    every item as its block comes back; a fatal error is raised; a spent budget ends the run
    cleanly with ``stats.stopped == "budget"``. Counters are added to the driver engine's stats.
    """

    def __init__(self, llm: Any, maker: RowMaker, engine: Engine, *, journal: Journal | None = None,
                 actors: int | None = None, address: str | None = None,
                 requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
                 logger: Any = None, progress: Any = None) -> None:
        self.ray = require_ray()
        self.llm = llm
        self.maker = maker
        self.engine = engine
        self.stats = engine.stats
        self.journal = journal
        self.actors = actors
        self.address = address
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self.logger = logger
        self.progress = progress
        #: the last round's timing (wall clock): submitted, first block started, last block done
        self.timeline: dict[str, float] = {}
        if not isinstance(llm, RayVLLM):
            try:
                self.ray.cloudpickle.dumps(llm)
            except Exception as exc:
                raise ConfigError(f"the backend {getattr(llm, 'name', llm)!r} cannot be sent to Ray "
                                  f"actors: {type(exc).__name__}: {exc}",
                                  hint="use OpenAICompatible (or Fake) with engine='ray', or "
                                       "engine='local'") from exc

    # --- cluster ----------------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            if self.address is not None:
                log.warning("Ray is already initialized; ray_address=%r is not used", self.address)
            return
        started = time.perf_counter()
        ray.init(address=self.address)
        log.info("Ray ready in %.1f s: %s", time.perf_counter() - started, ray.cluster_resources())

    def _actor_count(self) -> int:
        if self.actors is not None:
            return self.actors
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        return max(1, len(nodes))  # one actor per node

    def _actor_cpus(self, actors: int) -> float:
        """One CPU per actor (an event loop uses at most one), less where the cluster is small."""
        cpus = float(self.ray.cluster_resources().get("CPU", 1.0))
        return round(max(0.05, min(1.0, (cpus - 0.25) / actors)), 2)

    def _settings(self, actors: int) -> ActorSettings:
        e, s = self.engine, self.stats
        budget_tokens = budget_usd = None
        if e.budget_tokens is not None:
            budget_tokens = max(0, math.floor((e.budget_tokens - s.total_tokens) / actors))
        if e.budget_usd is not None:
            budget_usd = max(0.0, (e.budget_usd - (s.cost_usd or 0.0)) / actors)
        logger = self.logger
        collect = logger is not None and (getattr(logger, "file", None) is not None
                                          or bool(getattr(logger, "every", 0)))
        journal_dir = str(Path(self.journal.directory).resolve()) if self.journal is not None else None
        return ActorSettings(
            concurrency=e.concurrency, max_retries=e.max_retries, timeout=e.timeout,
            requests_per_minute=split_limit(self.rpm, actors),
            tokens_per_minute=split_limit(self.tpm, actors), prices=e.prices,
            budget_tokens=budget_tokens, budget_usd=budget_usd, journal_dir=journal_dir,
            collect_calls=collect)

    def _budget_spent(self) -> bool:
        e, s = self.engine, self.stats
        if e.budget_tokens is not None and s.total_tokens >= e.budget_tokens:
            return True
        return e.budget_usd is not None and (s.cost_usd or 0.0) >= e.budget_usd

    # --- one round ----------------------------------------------------------------------------

    async def map(self, items: Sequence[WorkItem], keep: Callable[[WorkItem, Any], None]) -> None:
        if not items:
            return
        if self._budget_spent():
            self.stats.stopped = "budget"
            return
        self._connect()
        try:
            if isinstance(self.llm, RayVLLM):
                await self._map_vllm(items, keep)
            else:
                await self._map_actors(items, keep)
        finally:
            self.stats.finished = time.monotonic()

    def _dataset(self, records: list[dict[str, Any]], blocks: int) -> Any:
        # from_items(..., override_num_blocks=N) *is* the repartition: the items arrive in N
        # blocks, not one (a one-block dataset keeps all but one actor idle), without a separate
        # all-to-all repartition stage (measured: +0.6 s for 2,000 items).
        return self.ray.data.from_items(records, override_num_blocks=blocks)

    async def _map_actors(self, items: Sequence[WorkItem], keep: Callable[[WorkItem, Any], None]) -> None:
        ray = self.ray
        actors = self._actor_count()
        settings = self._settings(actors)
        by_index = {item.index: item for item in items}
        records = [{"i": item.index, "item": pickle.dumps((item, self.maker.source_row(item)),
                                                          protocol=pickle.HIGHEST_PROTOCOL)}
                   for item in items]
        blocks = max(1, min(len(items), actors * BLOCKS_PER_ACTOR))
        timeline = self.timeline = {"submitted": time.time(), "first_block": math.inf, "last_block": 0.0}
        with _quiet_data_context(ray):
            ds = self._dataset(records, blocks).map_batches(
                GenerationActor, batch_size=None, batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=self._actor_cpus(actors),
                fn_constructor_kwargs={"llm": self.llm, "maker": self.maker.without_rows(),
                                       "settings": settings})
            stream = _Drain(row["out"] for row in ds.iter_rows())
            try:
                async for blob in stream:
                    block = pickle.loads(blob)
                    timeline["first_block"] = min(timeline["first_block"], block.started)
                    timeline["last_block"] = max(timeline["last_block"], block.finished)
                    self._merge(block, by_index, keep)
            finally:
                stream.close()
        log.info("ray: %d items on %d actors; actors started in %.1f s, blocks ran %.2f s", len(items),
                 actors, timeline["first_block"] - timeline["submitted"],
                 timeline["last_block"] - timeline["first_block"], extra={"ray_timeline": timeline})

    def _merge(self, block: BlockResult, by_index: Mapping[int, WorkItem],
               keep: Callable[[WorkItem, Any], None]) -> None:
        s = self.stats
        for name in _STAT_FIELDS:
            setattr(s, name, getattr(s, name) + block.stats.get(name, 0))
        if s.cost_usd is not None:
            s.cost_usd += block.stats.get("cost_usd", 0.0)
        logger = self.logger
        if logger is not None:
            for index, request, response in block.calls:
                logger.write(by_index[index], request, response)
        for index, result in block.results:
            keep(by_index[index], result)
            if self.progress is not None:
                self.progress.advance()
        if self.progress is not None:
            self.progress.usage(s.total_tokens, s.cost_usd)
        if block.stopped:
            s.stopped = block.stopped
        if block.error is not None:
            raise block.error

    # --- the vLLM path (GPU clusters; extra ``ray-vllm``) -------------------------------------

    async def _map_vllm(self, items: Sequence[WorkItem], keep: Callable[[WorkItem, Any], None]) -> None:
        """One pass through Ray Data's vLLM engine processor; the journal is kept by the driver.

        No re-ask here: an answer that does not parse is a failure, as after the last attempt.
        """
        llm: RayVLLM = self.llm
        maker, journal, s = self.maker, self.journal, self.stats
        todo: list[dict[str, Any]] = []
        keys: dict[int, str] = {}
        by_index = {item.index: item for item in items}
        for item in items:
            request = maker.request(item, item.messages, 0)
            key = content_key(llm.name, request.params(), request.messages, sample=item.index)
            record = journal.get(key) if journal is not None else None
            if record is not None:
                s.cached += 1
                s.cached_tokens += sum(record.get("usage", (0, 0)))
                self._keep_answer(item, request, record["text"], keep)
                continue
            keys[item.index] = key
            todo.append(llm.record(item.index, request))
        if not todo:
            return
        processor = llm.processor()
        with _quiet_data_context(self.ray):
            ds = processor(self._dataset(todo, max(1, min(len(todo), llm.blocks))))
            stream = _Drain(iter(ds.iter_rows()))
            try:
                async for row in stream:
                    item = by_index[int(row["i"])]
                    text = str(row.get("generated_text") or "")
                    usage = Usage(int(row.get("num_input_tokens") or 0),
                                  int(row.get("num_generated_tokens") or 0))
                    s.requests += 1
                    s.succeeded += 1
                    s.prompt_tokens += usage.prompt_tokens
                    s.completion_tokens += usage.completion_tokens
                    if journal is not None:
                        journal.append(keys[item.index], {
                            "text": text, "finish_reason": "stop",
                            "usage": [usage.prompt_tokens, usage.completion_tokens], "model": llm.name})
                    self._keep_answer(item, maker.request(item, item.messages, 0), text, keep)
            finally:
                stream.close()

    def _keep_answer(self, item: WorkItem, request: Request, text: str,
                     keep: Callable[[WorkItem, Any], None]) -> None:
        if self.logger is not None:
            self.logger.write(item, request, text)
        try:
            result: Any = self.maker.parse(item, text)
        except ParseError as exc:
            result = Failure(item.index, str(exc), type(exc).__name__, text, item.source)
        keep(item, result)
        if self.progress is not None:
            self.progress.advance()


class _quiet_data_context:
    """Ray Data without its own progress bars (ours is shown instead), restored afterwards."""

    def __init__(self, ray: Any) -> None:
        self.ctx = ray.data.DataContext.get_current()
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name in ("enable_progress_bars", "print_on_execution_start"):
            if hasattr(self.ctx, name):
                self.saved[name] = getattr(self.ctx, name)
                setattr(self.ctx, name, False)

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            setattr(self.ctx, name, value)


class _Drain:
    """A blocking iterator (Ray Data's), read in a daemon thread, as an async iterator.

    ``close()`` (the callers' ``finally``) makes the thread stop at its next item and close the
    iterator, which ends the Ray Data execution; being a daemon, the thread never holds up the
    interpreter's exit.
    """

    def __init__(self, iterator: Iterator[Any]) -> None:
        self.iterator = iterator
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="fabricator-ray", daemon=True)
        self.thread.start()

    def _post(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.stop.set()

    def _produce(self) -> None:
        try:
            for value in self.iterator:
                if self.stop.is_set():
                    break
                self._post("item", value)
            else:
                self._post("done", None)
        except BaseException as exc:  # handed to the consumer
            self._post("error", exc)
        finally:
            if self.stop.is_set():
                close = getattr(self.iterator, "close", None)
                if close is not None:
                    close()

    def __aiter__(self) -> _Drain:
        return self

    async def __anext__(self) -> Any:
        kind, value = await self.queue.get()
        if kind == "done":
            raise StopAsyncIteration
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        self.stop.set()


# --- Ray Data's vLLM engine as a backend -----------------------------------------------------


class RayVLLM:
    """A model served *inside* the Ray job by Ray Data's vLLM engine processor (GPU clusters).

    Use with ``engine="ray"``: ``DatasetGenerator(RayVLLM("Qwen/Qwen2.5-7B-Instruct",
    concurrency=4)).generate(..., engine="ray")`` runs ``concurrency`` vLLM replicas (one per
    GPU by default) over the planned prompts with ``ray.data.llm.build_processor``. Needs the
    extra ``ray-vllm`` (Ray >= 2.53 and vLLM). Journal, call log, rows and failures are as with
    the HTTP path; there are no rate limits (the model is yours), no structured output and no
    re-ask of a wrong label (it is a failure).
    """

    supports_prefill = False
    supports_json_schema = False

    def __init__(self, model_source: str, *, engine_kwargs: dict[str, Any] | None = None,
                 concurrency: int | tuple[int, int] = 1, batch_size: int = 64,
                 accelerator_type: str | None = None, blocks: int = 64,
                 processor_kwargs: dict[str, Any] | None = None) -> None:
        self.name = model_source
        self.model_source = model_source
        self.engine_kwargs = dict(engine_kwargs or {})
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.accelerator_type = accelerator_type
        self.blocks = blocks
        self.processor_kwargs = dict(processor_kwargs or {})
        self.max_concurrency = batch_size

    def __repr__(self) -> str:
        return f"RayVLLM({self.model_source!r}, concurrency={self.concurrency!r})"

    async def complete(self, request: Request) -> Completion:
        raise ConfigError("RayVLLM runs inside Ray Data: use it with engine='ray'")

    async def aclose(self) -> None:
        return None

    @staticmethod
    def record(index: int, request: Request) -> dict[str, Any]:
        """One input row of the processor: chat messages (no prefill) and sampling parameters."""
        messages = list(request.messages)
        if messages and messages[-1].get("role") == "assistant":
            messages = messages[:-1]
        params: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_tokens}
        if request.seed is not None:
            params["seed"] = request.seed
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop"] = list(request.stop)
        return {"i": index, "messages": messages, "sampling_params": params}

    def processor(self) -> Any:
        try:
            from ray.data.llm import build_processor, vLLMEngineProcessorConfig
        except ImportError as exc:
            raise ConfigError(f"RayVLLM needs Ray Data LLM (Ray >= 2.53) and vLLM: {VLLM_INSTALL}",
                              hint=VLLM_INSTALL) from exc
        config = vLLMEngineProcessorConfig(
            model_source=self.model_source, engine_kwargs=self.engine_kwargs,
            concurrency=self.concurrency, batch_size=self.batch_size,
            accelerator_type=self.accelerator_type, **self.processor_kwargs)
        return build_processor(config, preprocess=_vllm_pre, postprocess=_vllm_post)


def _vllm_pre(row: dict[str, Any]) -> dict[str, Any]:
    return {"i": row["i"], "messages": row["messages"], "sampling_params": row["sampling_params"]}


def _vllm_post(row: dict[str, Any]) -> dict[str, Any]:
    return {"i": row["i"], "generated_text": row.get("generated_text"),
            "num_input_tokens": row.get("num_input_tokens"),
            "num_generated_tokens": row.get("num_generated_tokens")}


__all__ = ["RayRunner", "RayVLLM", "GenerationActor", "ActorSettings", "BlockResult", "require_ray",
           "split_limit", "RAY_INSTALL", "VLLM_INSTALL"]
