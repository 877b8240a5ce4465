"""A fake Hugging Face Hub on 127.0.0.1 for tests: dataset repos held in memory.

It speaks the endpoints that ``huggingface_hub`` uses to create a repo and commit files to it
(``/api/repos/create``, ``preupload``, ``commit``, ``validate-yaml``) and those that
``datasets.load_dataset(repo_id)`` uses to read one back (repo info, ``tree``, ``paths-info``,
``resolve`` with the ``X-Repo-Commit`` / ``ETag`` / ``Content-Length`` headers the client checks),
so a push can be tested end to end with ``HF_ENDPOINT`` pointing here. Every file is committed as
a regular (non-LFS) blob; writes need ``Authorization: Bearer <token>``::

    with FakeHub(token="hf_test") as hub:
        ... HF_ENDPOINT=hub.endpoint ...
        hub.repos["user/name"].files   # {path: bytes}
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeHub", "HubRepo"]

USER = "user"


@dataclass
class HubRepo:
    """One dataset repo: its files at the head commit, and the commits made."""

    repo_id: str
    private: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


def _oid(data: bytes) -> str:
    """The git blob id of ``data``, as the Hub reports a file's oid."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """The server: start with ``with FakeHub() as hub`` (or ``start``/``stop``)."""

    def __init__(self, token: str = "hf_fake_token") -> None:
        self.token = token
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.unknown: list[tuple[str, str]] = []  # requests no route answered (404)
        self.authorizations: list[str] = []  # Authorization headers seen (to prove a token was sent)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start the FakeHub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the repo operations the handler calls (under the lock) --

    def create(self, repo_id: str, private: bool) -> bool:
        with self._lock:
            if repo_id in self.repos:
                return False
            self.repos[repo_id] = HubRepo(repo_id, private=private)
            return True

    def commit(self, repo: HubRepo, adds: dict[str, bytes], deletes: list[str], summary: str) -> str:
        with self._lock:
            for path in deletes:
                repo.files = {
                    p: d for p, d in repo.files.items() if p != path and not p.startswith(path + "/")
                }
            repo.files.update(adds)
            sha = hashlib.sha1(
                f"{repo.sha}{summary}{sorted(repo.files)}{len(repo.commits)}".encode()
            ).hexdigest()
            repo.commits.append(sha)
            return sha


_API = re.compile(r"^/api/datasets/(?P<id>[^/]+/[^/]+)(?:/(?P<op>[a-z-]+)(?:/(?P<rest>.*))?)?$")
_RESOLVE = re.compile(r"^/datasets/(?P<id>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read hub.requests
        pass

    # -- plumbing --

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, head: bool = False
    ) -> None:
        self.send_response(status)
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message}, {"X-Error-Message": message})

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        if auth:
            self.hub.authorizations.append(auth)
        return auth == f"Bearer {self.hub.token}"

    def _repo(self, repo_id: str) -> HubRepo | None:
        """The repo, if it exists and this request may read it (else a 401/404 was sent)."""
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            return None
        return repo

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        self.hub.requests.append((method, path))
        body = self._body() if method == "POST" else b""
        if method == "POST" and path == "/api/repos/create":
            return self._create(body)
        if method == "POST" and path == "/api/validate-yaml":
            return self._json(200, {"errors": [], "warnings": []})
        if method == "GET" and path == "/api/whoami-v2":
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            return self._json(200, {"type": "user", "name": USER, "fullname": USER, "orgs": [], "auth": {}})
        m = _RESOLVE.match(path)
        if m and method in ("GET", "HEAD"):
            return self._resolve(m["id"], m["path"], head=method == "HEAD")
        m = _API.match(path)
        if m and self._repo_api(method, m, query, body):
            return None
        self.hub.unknown.append((method, path))
        return self._error(404, f"fake hub: no route for {method} {path}")

    def _repo_api(self, method: str, m: re.Match[str], query: dict[str, list[str]], body: bytes) -> bool:
        """Answer ``/api/datasets/<id>/<op>``; ``False`` when no such route (a 404 follows)."""
        repo = self._repo(m["id"])
        if repo is None:
            return True  # refused already
        op, rest = m["op"], m["rest"] or ""
        if method == "GET" and op in (None, "revision"):
            self._json(200, self._info(repo))
        elif method == "GET" and op == "tree":
            _rev, _, sub = rest.partition("/")
            self._tree(repo, sub, recursive=query.get("recursive", ["false"])[0] in ("1", "true"))
        elif method == "POST" and op == "paths-info":
            self._paths_info(repo, body)
        elif method == "POST" and op == "preupload":
            self._preupload(body)
        elif method == "POST" and op == "commit":
            self._commit(repo, body)
        else:
            return False
        return True

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    # -- endpoints --

    def _create(self, body: bytes) -> None:
        if not self._authorized():
            return self._error(401, "Invalid credentials in Authorization header")
        payload = json.loads(body or b"{}")
        if payload.get("type") != "dataset":
            return self._error(400, "the fake hub holds dataset repos only")
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = f"{self.hub.endpoint}/datasets/{repo_id}"
        if not self.hub.create(repo_id, private):
            return self._json(409, {"error": "You already created this dataset repo", "url": url})
        return self._json(200, {"url": url, "name": repo_id})

    def _info(self, repo: HubRepo) -> dict[str, Any]:
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": repo.sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
        }

    def _entries(self, repo: HubRepo) -> dict[str, dict[str, Any]]:
        """Every file and folder of the repo, as the tree endpoint describes them."""
        out: dict[str, dict[str, Any]] = {}
        for p, data in repo.files.items():
            out[p] = {"type": "file", "oid": _oid(data), "size": len(data), "path": p}
            parts = p.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                out.setdefault(d, {"type": "directory", "oid": _oid(d.encode()), "size": 0, "path": d})
        return out

    def _tree(self, repo: HubRepo, sub: str, recursive: bool) -> None:
        sub = sub.strip("/")
        entries = self._entries(repo)
        if sub and entries.get(sub, {}).get("type") != "directory":
            return self._json(404, {"error": f"{sub} not found"}, {"X-Error-Code": "EntryNotFound"})
        prefix = f"{sub}/" if sub else ""
        listed = [
            e
            for p, e in sorted(entries.items())
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]
        return self._json(200, listed)

    def _paths_info(self, repo: HubRepo, body: bytes) -> None:
        ctype = self.headers.get("Content-Type") or ""
        if "json" in ctype:
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        entries = self._entries(repo)
        return self._json(200, [entries[p.strip("/")] for p in paths if p.strip("/") in entries])

    def _preupload(self, body: bytes) -> None:
        if not self._authorized():
            return self._error(401, "Invalid credentials in Authorization header")
        files = json.loads(body or b"{}").get("files", [])
        answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
        return self._json(200, {"files": answer})

    def _commit(self, repo: HubRepo, body: bytes) -> None:
        if not self._authorized():
            return self._error(401, "Invalid credentials in Authorization header")
        adds: dict[str, bytes] = {}
        deletes: list[str] = []
        summary = ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item.get("value", {})
            if item["key"] == "header":
                summary = value.get("summary", "")
            elif item["key"] == "file":
                adds[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deletes.append(value["path"])
            else:
                return self._error(400, f"the fake hub takes regular files only, not {item['key']}")
        sha = self.hub.commit(repo, adds, deletes, summary)
        url = f"{self.hub.endpoint}/datasets/{repo.repo_id}/commit/{sha}"
        return self._json(200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None})

    def _resolve(self, repo_id: str, path: str, head: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return None
        data = repo.files.get(path)
        if data is None:
            self.hub.unknown.append(("GET", f"/datasets/{repo_id}/resolve/{path}"))
            return self._send(
                404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"}, head=head
            )
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{_oid(data)}"',
            "Accept-Ranges": "bytes",
        }
        status = 200
        rng = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if rng and not head:
            start = int(rng[1])
            end = min(int(rng[2]) if rng[2] else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        headers["Content-Length"] = str(len(data))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return None
