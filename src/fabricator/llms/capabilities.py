"""Reading what a backend declares it can do, in one place (``Capabilities``), and using it.

The pipeline asks ``capabilities_of(llm)`` instead of probing a backend for attributes. A backend
written to the first protocol (a bare ``supports_prefill`` flag, no ``capabilities``) is read here
as declaring prefill only, so it keeps working unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, cast, runtime_checkable

from .base import Capabilities, Preflighting, TokenCounting


@runtime_checkable
class _Declares(Protocol):
    @property
    def capabilities(self) -> Capabilities: ...


@runtime_checkable
class _FirstProtocol(Protocol):
    supports_prefill: bool


def capabilities_of(llm: object) -> Capabilities:
    """What ``llm`` declares; for a backend of the first protocol, its ``supports_prefill``."""
    if isinstance(llm, _Declares):
        return llm.capabilities
    if isinstance(llm, _FirstProtocol):
        return Capabilities(prefill=bool(llm.supports_prefill))
    return Capabilities()


async def preflight(llm: object) -> None:
    """The backend's own check that it can answer (fast failure before any work), if it has one."""
    if capabilities_of(llm).preflight:
        await cast(Preflighting, llm).preflight()


def own_token_counts(llm: object, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[int] | None:
    """Each conversation's prompt tokens by the backend's own tokenizer; ``None`` when it has none."""
    if not capabilities_of(llm).token_counting:
        return None
    return cast(TokenCounting, llm).count_tokens(conversations)


__all__ = ["Capabilities", "capabilities_of", "own_token_counts", "preflight"]
