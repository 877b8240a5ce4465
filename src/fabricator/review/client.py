"""A small Label Studio HTTP client on aiohttp (already a dependency): projects, tasks, export.

Auth: the token comes only from ``LABEL_STUDIO_API_KEY``. A personal access token (a JWT, the
default kind since Label Studio 1.22) is a refresh token: it is exchanged at
``/api/token/refresh`` for a short-lived access token sent as ``Bearer``, refreshed again on a
401. Anything else is a legacy token, sent as ``Token``. The token never appears in a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ..errors import ConfigError, FabricatorError

__all__ = ["TOKEN_ENV", "LabelStudioClient", "LabelStudioError", "label_studio_token"]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
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

    def __init__(self, url: str, token: str, *, timeout: float = 120.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{url!r} is not a Label Studio URL",
                hint="give it as http://HOST:PORT (--url or LABEL_STUDIO_URL)",
            )
        self.url = url.rstrip("/")
        self._token = token
        self._auth: str | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
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
                f"Label Studio at {self.url} refused the access token in {TOKEN_ENV} (HTTP {status})",
                hint=_GET_TOKEN,
            )
        self._auth = f"Bearer {body['access']}"
        return self._auth

    async def _send(self, method: str, path: str, payload: Any, auth: str | None) -> tuple[int, Any]:
        assert self._session is not None, "use the client in 'async with'"
        headers = {"Authorization": auth} if auth else {}
        try:
            async with self._session.request(
                method, self.url + path, json=payload, headers=headers, allow_redirects=False
            ) as response:
                text = await response.text()
                try:
                    body: Any = await response.json(content_type=None) if text else None
                except ValueError:
                    body = text
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LabelStudioError(
                f"cannot reach Label Studio at {self.url}: {self._masked(str(exc)) or type(exc).__name__}",
                hint="start Label Studio, or give its address with --url",
            ) from None

    async def request(self, method: str, path: str, payload: Any = None) -> Any:
        """The JSON body of a successful request; LabelStudioError / ConfigError otherwise."""
        status, body = await self._send(method, path, payload, await self._authorization())
        if status == 401 and _is_jwt(self._token):  # the access token expired: one more
            status, body = await self._send(method, path, payload, await self._authorization(renew=True))
        if status in (401, 403):
            raise ConfigError(
                f"Label Studio at {self.url} refused the token in {TOKEN_ENV} (HTTP {status})",
                hint=_GET_TOKEN,
            )
        if status >= 400 or status in (301, 302):
            detail = body if isinstance(body, str) else (body or {}).get("detail") or body
            raise LabelStudioError(
                f"Label Studio {method} {path} failed (HTTP {status}): {self._masked(str(detail))[:500]}",
                hint="check the project id and that the server is a Label Studio of version 1.20 or later",
            )
        return body

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def post(self, path: str, payload: Any) -> Any:
        return await self.request("POST", path, payload)

    # --- the calls the review loop makes -------------------------------------------------------------

    async def projects(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.get(f"/api/projects/?page={page}&page_size=100")
            results = body.get("results", []) if isinstance(body, Mapping) else list(body or [])
            found.extend(results)
            if not isinstance(body, Mapping) or not body.get("next") or not results:
                return found
            page += 1

    async def project(self, project_id: int) -> dict[str, Any]:
        body = await self.get(f"/api/projects/{project_id}/")
        return dict(body)

    async def create_project(self, title: str, label_config: str, description: str) -> dict[str, Any]:
        body = await self.post(
            "/api/projects/", {"title": title, "label_config": label_config, "description": description}
        )
        return dict(body)

    async def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> None:
        for start in range(0, len(tasks), 500):
            await self.post(f"/api/projects/{project_id}/import", tasks[start : start + 500])

    async def tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of the project with its annotations (the JSON export)."""
        body = await self.get(f"/api/projects/{project_id}/export?exportType=JSON&download_all_tasks=true")
        return list(body or [])
