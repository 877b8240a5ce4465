"""The requests of a batch round, gathered while every row waits on an answer, then sent as batches.

The row driver asks as it always does; each ask that the journal cannot answer waits here. When
every unfinished row of the round waits (``BatchQueue.check``), the waiting requests go out: those
a killed run already submitted are polled where they are, the others are split at the provider's
request and byte caps, uploaded (and written down, ``batch_store``) and submitted. Answers are
journaled and accounted (``on_answer``) before their batch is marked done, then handed to the rows,
which parse, re-ask or finish: their next asks make the next batch. An expired batch's unfinished
requests wait again (the next batch asks them); a failed batch fails its requests with its message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import RequestRefused
from ..llms.base import Request
from ..llms.batch_api import Answer, BatchAPI, BatchInfo
from .batch_store import BatchStore, Submitted
from .clock import Clock

log = logging.getLogger("fabricator")

#: OpenAI's caps on one batch: requests, and bytes of its input file
MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class BatchSettings:
    """How batches are cut and watched (``ExecutionOptions``' ``batch_*`` keys)."""

    max_requests: int = MAX_BATCH_REQUESTS
    max_bytes: int = MAX_BATCH_BYTES
    poll_seconds: float = 30.0
    cancel_on_interrupt: bool = False


@dataclass
class Waiting:
    """One request waiting for its answer."""

    key: str
    request: Request
    answer: asyncio.Future[Answer] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


OnAnswer = Callable[[str, Request | None, Answer], Answer]
#: shows the watched batches' status and counts (the progress bar), e.g. "batch-0 in_progress 3/8"
OnStatus = Callable[[str], None]


class BatchQueue:
    """Gathers a round's requests and sends them as batches when every row waits (see module)."""

    def __init__(
        self,
        api: BatchAPI,
        store: BatchStore,
        settings: BatchSettings,
        clock: Clock,
        on_answer: OnAnswer,
        on_status: OnStatus | None = None,
    ) -> None:
        self.api, self.store, self.settings, self.clock = api, store, settings, clock
        self.on_answer = on_answer
        self.on_status = on_status
        self.active = 0  # rows of the round not finished
        self.waiting: dict[str, Waiting] = {}
        self.sending: asyncio.Task[None] | None = None
        self.batches = 0  # batches created by this run

    async def ask(self, key: str, request: Request) -> Answer:
        """The answer of ``request`` (journal key ``key``), once its batch is done."""
        waiting = self.waiting.get(key)
        if waiting is None:
            waiting = self.waiting[key] = Waiting(key, request)
        self.check()
        return await asyncio.shield(waiting.answer)

    def finished_row(self) -> None:
        self.active -= 1
        self.check()

    def check(self) -> None:
        """Send the waiting requests once every unfinished row waits on one."""
        if self.sending is None and self.waiting and len(self.waiting) >= self.active:
            self.sending = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        try:
            while self.waiting and len(self.waiting) >= self.active:
                await self.cycle()
        except BaseException as exc:  # a fatal error (a rejected key): every waiting row gets it
            for waiting in self.waiting.values():
                if waiting.answer.done():
                    continue
                if isinstance(exc, Exception):
                    waiting.answer.set_exception(exc)
                else:  # cancelled (Ctrl-C): no row waits any more, nothing to report
                    waiting.answer.cancel()
            self.waiting.clear()
            if not isinstance(exc, Exception):
                raise
        finally:
            self.sending = None
        self.check()

    async def cycle(self) -> None:
        """One round trip: submit what is new, poll until done, hand the answers out."""
        files = {id(s): s for s in map(self.store.open_for, self.waiting) if s is not None}
        resumed = list(files.values())
        if resumed:
            log.info("polling %d batch(es) a run before this one submitted", len(resumed))
        new = [w for w in self.waiting.values() if self.store.open_for(w.key) is None]
        for chunk in self.chunks(new):
            submitted = await self.submit(chunk)
            files[id(submitted)] = submitted
        await self.adopt_or_create([s for s in files.values() if s.batch is None])
        infos = await self.watch(list(files.values()))
        for submitted, info in zip(files.values(), infos, strict=True):
            await self.collect(submitted, info)

    def chunks(self, new: list[Waiting]) -> Iterator[list[tuple[Waiting, bytes]]]:
        """The new requests as batch files within the request and byte caps."""
        chunk: list[tuple[Waiting, bytes]] = []
        size = 0
        for waiting in new:
            line = self.api.line(waiting.key, waiting.request)
            full = len(chunk) >= self.settings.max_requests or size + len(line) > self.settings.max_bytes
            if chunk and full:
                yield chunk
                chunk, size = [], 0
            chunk.append((waiting, line))
            size += len(line)
        if chunk:
            yield chunk

    async def submit(self, chunk: list[tuple[Waiting, bytes]]) -> Submitted:
        """Upload one batch file and create its batch, writing down each step first."""
        file = await self.api.upload([line for _, line in chunk])
        submitted = self.store.uploaded(file, [waiting.key for waiting, _ in chunk])
        await self.create(submitted)
        return submitted

    async def adopt_or_create(self, orphans: list[Submitted]) -> None:
        """Batch files a killed run uploaded but has no batch id for: find their batch, else create it.

        The run may have died between the provider creating the batch and the id being written
        down; creating it again would pay for its requests twice, so the provider's list is asked first.
        """
        if not orphans:
            return
        found: dict[str, BatchInfo] = {}
        for listed in await self.api.list_batches():  # newest first: the newest batch of a file wins
            if listed.input_file is not None:
                found.setdefault(listed.input_file, listed)
        for submitted in orphans:
            adopted = found.get(submitted.file)
            if adopted is None:
                await self.create(submitted)
            else:
                self.store.created(submitted, adopted.id)
                log.info(
                    "batch %s of file %s found at the provider, not created again", adopted.id, submitted.file
                )

    async def create(self, submitted: Submitted) -> None:
        info = await self.api.create(submitted.file)
        self.store.created(submitted, info.id)
        self.batches += 1
        log.info("batch %s submitted: %d requests", info.id, len(submitted.keys))

    async def watch(self, files: list[Submitted]) -> list[BatchInfo]:
        """Poll every batch until each is final (completed, failed, expired or cancelled)."""
        infos: dict[str, BatchInfo] = {}
        while True:
            for submitted in files:
                batch = submitted.batch
                assert batch is not None
                if batch in infos and infos[batch].final:
                    continue
                info = await self.api.retrieve(batch)
                if batch not in infos or infos[batch].status != info.status:
                    log.info(
                        "batch %s: %s (%d of %d done, %d failed)",
                        batch, info.status, info.completed, info.total, info.failed,
                    )  # fmt: skip
                infos[batch] = info
            if self.on_status is not None:
                self.on_status(
                    ", ".join(f"{i.id} {i.status} {i.completed}/{i.total}" for i in infos.values())
                )
            if all(info.final for info in infos.values()):
                return [infos[str(s.batch)] for s in files]
            await self.clock.sleep(self.settings.poll_seconds)

    async def collect(self, submitted: Submitted, info: BatchInfo) -> None:
        """Journal a final batch's answers, mark it done, then hand the answers to their rows."""
        answers: dict[str, Answer] = {}
        for file in (info.output_file, info.error_file):
            if file:
                answers.update(await self.api.answers(file))
        if info.status == "failed":
            why = "; ".join(info.errors) or "no reason given"
            failure = RequestRefused(f"batch {info.id} failed: {why}")
            failure.retryable = False
            answers = {key: answers.get(key, failure) for key in submitted.keys}
        elif info.status == "cancelled":
            failure = RequestRefused(f"batch {info.id} was cancelled before this request ran")
            failure.retryable = False
            answers = {key: answers.get(key, failure) for key in submitted.keys}
        given = {}
        for key, answer in answers.items():
            waiting = self.waiting.get(key)
            given[key] = self.on_answer(key, waiting.request if waiting else None, answer)
        self.store.finished(submitted)
        for key, answer in given.items():
            waiting = self.waiting.pop(key, None)
            if waiting is not None and not waiting.answer.done():
                waiting.answer.set_result(answer)
        unfinished = sum(key in self.waiting for key in submitted.keys)
        if unfinished:  # expired: asked again in the next batch
            log.warning("batch %s %s: %d requests unfinished, asked again", info.id, info.status, unfinished)

    async def cancel_running(self) -> list[str]:
        """Cancel every batch submitted and not read back; their ids."""
        ids = [s.batch for s in self.store.running() if s.batch is not None]
        for batch in ids:
            await self.api.cancel(batch)
        return ids


__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_REQUESTS", "BatchQueue", "BatchSettings", "Waiting"]
