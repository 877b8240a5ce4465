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
split evenly among the actors (an idle actor's share is not lent to the others). The call cap
(``max_prompt_calls``) is never exceeded: each item travels with its allowance of calls (its
first ask, plus an even share of the calls the round may spend on re-asks), and a block may make
at most the sum of its items' allowances; blocks report the calls they made. (An actor killed
mid-block has its block run again; the requests it had in flight are then asked twice.) Journal: each
actor appends to ``journal-actor-<i>.jsonl`` in the journal folder, and reads every shard there
when it starts, so a resumed run skips work done by any actor. On several nodes the journal
folder must be on a filesystem they all share (NFS, a mounted bucket) for resume to see it all.

GPU clusters: ``RayVLLM`` (extra ``ray-vllm``) runs a model with Ray Data's vLLM engine processor
(``ray.data.llm``, Ray >= 2.53) instead of calling an HTTP endpoint; see docs/scaling.md.
"""

from __future__ import annotations

import asyncio
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

from ..errors import BudgetExceeded, ConfigError, ParseError
from ..llms.base import Completion, Request, Usage
from ..rows import CallBudget, Failure, RowMaker, WorkItem
from .engine import Engine, Prices, RunStats
from .journal import Journal, content_key
from .ratelimit import RateLimiter

log = logging.getLogger("fabricator")

RAY_INSTALL = "pip install 'fabricator-data[ray]'"
VLLM_INSTALL = "pip install 'fabricator-data[ray-vllm]'"
#: blocks per actor: enough to balance actors that start at different times, few enough that
#: each block keeps an actor's ``max_concurrency`` requests in flight for most of its run
BLOCKS_PER_ACTOR = 4
#: the switch Ray reads to decide whether a node may join others (off: its IP is 127.0.0.1)
_RAY_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_STAT_FIELDS = ("requests", "succeeded", "cached", "cached_tokens", "retries", "failed_requests",
                "prompt_tokens", "completion_tokens")


def start_local_ray(**options: Any) -> None:
    """``ray.init`` of a private local cluster whose ports listen on 127.0.0.1 only, no dashboard.

    Ray binds its servers to the loopback interface only when the node's IP is 127.0.0.1; on Linux
    it takes the machine's address instead (and maps ``_node_ip_address="127.0.0.1"`` back to it)
    unless multi-node clusters are switched off, as Ray does on macOS and Windows. The switch (an
    environment variable its processes inherit, and the constant the driver reads) is on only
    while the cluster starts, so a later ``ray.init(address=...)`` in this process is unchanged.
    """
    ray = require_ray()
    constants: Any = getattr(getattr(ray, "_private", None), "ray_constants", None)
    saved_env = os.environ.get(_RAY_CLUSTER_SWITCH)
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_RAY_CLUSTER_SWITCH] = "0"
    if saved_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(**{"_node_ip_address": "127.0.0.1", "include_dashboard": False, **options})
    finally:
        if saved_env is None:
            os.environ.pop(_RAY_CLUSTER_SWITCH, None)
        else:
            os.environ[_RAY_CLUSTER_SWITCH] = saved_env
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or a ``ConfigError`` that says how to install it."""
    try:
        import ray
        import ray.data
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
    model_calls: int = 0  # calls made against the block's allowance (``CallBudget.used``)
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


def call_allowances(items: int, spare: int | None) -> list[int | None]:
    """Each item's calls: its first ask and an even share of ``spare`` (``None``: uncapped)."""
    if spare is None:
        return [None] * items
    return [1 + (k + 1) * spare // items - k * spare // items for k in range(items)]


#: what one item of a block carries: the item, its source row (annotation) and its call allowance
Work = tuple[WorkItem, Mapping[str, Any] | None, int | None]


# Sharding lives in the journal: an actor claims a free shard (an flock), appends to it, and reads
# the others as they are. Kept under these names for the actor code below.
_ShardJournal = Journal.open_shard
claim_shard = Journal.claim_shard


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

    def run(self, work: Sequence[Work]) -> BlockResult:
        engine, maker = self.engine, self.maker
        calls = _CollectCalls(self.settings.collect_calls)
        out = BlockResult(actor=self.name, started=time.time())
        before = _snapshot(engine.stats)
        allowances = [w[2] for w in work]
        budget = CallBudget(None if None in allowances else sum(a or 0 for a in allowances))
        budget.reserve(len(work))

        async def handle(w: Work) -> Any:
            return await maker.make(engine, w[0], calls, w[1], budget=budget)

        def keep(w: Work, result: Any) -> None:
            out.results.append((w[0].index, result))

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
        out.model_calls = budget.used
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
                 logger: Any = None, progress: Any = None, budget: CallBudget | None = None) -> None:
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
        #: the run's model calls; a round's items arrive with a first ask set aside for each
        self.budget = budget if budget is not None else CallBudget()
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
        if self.address is None:  # a private local cluster: reachable from this machine only
            start_local_ray()
        else:
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
        # the round's calls: the items' reserved first asks and every spare call, lent to the blocks
        budget, spare = self.budget, self.budget.spare
        budget.reserved = max(0, budget.reserved - len(items))
        lent = 0 if spare is None else len(items) + spare
        budget.used += lent
        records = [{"i": item.index, "item": pickle.dumps((item, self.maker.source_row(item), allowance),
                                                          protocol=pickle.HIGHEST_PROTOCOL)}
                   for item, allowance in zip(items, call_allowances(len(items), spare), strict=True)]
        made = 0
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
                    made += block.model_calls
                    timeline["first_block"] = min(timeline["first_block"], block.started)
                    timeline["last_block"] = max(timeline["last_block"], block.finished)
                    self._merge(block, by_index, keep)
            finally:
                stream.close()
                budget.used += made - lent  # the loan, settled: what the blocks really made
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
        self.budget.reserved = max(0, self.budget.reserved - len(items))
        self.budget.used += len(todo)  # one call per item not journaled: each had its first ask set aside
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


__all__ = ["RAY_INSTALL", "VLLM_INSTALL", "ActorSettings", "BlockResult", "GenerationActor", "RayRunner",
           "RayVLLM", "call_allowances", "require_ray", "split_limit", "start_local_ray"]
