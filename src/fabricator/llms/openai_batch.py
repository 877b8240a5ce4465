"""OpenAI's Batch API over the chat backend's session: upload a JSONL file, create, poll, read back.

The same files are served by OpenAI, Together, OpenRouter and vLLM's ``run_batch``. Each request
line is the chat body ``OpenAICompatible`` would POST online, so a batch answer is read by the same
checks as an online one (``openai_answers``); a request the provider refused (the error file, or an
error inside the output) is a ``RequestRefused`` carrying the provider's message, kept as data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from ..errors import BackendError, RequestRefused
from .base import Request
from .batch_api import Answer, BatchInfo
from .http_session import LoopSession
from .openai_answers import completion_of, content_text
from .openai_errors import TRANSPORT_ERRORS, Endpoint, malformed, status_error, transport_error

CHAT_PATH = "/v1/chat/completions"
#: seconds for one files or batches call (an output file of a big batch takes a while to read)
_CALL_TIMEOUT = 600.0
_ERROR_BODY_BYTES = 64 * 1024
#: batches per page of ``GET /v1/batches`` (the most OpenAI gives)
_PAGE = 100
#: error codes of requests a batch never ran (it expired or was cancelled first): asked again
UNFINISHED = frozenset({"batch_expired", "batch_cancelled"})


class OpenAIBatches:
    """The ``BatchAPI`` of an OpenAI-compatible server (``OpenAICompatible.batches()``)."""

    def __init__(
        self,
        base_url: str,
        sessions: LoopSession,
        endpoint: Endpoint,
        body: Callable[[Request], bytes],
        proxy: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._sessions = sessions
        self._endpoint = endpoint
        self._body = body
        self._proxy = proxy

    def line(self, custom_id: str, request: Request) -> bytes:
        body = json.loads(self._body(request))
        line = {"custom_id": custom_id, "method": "POST", "url": CHAT_PATH, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    async def upload(self, lines: Sequence[bytes]) -> str:
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="batch.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        data = head + b"".join(lines) + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        answer = await self._call("POST", "/files", data=data, headers=headers)
        return str(answer["id"])

    async def create(self, input_file: str) -> BatchInfo:
        body = {"input_file_id": input_file, "endpoint": CHAT_PATH, "completion_window": "24h"}
        return info_of(await self._call("POST", "/batches", data=json.dumps(body).encode()))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return info_of(await self._call("GET", f"/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return info_of(await self._call("POST", f"/batches/{batch_id}/cancel"))

    async def list_batches(self) -> list[BatchInfo]:
        """Every batch, page by page (``GET /v1/batches?limit=100&after=...`` while ``has_more``)."""
        infos: list[BatchInfo] = []
        after = ""
        while True:
            page = await self._call("GET", f"/batches?limit={_PAGE}" + (f"&after={after}" if after else ""))
            data = page.get("data") or []
            infos += [info_of(batch) for batch in data]
            if not page.get("has_more") or not data:
                return infos
            after = str(page.get("last_id") or data[-1]["id"])

    async def answers(self, file_id: str) -> dict[str, Answer]:
        raw = await self._call("GET", f"/files/{file_id}/content", text=True)
        out: dict[str, Answer] = {}
        for text in raw.splitlines():
            if text.strip():
                custom_id, answer = self._answer(json.loads(text))
                if answer is not None:  # None: never run (expired, cancelled): asked again
                    out[custom_id] = answer
        return out

    def _answer(self, line: dict[str, Any]) -> tuple[str, Answer | None]:
        """One line of an output or error file: the answer of its ``custom_id``."""
        custom_id = str(line.get("custom_id"))
        error, response = line.get("error"), line.get("response") or {}
        body = response.get("body") if isinstance(response, dict) else None
        status = int(response.get("status_code") or 0) if isinstance(response, dict) else 0
        if error or status >= 300 or not isinstance(body, dict):
            detail = error if isinstance(error, dict) else None
            if detail is None and isinstance(body, dict):
                detail = body.get("error")
            if isinstance(detail, dict) and detail.get("code") in UNFINISHED:
                return custom_id, None
            return custom_id, refused(detail if detail is not None else error, status)
        return custom_id, self._completion(body, status)

    def _completion(self, data: dict[str, Any], status: int) -> Answer:
        raw = json.dumps(data).encode()
        try:
            choice = data["choices"][0]
            text = content_text(choice["message"].get("content"))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            return malformed(self._endpoint, raw, data, status, f"a batch answer without a message: {exc}")
        if text is None:
            error = malformed(self._endpoint, raw, data, status, "message.content is not text")
            error.retryable = False
            return error
        return completion_of(data, choice, text, self._endpoint.model)

    async def _call(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
        text: bool = False,
    ) -> Any:  # fmt: skip
        session = await self._sessions.get()
        timeout = aiohttp.ClientTimeout(total=_CALL_TIMEOUT)
        try:
            async with session.request(
                method, self.base_url + path, data=data, headers=headers, timeout=timeout,
                proxy=self._proxy, allow_redirects=False,
            ) as resp:  # fmt: skip
                raw = await resp.read()
                if resp.status >= 300:
                    retry_after = resp.headers.get("Retry-After")
                    raise status_error(
                        self._endpoint, resp.status, raw[:_ERROR_BODY_BYTES], retry_after, resp.headers
                    )
        except BackendError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self._endpoint, exc, _CALL_TIMEOUT) from exc
        if text:
            return raw.decode("utf-8", "replace")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise malformed(self._endpoint, raw, None, resp.status) from exc


def refused(detail: Any, status: int) -> RequestRefused:
    """A request the provider did not answer, with its message (kept as the row's failure)."""
    message = str(detail.get("message") or detail.get("code")) if isinstance(detail, dict) else str(detail)
    failure = RequestRefused(f"the batch API refused the request: {message}", status=status or None)
    failure.retryable = False
    return failure


def info_of(data: Any) -> BatchInfo:
    """A batch object as ``BatchInfo``."""
    counts = data.get("request_counts") or {}
    errors = (data.get("errors") or {}).get("data") or []
    return BatchInfo(
        id=str(data["id"]),
        status=str(data.get("status")),
        output_file=data.get("output_file_id"),
        error_file=data.get("error_file_id"),
        errors=tuple(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)),
        completed=int(counts.get("completed") or 0),
        failed=int(counts.get("failed") or 0),
        total=int(counts.get("total") or 0),
        input_file=data.get("input_file_id"),
    )


__all__ = ["CHAT_PATH", "UNFINISHED", "OpenAIBatches", "info_of", "refused"]
