"""A small Label Studio HTTP client on aiohttp (already a dependency): projects, tasks, export.

Auth: the token comes only from ``LABEL_STUDIO_API_KEY``. A personal access token (a JWT, the
default kind since Label Studio 1.22) is a refresh token: it is exchanged at
``/api/token/refresh`` for a short-lived access token sent as ``Bearer``, refreshed again on a
401. Anything else is a legacy token, sent as ``Token``. The token never appears in a message.

Every request has connect and read timeouts and a capped answer (``fabricator.app.http_limits``); an
answer that is not JSON, a redirect, or JSON of the wrong shape is a one-line ``LabelStudioError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ...errors import ConfigError, FabricatorError
from ...redact import redact_url
from ..http_limits import TIMEOUT_ENV, HttpLimits, http_limits, one_line

__all__ = ["TOKEN_ENV", "LabelStudioClient", "LabelStudioError", "label_studio_token", "project_id"]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
_NOT_LS = "check --url: the server there does not answer as a Label Studio of version 1.20 or later"
_GET_TOKEN = (
    f"set {TOKEN_ENV} to a Label Studio access token (Account & Settings > Personal Access Token; "
    "a legacy token works only where the organization enables legacy tokens)"
)


class LabelStudioError(FabricatorError):
    """Label Studio refused or failed a request (auth, project, network)."""


def label_studio_token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"no Label Studio token: {TOKEN_ENV} is not set", hint=_GET_TOKEN)
    return token


def _is_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class LabelStudioClient:
    """``async with LabelStudioClient(url, token) as ls: await ls.get("/api/projects")``."""

    def __init__(self, url: str, token: str, *, limits: HttpLimits | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{redact_url(url)!r} is not a Label Studio URL",
                hint="give it as http://HOST:PORT (--url or LABEL_STUDIO_URL)",
            )
        if redact_url(url) != url:  # aiohttp cannot send both: say so, never echo the password
            raise ConfigError(
                f"the Label Studio address {redact_url(url)} carries a user and password",
                hint=f"give it without user:password@; the token comes from {TOKEN_ENV}",
            )
        self.url = url.rstrip("/")
        self.shown = redact_url(self.url)  # the address as messages show it: no credentials
        self._token = token
        self._auth: str | None = None
        self._limits = limits or http_limits()
        self._timeout = aiohttp.ClientTimeout(
            total=self._limits.total,
            connect=self._limits.connect,
            sock_connect=self._limits.connect,
            sock_read=self._limits.timeout,
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LabelStudioClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    def _masked(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    async def _authorization(self, *, renew: bool = False) -> str:
        if self._auth is not None and not renew:
            return self._auth
        if not _is_jwt(self._token):
            self._auth = f"Token {self._token}"
            return self._auth
        status, body = await self._send("POST", "/api/token/refresh/", {"refresh": self._token}, None)
        if status >= 400 or not isinstance(body, Mapping) or "access" not in body:
            raise ConfigError(
                f"Label Studio at {self.shown} refused the access token in {TOKEN_ENV} (HTTP {status})",
                hint=_GET_TOKEN,
            )
        self._auth = f"Bearer {body['access']}"
        return self._auth

    async def _send(self, method: str, path: str, payload: Any, auth: str | None) -> tuple[int, Any]:
        """The status and the decoded body (JSON, else the text) of one request."""
        assert self._session is not None, "use the client in 'async with'"
        headers = {"Authorization": auth} if auth else {}
        try:
            async with self._session.request(
                method, self.url + path, json=payload, headers=headers, allow_redirects=False
            ) as response:
                if 300 <= response.status < 400:
                    return response.status, response.headers.get("Location", "elsewhere")
                raw = await self._read(response)
                return response.status, _decoded(raw, response.charset)
        except TimeoutError:
            raise LabelStudioError(
                f"Label Studio at {self.shown} did not answer {method} {_path(path)} "
                f"within {self._limits.timeout:g} s",
                hint=f"check that Label Studio runs there, or wait longer with --timeout or {TIMEOUT_ENV}",
            ) from None
        except aiohttp.ClientError as exc:
            raise LabelStudioError(
                f"cannot reach Label Studio at {self.shown}: "
                f"{one_line(self._masked(str(exc))) or type(exc).__name__}",
                hint="start Label Studio, or give its address with --url",
            ) from None

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, read in chunks and stopped past the size cap (never whole into memory)."""
        cap = self._limits.max_bytes
        if (response.content_length or 0) > cap:
            raise self._too_large()
        body = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > cap:
                raise self._too_large()
        return bytes(body)

    def _too_large(self) -> LabelStudioError:
        return LabelStudioError(
            self._limits.too_large(f"Label Studio at {self.shown}"), hint=self._limits.too_large_hint()
        )

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        """The JSON body of a successful request; LabelStudioError / ConfigError otherwise."""
        status, body = await self._send(method, path, payload, await self._authorization())
        if status == 401 and _is_jwt(self._token):  # the access token expired: one more
            status, body = await self._send(method, path, payload, await self._authorization(renew=True))
        if status in (401, 403):
            raise ConfigError(
                f"Label Studio at {self.shown} refused the token in {TOKEN_ENV} (HTTP {status})",
                hint=_GET_TOKEN,
            )
        what = f"Label Studio {method} {_path(path)}"
        if 300 <= status < 400:
            raise LabelStudioError(
                f"{what} answered HTTP {status}, a redirect to {redact_url(str(body))}",
                hint="give Label Studio's final address with --url (redirects are not followed)",
            )
        if status >= 400:
            detail = body.get("detail") if isinstance(body, Mapping) else None
            raise LabelStudioError(
                f"{what} failed (HTTP {status}): {one_line(self._masked(str(detail or body or '')))}",
                hint=_status_hint(status),
            )
        if isinstance(body, _NotJson):
            raise LabelStudioError(f"{what} answered something that is not JSON: {body.head}", hint=_NOT_LS)
        return body

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, payload: Any) -> Any:
        return await self.request("POST", path, payload)

    # --- the calls the review loop makes -------------------------------------------------------------

    async def projects(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            path = f"/api/projects/?page={page}&page_size=100"
            body = await self.get(path)
            paged = isinstance(body, Mapping)
            results = _records(body.get("results") if paged else body, f"GET {path}")
            found.extend(results)
            if not paged or not body.get("next") or not results:
                return found
        raise LabelStudioError(
            f"Label Studio at {self.shown} lists more than {_MAX_PAGES} pages of projects", hint=_NOT_LS
        )

    async def project(self, project_id: int) -> dict[str, Any]:
        path = f"/api/projects/{project_id}/"
        return _project(await self.get(path), f"GET {path}")

    async def create_project(self, title: str, label_config: str, description: str) -> dict[str, Any]:
        body = await self.post(
            "/api/projects/", {"title": title, "label_config": label_config, "description": description}
        )
        return _project(body, "POST /api/projects/")

    async def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> None:
        for start in range(0, len(tasks), 500):
            await self.post(f"/api/projects/{project_id}/import", tasks[start : start + 500])

    async def tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of the project with its annotations (the JSON export)."""
        path = f"/api/projects/{project_id}/export?exportType=JSON&download_all_tasks=true"
        return _records(await self.get(path), f"GET {path}")


# --- answers checked for the shape the review loop reads ---------------------------------------------

_MAX_PAGES = 1000  # 100 projects a page: a server whose "next" never ends stops here


class _NotJson(str):
    """A body that did not decode as JSON; ``head`` is its start, on one line, for the message."""

    @property
    def head(self) -> str:
        return repr(one_line(self, 80)) if self.strip() else "an empty body"


def _decoded(raw: bytes, charset: str | None) -> Any:
    if not raw.strip():
        return None
    text = raw.decode(charset or "utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return _NotJson(text)


def _path(path: str) -> str:
    return path.partition("?")[0]


def _status_hint(status: int) -> str:
    if status == 404:
        return "check the project id (--project) and that --url is a Label Studio of version 1.20 or later"
    if status == 429:
        return "Label Studio limits your requests: wait a minute, then run the command again"
    if status >= 500:
        return "Label Studio failed on its side: see its log, then run the command again"
    return "check the project id and that the server is a Label Studio of version 1.20 or later"


def _shape_error(what: str, wanted: str, body: Any) -> LabelStudioError:
    got = "null" if body is None else type(body).__name__
    return LabelStudioError(
        f"Label Studio {_path(what)} answered {got} where {wanted} was expected", hint=_NOT_LS
    )


def _records(body: Any, what: str) -> list[dict[str, Any]]:
    """A JSON list of objects (tasks, projects); anything else is an error naming the request."""
    if not isinstance(body, list) or not all(isinstance(item, Mapping) for item in body):
        raise _shape_error(what, "a list of objects", body)
    return [dict(item) for item in body]


def _project(body: Any, what: str) -> dict[str, Any]:
    """A project object with an integer ``id``."""
    if not isinstance(body, Mapping):
        raise _shape_error(what, "a project object", body)
    project_id(body, what)
    return dict(body)


def project_id(project: Mapping[str, Any], what: str) -> int:
    """The integer ``id`` of a project the server sent; LabelStudioError when it has none."""
    ident = project.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool):
        shown = one_line(repr(ident), 40)
        raise LabelStudioError(
            f"Label Studio {_path(what)} answered a project without an integer id ({shown})", hint=_NOT_LS
        )
    return ident
