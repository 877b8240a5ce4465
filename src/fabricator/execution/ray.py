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

GPU clusters: ``RayVLLM`` (``fabricator.llms.ray_vllm``, extra ``ray-vllm``) runs a model with Ray
Data's vLLM engine processor (``ray.data.llm``, Ray >= 2.53) instead of calling an HTTP endpoint;
see docs/scaling.md.

Where the code lives: ``ray_executor`` (the driver: rounds, merging), ``ray_actor``
(the actors and what travels to and from them), ``ray_drain`` (Ray Data read from asyncio),
``ray_batch`` (the vLLM batch path), and ``fabricator.llms.ray_support`` (``require_ray``,
``start_local_ray``). This module is their public face.
"""

from __future__ import annotations

from ..llms.ray_support import RAY_INSTALL, require_ray, start_local_ray
from ..llms.ray_vllm import VLLM_INSTALL, RayVLLM
from .ray_actor import ActorSettings, BlockResult, GenerationActor, call_allowances, split_limit
from .ray_executor import RayExecutor

__all__ = [
    "RAY_INSTALL",
    "VLLM_INSTALL",
    "ActorSettings",
    "BlockResult",
    "GenerationActor",
    "RayExecutor",
    "RayVLLM",
    "call_allowances",
    "require_ray",
    "split_limit",
    "start_local_ray",
]
