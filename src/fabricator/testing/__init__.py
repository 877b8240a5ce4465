"""Test helpers: a fake OpenAI-compatible server (``FakeOpenAIServer``), a virtual clock (``FakeClock``).

Imported lazily so that ``python -m fabricator.testing.fake_server`` runs cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fabricator.testing.clock import FakeClock
    from fabricator.testing.fake_server import FakeOpenAIServer, RawAnswer, ReceivedRequest, SpawnedServer

__all__ = ["FakeClock", "FakeOpenAIServer", "RawAnswer", "ReceivedRequest", "SpawnedServer"]


def __getattr__(name: str) -> Any:
    if name == "FakeClock":
        from fabricator.testing.clock import FakeClock

        return FakeClock
    if name in __all__:
        from fabricator.testing import fake_server

        return getattr(fake_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
