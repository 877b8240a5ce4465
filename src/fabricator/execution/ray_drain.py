"""Reading Ray Data from asyncio: a blocking iterator drained in a thread, without Ray's own bars.

Both Ray paths (actors and the vLLM processor) consume ``Dataset.iter_rows()`` while the event
loop keeps running (progress, Ctrl-C); this is the one place that does it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any


class quiet_data_context:
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


class Drain:
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

    def __aiter__(self) -> Drain:
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


async def iter_rows(ray: Any, dataset: Callable[[], Any]) -> AsyncGenerator[dict[str, Any], None]:
    """The rows of ``dataset()`` as they are computed, Ray Data's bars off while it runs.

    Use with ``contextlib.aclosing``, so that leaving the loop early (an error, Ctrl-C) stops the
    Ray Data execution at once.
    """
    with quiet_data_context(ray):
        stream = Drain(iter(dataset().iter_rows()))
        try:
            async for row in stream:
                yield row
        finally:
            stream.close()


__all__ = ["Drain", "iter_rows", "quiet_data_context"]
