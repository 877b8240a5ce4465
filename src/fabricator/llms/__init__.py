"""Model backends behind one protocol (``LLM``), each declaring its ``Capabilities``, found by name.

Built in: ``Fake``, ``OpenAICompatible`` (HTTP), ``LlamaCpp`` (embedded llama.cpp), ``Ensemble`` and
``RayVLLM``. A recipe names a backend (``model.backend``); add your own with ``register_backend``
or an entry point of the group ``fabricator.backends`` (``registry``). Optional libraries (xllamacpp,
Ray, vLLM) load only when a backend that needs them starts.
"""

from __future__ import annotations

from .base import LLM, Capabilities, Completion, Request, TokenChoice, Usage
from .builtin import BUILT_IN, ModelOptions
from .capabilities import capabilities_of, own_token_counts, preflight
from .embedded import LlamaCpp
from .ensemble import Ensemble
from .fake import Fake
from .openai import OpenAICompatible
from .ray_vllm import RayVLLM
from .registry import Backend, NoOptions, backend_names, build_backend, register_backend

__all__ = [
    "BUILT_IN",
    "LLM",
    "Backend",
    "Capabilities",
    "Completion",
    "Ensemble",
    "Fake",
    "LlamaCpp",
    "ModelOptions",
    "NoOptions",
    "OpenAICompatible",
    "RayVLLM",
    "Request",
    "TokenChoice",
    "Usage",
    "backend_names",
    "build_backend",
    "capabilities_of",
    "own_token_counts",
    "preflight",
    "register_backend",
]
