"""The backends that come with Fabricator, registered by name like any other (``registry``).

``fake``, ``openai`` and ``embedded`` share the ``model`` keys recipes have always written
(``ModelOptions``); ``ensemble`` and ``ray-vllm`` have their own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigError
from .base import LLM
from .embedded import LlamaCpp
from .ensemble import Ensemble
from .fake import Fake
from .openai import OpenAICompatible
from .ray_vllm import RayVLLM
from .registry import backend_options, build_backend, register_backend
from .vllm_local import VLLMLocal

#: the most requests in flight or embedded server slots (as ``fabricator.options.MAX_CONCURRENCY``)
MAX_CONCURRENCY = 1_024
OPENAI_URL = "https://api.openai.com/v1"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelOptions(_Options):
    """The ``model`` keys of the built-in backends; each reads the ones it needs."""

    name: str | None = None
    base_url: str | None = None
    # the variable holding this server's key; unset: OPENAI_API_KEY, and only for api.openai.com
    api_key_env: str | None = None
    model_path: str | None = None
    parallel: int = Field(default=4, ge=1, le=MAX_CONCURRENCY, strict=True)
    max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY, strict=True)
    supports_prefill: bool = False
    responses: list[str] | str | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value


def make_fake(options: ModelOptions, *, planning: bool) -> LLM:
    return Fake(
        options.responses or "This is a fake response.",
        name=options.name or "fake",
        max_concurrency=options.max_concurrency or 8,
    )


def make_openai(options: ModelOptions, *, planning: bool) -> LLM:
    """The key goes only where it was named for (``OpenAICompatible`` decides); a plan sends nothing."""
    if not options.name:
        raise ConfigError("model.name is required for the openai backend", hint="e.g. name: gpt-4o-mini")
    return OpenAICompatible(
        model=options.name,
        base_url=options.base_url or OPENAI_URL,
        api_key="" if planning else None,
        api_key_env=None if planning else options.api_key_env,
        max_concurrency=options.max_concurrency or 16,
        supports_prefill=options.supports_prefill,
    )


def make_embedded(options: ModelOptions, *, planning: bool) -> LLM:
    """A plan only counts tokens: one slot, no warm-up answer."""
    if planning:
        return LlamaCpp(options.model_path, n_parallel=1, warmup=False)
    return LlamaCpp(options.model_path, n_parallel=options.parallel, max_concurrency=options.max_concurrency)


class EnsembleOptions(_Options):
    """``members``: two or more ``model`` sections (each with its ``backend``)."""

    name: str | None = None
    members: list[dict[str, Any]] = Field(min_length=2)

    @field_validator("members")
    @classmethod
    def _members(cls, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for member in members:
            backend_options(*_split(member))
        return members


def _split(member: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A member's backend name and its options."""
    options = dict(member)
    return str(options.pop("backend", "embedded")), options


def make_ensemble(options: EnsembleOptions, *, planning: bool) -> LLM:
    members = [build_backend(*_split(member), planning=planning) for member in options.members]
    return Ensemble(members, name=options.name)


class RayVLLMOptions(_Options):
    """``name`` is the model source (a Hugging Face id or a path); the rest are ``RayVLLM``'s."""

    name: str
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | tuple[int, int] = 1
    batch_size: int = Field(default=64, ge=1, strict=True)
    accelerator_type: str | None = None
    blocks: int = Field(default=64, ge=1, strict=True)
    processor_kwargs: dict[str, Any] = Field(default_factory=dict)
    actor_options: dict[str, Any] | None = None


def make_ray_vllm(options: RayVLLMOptions, *, planning: bool) -> LLM:
    settings = options.model_dump(exclude={"name"})
    return RayVLLM(options.name, **settings)


class VLLMOptions(_Options):
    """``name``: a Hugging Face id or a path (a GGUF file with ``tokenizer``, its original model's
    id); ``engine_kwargs`` go to ``vllm.LLM``; ``max_concurrency`` bounds one batch."""

    name: str
    tokenizer: str | None = None
    max_concurrency: int = Field(default=256, ge=1, le=MAX_CONCURRENCY, strict=True)
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)


def make_vllm(options: VLLMOptions, *, planning: bool) -> LLM:
    """Loads nothing: the model is loaded on the first call (a plan counts with its tokenizer)."""
    return VLLMLocal(
        options.name,
        tokenizer=options.tokenizer,
        max_concurrency=options.max_concurrency,
        engine_kwargs=options.engine_kwargs,
    )


BUILT_IN = ("embedded", "ensemble", "fake", "openai", "ray-vllm", "vllm")
register_backend("embedded", make_embedded, ModelOptions)
register_backend("ensemble", make_ensemble, EnsembleOptions)
register_backend("fake", make_fake, ModelOptions)
register_backend("openai", make_openai, ModelOptions)
register_backend("ray-vllm", make_ray_vllm, RayVLLMOptions)
register_backend("vllm", make_vllm, VLLMOptions)

__all__ = ["BUILT_IN", "EnsembleOptions", "ModelOptions", "RayVLLMOptions", "VLLMOptions"]
