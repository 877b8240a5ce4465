"""A fake OpenAI Batch API (files + batches) on the fake chat server, for tests (loopback only).

``FakeBatchServer`` answers ``/v1/chat/completions`` as ``FakeOpenAIServer`` does and adds
``POST /v1/files``, ``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches``
(newest first, in ``limit``/``after`` pages), ``GET /v1/batches/{id}`` and
``POST /v1/batches/{id}/cancel``. A batch is ``in_progress`` for ``polls`` looks (forever while
``hold`` is set), then final: ``completed``, or as ``outcomes`` scripts it by batch number
(``"expired"``: only the first ``expire_after`` requests ran; ``"failed"``: none ran). A batch over
``max_batch_requests`` fails as the provider's would. ``request_error(custom_id, body)`` returning a
message puts that request in the error file. ``billed`` counts each ``custom_id`` answered, so a
test sees that no request was paid for twice.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .fake_server import FakeOpenAIServer, RawAnswer, ServerBehaviour, _cut

RequestError = Callable[[str, dict], "str | None"]


class FakeBatchServer(FakeOpenAIServer):
    """The fake chat server with a batch API (see module)."""

    def __init__(
        self,
        behaviour: ServerBehaviour | None = None,
        *,
        polls: int = 1,
        outcomes: dict[int, str] | None = None,
        expire_after: int = 1,
        max_batch_requests: int | None = None,
        request_error: RequestError | None = None,
        **options: Any,
    ) -> None:
        super().__init__(behaviour, **options)
        self.polls, self.outcomes, self.expire_after = polls, dict(outcomes or {}), expire_after
        self.max_batch_requests, self.request_error = max_batch_requests, request_error
        self.hold = threading.Event()  # set: batches stay in progress (a test kills its client then)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.billed: Counter[str] = Counter()  # custom_id -> times answered (paid for)
        self.batch_sizes: list[int] = []  # requests of each batch created, in order
        self.retrieved = 0  # GET /v1/batches/{id} calls

    def _more_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches", self._list)
        app.router.add_get("/v1/batches/{id}", self._retrieve)
        app.router.add_post("/v1/batches/{id}/cancel", self._cancel)

    async def _upload(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or not isinstance(upload, web.FileField):
            return self._error(400, "a batch file needs purpose=batch and a file")
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = upload.file.read()
        return _json({"id": file_id, "object": "file", "purpose": "batch"})

    async def _content(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        if data is None:
            return self._error(404, "no such file")
        return web.Response(body=data, content_type="application/jsonl")

    async def _create(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        data = self.files.get(body.get("input_file_id", ""))
        if data is None or body.get("completion_window") != "24h":
            return self._error(400, "input_file_id must name an uploaded file; completion_window 24h")
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        number = len(self.batches)
        batch: dict[str, Any] = {
            "id": f"batch-{number}", "object": "batch", "status": "in_progress", "looks": 0,
            "number": number, "lines": lines, "input_file_id": body["input_file_id"],
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }  # fmt: skip
        self.batches[batch["id"]] = batch
        self.batch_sizes.append(len(lines))
        return _json(_shown(batch))

    async def _list(self, request: web.Request) -> web.Response:
        """The batches newest first, ``limit`` a page, after the batch ``after`` (as OpenAI pages)."""
        newest = list(reversed(self.batches.values()))
        ids = [batch["id"] for batch in newest]
        after = request.query.get("after")
        start = ids.index(after) + 1 if after in ids else 0
        page = newest[start : start + int(request.query.get("limit", "20"))]
        more = start + len(page) < len(newest)
        last = page[-1]["id"] if page else None
        return _json({"object": "list", "data": [_shown(b) for b in page], "has_more": more, "last_id": last})

    async def _retrieve(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return self._error(404, "no such batch")
        self.retrieved += 1
        if batch["status"] == "in_progress" and not self.hold.is_set():
            batch["looks"] += 1
            if batch["looks"] >= self.polls:
                self._finish(batch)
        return _json(_shown(batch))

    async def _cancel(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return self._error(404, "no such batch")
        if batch["status"] == "in_progress":
            self._finish(batch, "cancelled")
        return _json(_shown(batch))

    def _finish(self, batch: dict[str, Any], outcome: str | None = None) -> None:
        """Run a batch's requests as scripted and write its output and error files."""
        lines = batch["lines"]
        outcome = outcome or self.outcomes.get(batch["number"], "completed")
        cap = self.max_batch_requests
        if outcome == "failed" or (cap is not None and len(lines) > cap):
            why = f"the batch has {len(lines)} requests, more than the limit of {cap}"
            message = "insufficient credit to run this batch" if outcome == "failed" else why
            batch.update(status="failed", errors={"data": [{"code": "batch_failed", "message": message}]})
            return
        ran = {"completed": lines, "expired": lines[: self.expire_after]}.get(outcome, [])
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for line in ran:
            answer = self._run_line(line)
            (errors if "error" in answer["response"]["body"] else output).append(answer)
        code = "batch_expired" if outcome == "expired" else "batch_cancelled"
        unrun = {"message": f"this request was not run: the batch was {outcome}", "code": code}
        errors += [
            {"custom_id": line["custom_id"], "response": None, "error": unrun} for line in lines[len(ran) :]
        ]
        batch.update(
            status=outcome,
            request_counts={"total": len(lines), "completed": len(output), "failed": len(errors)},
        )
        batch["output_file_id"] = self._store(output)
        batch["error_file_id"] = self._store(errors)

    def _run_line(self, line: dict[str, Any]) -> dict[str, Any]:
        """One request of a batch, answered as the chat route would (and billed)."""
        custom_id, body = line["custom_id"], line["body"]
        message = self.request_error(custom_id, body) if self.request_error is not None else None
        if message is not None:
            error = {"error": {"message": message, "type": "invalid_request_error"}}
            return {"custom_id": custom_id, "response": {"status_code": 400, "body": error}, "error": None}
        self.billed[custom_id] += 1
        messages = body["messages"]
        reply = self.responder(messages, body)
        if isinstance(reply, RawAnswer):
            raise ValueError("a batch answers with the responder's text, not a RawAnswer")
        text, finish = _cut(reply, body.get("max_tokens"), None)
        answer = self._completion(sum(self.billed.values()), messages, body, text, finish)
        return {"custom_id": custom_id, "response": {"status_code": 200, "body": answer}, "error": None}

    def _store(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return file_id


def _shown(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k not in ("lines", "looks", "number")}


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(body), content_type="application/json")


__all__ = ["FakeBatchServer"]
