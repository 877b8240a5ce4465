"""Test helpers: a fake OpenAI-compatible server (``FakeOpenAIServer``), a virtual clock (``FakeClock``).

The fake Hub (``fabricator.testing.fake_hub``) stays a module of its own. ``FakeOpenAIServer.spawn``
runs ``fake_server.py`` as a script in a child process, so the server imports nothing of the toolkit.
"""

from __future__ import annotations

from .clock import FakeClock
from .fake_batch_server import FakeBatchServer
from .fake_server import FakeOpenAIServer, RawAnswer, ReceivedRequest, ServerBehaviour, SpawnedServer

__all__ = [
    "FakeBatchServer",
    "FakeClock",
    "FakeOpenAIServer",
    "RawAnswer",
    "ReceivedRequest",
    "ServerBehaviour",
    "SpawnedServer",
]
