"""Serve one report page on 127.0.0.1 at a free port, until Ctrl-C.

Only the page itself is served (``/`` and ``/report.html``); every other path is a 404, so the
server never hands out the run's other files (its journal, its log) to whatever else runs on the
machine. The page is read from disk on each request: ``fabricator view`` run again refreshes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PageServer", "serving"]

_HOST = "127.0.0.1"


class _PageHandler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/", "/" + self.server.page.name):
            self.send_error(404, "only the report page is served here")
            return
        try:
            body = self.server.page.read_bytes()
        except OSError:
            self.send_error(404, "the report page is gone")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a page view is not worth a line on the console."""


class PageServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that serves ``page`` only (``port=0``: a free port)."""

    daemon_threads = True

    def __init__(self, page: Path, port: int = 0) -> None:
        self.page = page
        super().__init__((_HOST, port), _PageHandler)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.server_address[1]}/{self.page.name}"


@contextmanager
def serving(page: Path, port: int = 0) -> Iterator[PageServer]:
    """The page served on a background thread for the ``with`` block (tests, notebooks)."""
    server = PageServer(page, port)
    thread = threading.Thread(target=server.serve_forever, name="fabricator-view", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
