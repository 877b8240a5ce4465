"""``VLLMLocal``: vLLM in this process on one GPU (extra ``vllm``; no Ray, no HTTP server).

A GPU is fast only when it gets many sequences at once, while the engine sends one request per
row. ``complete()`` therefore queues its request, and one worker thread hands everything queued
to ``vllm.LLM.chat`` as one batch; requests that arrive while a batch runs form the next one. No
timer and no batch size to tune: the batch is whatever the engine has in flight
(``max_concurrency``), and vLLM's own scheduler batches inside it.

What the pipeline reads from it: the answer's text and token counts (prompt tokens vLLM's prefix
cache served included), the top log-probabilities of each answer token (label scoring), answers
constrained to a JSON schema (structured formats; vLLM's guided decoding), and a continued assistant
prefill. The re-ask of a bad answer is the driver's, as for every backend. vLLM is imported on
first use; without it the error names the extra.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BackendError, BackendUnavailable, BadRequestError, ConfigError, PromptTooLong
from .base import AsyncClosing, Capabilities, Completion, Request, TokenChoice, Usage, valid_logprobs

VLLM_EXTRA = "pip install 'fabricator-data[vllm]'"


def load_vllm() -> Any:
    """The ``vllm`` module, or a ``ConfigError`` that names the extra."""
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ConfigError(
            f"the vllm backend needs vLLM, which cannot be imported: {exc}",
            hint=f"{VLLM_EXTRA} (a CUDA GPU and Linux), or use the embedded or openai backend",
        ) from exc


def guided_json(vllm: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SamplingParams`` keyword that constrains an answer to ``schema``, in whichever form
    this vLLM has (``structured_outputs`` from 0.10.2 on, ``guided_decoding`` before)."""
    params = importlib.import_module(f"{vllm.__name__}.sampling_params")
    if hasattr(params, "StructuredOutputsParams"):
        return {"structured_outputs": params.StructuredOutputsParams(json=dict(schema))}
    return {"guided_decoding": params.GuidedDecodingParams(json=dict(schema))}


def sampling_params(vllm: Any, request: Request) -> Any:
    """vLLM's ``SamplingParams`` for ``request``."""
    params: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_tokens}
    optional = {"top_p": request.top_p, "seed": request.seed, "logprobs": request.logprobs}
    params.update({name: value for name, value in optional.items() if value is not None})
    if request.stop:
        params["stop"] = list(request.stop)
    if request.json_schema is not None:
        params.update(guided_json(vllm, request.json_schema))
    return vllm.SamplingParams(**params)


def is_prefilled(request: Request) -> bool:
    return bool(request.messages) and request.messages[-1].get("role") == "assistant"


def token_choices(output: Any) -> tuple[TokenChoice, ...] | None:
    """vLLM's per-token log-probabilities (``{token id: Logprob}`` per position) as checked
    ``TokenChoice``s, most likely first; ``None`` when none were asked or any is not valid."""
    if not output.logprobs:
        return None
    choices = []
    for token_id, position in zip(output.token_ids, output.logprobs, strict=False):
        ranked = sorted(position.values(), key=lambda lp: -lp.logprob)
        top = tuple((lp.decoded_token or "", float(lp.logprob)) for lp in ranked)
        own = position.get(token_id)
        written = own if own is not None else ranked[0]
        choices.append(TokenChoice(written.decoded_token or "", float(written.logprob), top))
    return valid_logprobs(choices)


def completion_of(result: Any, model: str) -> Completion:
    """One ``vllm.RequestOutput`` as a ``Completion``."""
    out = result.outputs[0]
    prompt = len(result.prompt_token_ids or ())
    cached = min(int(getattr(result, "num_cached_tokens", 0) or 0), prompt)
    usage = Usage(prompt, len(out.token_ids or ()), cached)
    finish = "length" if out.finish_reason == "length" else "stop"
    return Completion(out.text, finish, usage, model, token_choices(out))


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future[Completion]
    loop: asyncio.AbstractEventLoop


class VLLMLocal(AsyncClosing):
    """A model run by vLLM inside this process on one GPU.

    ``model`` is a Hugging Face id or a local path (a GGUF file needs ``tokenizer``: the id of its
    original model). ``engine_kwargs`` go to ``vllm.LLM`` as they are (``gpu_memory_utilization``,
    ``max_model_len``, ...). ``max_concurrency`` is how many requests the engine keeps in flight,
    i.e. the largest batch handed to vLLM at once. ``engine`` is an already built ``vllm.LLM``
    (or an object with its ``chat`` and ``get_tokenizer``), for tests and for sharing one model.
    """

    capabilities = Capabilities(logprobs=True, json_schema=True, token_counting=True, prefill=True)
    supports_prefill = True
    supports_json_schema = True

    def __init__(
        self,
        model: str,
        *,
        tokenizer: str | None = None,
        max_concurrency: int = 256,
        engine_kwargs: Mapping[str, Any] | None = None,
        engine: Any = None,
    ) -> None:
        if not model:
            raise ConfigError("the vllm backend needs a model", hint="e.g. Qwen/Qwen2.5-1.5B-Instruct")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.name = model
        self.tokenizer = tokenizer
        self.max_concurrency = int(max_concurrency)
        self.engine_kwargs = dict(engine_kwargs or {})
        self._engine = engine
        self._vllm: Any = None
        self._lock = threading.Lock()  # the queue
        self._load_lock = threading.Lock()  # one load (minutes), without holding up the queue
        self._queue: list[_Pending] = []
        self._busy = False  # a worker thread is running batches
        self.batches: list[int] = []  # the size of each batch handed to vLLM (for benches and tests)

    def __repr__(self) -> str:
        return f"VLLMLocal({self.name!r}, max_concurrency={self.max_concurrency})"

    # --- the engine -----------------------------------------------------------------------------

    def start(self) -> Any:
        """Load the model (blocking; once). Returns the engine."""
        with self._load_lock:
            if self._vllm is None:
                self._vllm = load_vllm()
            if self._engine is None:
                kwargs = dict(self.engine_kwargs)
                if self.tokenizer:
                    kwargs.setdefault("tokenizer", self.tokenizer)
                try:
                    self._engine = self._vllm.LLM(model=self.name, **kwargs)
                except Exception as exc:
                    raise BackendUnavailable(
                        f"vLLM could not load {self.name}: {exc}",
                        hint="check the model id or path, the GPU's free memory "
                        "(engine_kwargs: gpu_memory_utilization, max_model_len) and the CUDA driver",
                    ) from exc
            return self._engine

    def count_tokens(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int]:
        """Each chat's prompt tokens by the model's own tokenizer and chat template."""
        tokenizer = self.start().get_tokenizer()
        counts = []
        for messages in conversations:
            prefilled = bool(messages) and messages[-1].get("role") == "assistant"
            ids = tokenizer.apply_chat_template(
                [dict(m) for m in messages],
                tokenize=True,
                add_generation_prompt=not prefilled,
                continue_final_message=prefilled,
            )
            counts.append(len(ids))
        return counts

    # --- calls ----------------------------------------------------------------------------------

    async def complete(self, request: Request) -> Completion:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        with self._lock:
            self._queue.append(_Pending(request, future, loop))
            start_worker = not self._busy
            self._busy = True
        if start_worker:
            threading.Thread(target=self._drain, name="fabricator-vllm", daemon=True).start()
        return await future

    def _drain(self) -> None:
        """Worker thread: hand everything queued to vLLM, again and again, until the queue is empty."""
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._busy = False
                    return
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        """One queue's worth: prefilled and plain chats go in separate ``chat`` calls (vLLM takes
        the prefill flag per call). A failed call is tried again one request at a time, so that
        one bad request (a prompt longer than the model's context) fails alone."""
        self.batches.append(len(batch))
        for prefilled in (False, True):
            part = [p for p in batch if is_prefilled(p.request) == prefilled]
            if part:
                self._answer(part, prefilled)

    def _answer(self, part: list[_Pending], prefilled: bool) -> None:
        try:
            results = self._generate([p.request for p in part], prefilled)
        except Exception as exc:
            if len(part) > 1 and not isinstance(exc, ConfigError):
                for p in part:
                    self._answer([p], prefilled)
                return
            for p in part:
                _deliver(p, None, _as_backend_error(exc))
            return
        for p, result in zip(part, results, strict=True):
            _deliver(p, completion_of(result, self.name), None)

    def _generate(self, requests: list[Request], prefilled: bool) -> list[Any]:
        engine = self.start()
        vllm = self._vllm
        return list(
            engine.chat(
                [[dict(m) for m in r.messages] for r in requests],
                [sampling_params(vllm, r) for r in requests],
                use_tqdm=False,
                add_generation_prompt=not prefilled,
                continue_final_message=prefilled,
            )
        )

    async def aclose(self) -> None:
        """Drops the engine (its GPU memory is freed when nothing else holds it)."""
        with self._load_lock:
            self._engine = None


def _deliver(pending: _Pending, value: Completion | None, error: BaseException | None) -> None:
    """Settle a waiting ``complete`` from the worker thread (its loop may be gone: then nobody waits)."""
    try:
        pending.loop.call_soon_threadsafe(_settle, pending.future, value, error)
    except RuntimeError:  # the loop was closed
        pass


def _settle(
    future: asyncio.Future[Completion], value: Completion | None, error: BaseException | None
) -> None:
    if future.done():  # the caller gave up (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert value is not None
        future.set_result(value)


def _as_backend_error(exc: Exception) -> Exception:
    """vLLM's failures as ``fabricator.errors`` (a ``FabricatorError`` passes as it is): a prompt
    over the context fails its row; another refused request stops the run, as anything else."""
    if isinstance(exc, (ConfigError, BackendError)):
        return exc
    message = f"vLLM: {type(exc).__name__}: {exc}"
    if isinstance(exc, ValueError) and "longer than" in str(exc):
        return PromptTooLong(message, hint="shorten the prompt or raise engine_kwargs.max_model_len")
    if isinstance(exc, ValueError):
        return BadRequestError(message, hint="check the request's parameters for this model")
    return BackendUnavailable(
        message,
        hint="out of memory: lower max_concurrency or engine_kwargs.max_model_len / gpu_memory_utilization",
    )


__all__ = ["VLLM_EXTRA", "VLLMLocal", "completion_of", "load_vllm", "sampling_params"]
