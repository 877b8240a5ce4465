"""``RayVLLM``: a model served inside the Ray job by vLLM (GPU clusters; extra ``ray-vllm``).

Two ways to use it, the same rows either way:

- ``engine="ray"`` (the fast path): the Ray executor sends every planned prompt of a round
  through Ray Data's vLLM engine processor (``ray.data.llm.build_processor``): ``concurrency``
  vLLM replicas, continuous batching, ``batch_size`` prompts per batch.
- ``complete()`` (any engine, ``engine="local"`` included): one request at a time to a Ray
  actor that holds one ``vllm.LLM`` (started on the first call, kept for the backend's life).
  It answers the prompts one after another, so it is much slower than the batch path; it is
  there so that ``RayVLLM`` honours the ``LLM`` protocol (a quick check, a handful of prompts).

Needs Ray >= 2.53 with Ray Data LLM and vLLM: ``pip install 'fabricator-data[ray-vllm]'``. Both
are imported only when used; without them the error names that extra.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..errors import ConfigError
from .base import AsyncClosing, Capabilities, Completion, Request, Usage
from .ray_support import require_ray, start_local_ray

VLLM_INSTALL = "pip install 'fabricator-data[ray-vllm]'"


def require_vllm() -> None:
    """A ``ConfigError`` naming the ``ray-vllm`` extra unless vLLM can be imported."""
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            f"RayVLLM needs vLLM, which is not installed: {VLLM_INSTALL}",
            hint=f"{VLLM_INSTALL} (Ray >= 2.53 and vLLM), or use an HTTP backend",
        )


def sampling_params(request: Request) -> dict[str, Any]:
    """vLLM's sampling parameters for ``request`` (both paths send the same ones)."""
    params = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "top_p": request.top_p,
        "stop": list(request.stop) or None,
    }
    return {name: value for name, value in params.items() if value is not None}


def chat_messages(request: Request) -> list[dict[str, str]]:
    """The request's messages without a trailing assistant prefill (vLLM's chat does not continue one)."""
    messages = [dict(m) for m in request.messages]
    if messages and messages[-1].get("role") == "assistant":
        messages = messages[:-1]
    return messages


class VLLMChat:
    """One ``vllm.LLM`` answering one chat at a time; ``RayVLLM.complete`` runs it as a Ray actor."""

    def __init__(self, model_source: str, engine_kwargs: dict[str, Any]) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ConfigError(
                f"RayVLLM needs vLLM on the Ray worker: {VLLM_INSTALL}", hint=VLLM_INSTALL
            ) from exc
        self.vllm = vllm
        self.model = vllm.LLM(model=model_source, **engine_kwargs)

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> tuple[str, str, int, int]:
        """(text, finish reason, prompt tokens, completion tokens) of one answer."""
        result = self.model.chat(messages, self.vllm.SamplingParams(**params), use_tqdm=False)[0]
        out = result.outputs[0]
        return (
            out.text,
            out.finish_reason or "stop",
            len(result.prompt_token_ids or ()),
            len(out.token_ids or ()),
        )


class RayVLLM(AsyncClosing):
    """A model served *inside* the Ray job by vLLM (GPU clusters).

    ``DatasetGenerator(RayVLLM("Qwen/Qwen2.5-7B-Instruct", concurrency=4)).generate(...,
    engine="ray")`` runs ``concurrency`` vLLM replicas (one per GPU by default) over the planned
    prompts. Journal, call log, rows and failures are as with the HTTP path; there are no rate
    limits (the model is yours), no structured output and no re-ask of a wrong label (it is a
    failure). ``actor_options`` are Ray's options for the one actor ``complete()`` starts
    (default ``{"num_gpus": 1}``; a ``runtime_env`` goes here too).
    """

    #: a whole round at once through Ray Data (``processor``); no prefill, schema or log-probabilities
    capabilities = Capabilities(batch=True)
    supports_prefill = False

    def __init__(
        self,
        model_source: str,
        *,
        engine_kwargs: dict[str, Any] | None = None,
        concurrency: int | tuple[int, int] = 1,
        batch_size: int = 64,
        accelerator_type: str | None = None,
        blocks: int = 64,
        processor_kwargs: dict[str, Any] | None = None,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        self.name = model_source
        self.model_source = model_source
        self.engine_kwargs = dict(engine_kwargs or {})
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.accelerator_type = accelerator_type
        self.blocks = blocks
        self.processor_kwargs = dict(processor_kwargs or {})
        self.actor_options = dict(actor_options) if actor_options is not None else {"num_gpus": 1}
        self.max_concurrency = batch_size
        self._chat: Any = None  # the actor complete() uses, started on its first call

    def __repr__(self) -> str:
        return f"RayVLLM({self.model_source!r}, concurrency={self.concurrency!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_chat": None}  # the actor stays with the process that started it

    async def complete(self, request: Request) -> Completion:
        """One answer from the actor that holds the model (slow: see the module docstring)."""
        require_vllm()
        if self._chat is None:
            self._chat = self._start_actor()
        text, finish, prompt_tokens, completion_tokens = await self._chat.chat.remote(
            chat_messages(request), sampling_params(request)
        )
        return Completion(text, finish, Usage(prompt_tokens, completion_tokens), self.name)

    def _start_actor(self) -> Any:
        ray = require_ray()
        if not ray.is_initialized():
            start_local_ray()
        actor = ray.remote(VLLMChat).options(**self.actor_options)
        return actor.remote(self.model_source, self.engine_kwargs)

    async def aclose(self) -> None:
        """Ends the actor of ``complete()`` (the model's GPU memory is freed with it)."""
        if self._chat is not None:
            import ray

            ray.kill(self._chat)
            self._chat = None

    @staticmethod
    def record(index: int, request: Request) -> dict[str, Any]:
        """One input row of the processor: chat messages (no prefill) and sampling parameters."""
        return {"i": index, "messages": chat_messages(request), "sampling_params": sampling_params(request)}

    def processor(self) -> Any:
        """Ray Data's vLLM engine processor for this model (the ``engine="ray"`` path)."""
        require_vllm()  # Ray Data LLM imports without it, and would fail later, in its workers
        try:
            from ray.data.llm import build_processor, vLLMEngineProcessorConfig
        except ImportError as exc:
            raise ConfigError(
                f"RayVLLM needs Ray Data LLM (Ray >= 2.53) and vLLM: {VLLM_INSTALL}", hint=VLLM_INSTALL
            ) from exc
        config = vLLMEngineProcessorConfig(
            model_source=self.model_source,
            engine_kwargs=self.engine_kwargs,
            concurrency=self.concurrency,
            batch_size=self.batch_size,
            accelerator_type=self.accelerator_type,
            **self.processor_kwargs,
        )
        return build_processor(config, preprocess=_vllm_pre, postprocess=_vllm_post)


def _vllm_pre(row: dict[str, Any]) -> dict[str, Any]:
    return {"i": row["i"], "messages": row["messages"], "sampling_params": row["sampling_params"]}


def _vllm_post(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "i": row["i"],
        "generated_text": row.get("generated_text"),
        "num_input_tokens": row.get("num_input_tokens"),
        "num_generated_tokens": row.get("num_generated_tokens"),
    }


__all__ = ["VLLM_INSTALL", "RayVLLM", "VLLMChat", "require_vllm"]
