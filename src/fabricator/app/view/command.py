"""``fabricator view RUN_DIR``: write the run's report page, serve it locally, open a browser.

The page is written as ``RUN_DIR/report.html`` first (it also opens from disk, offline), then
served on 127.0.0.1 at a free port until Ctrl-C. A browser is opened only where a graphical one
can be (on Linux: a display is set), never a text browser that would take over the terminal.
``--no-serve`` writes the page and stops; ``--no-open`` serves without opening anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

from .page import write_page
from .serve import serving

__all__ = ["add_view_parser", "view_run"]


def _wait_for_ctrl_c() -> None:
    while True:
        time.sleep(3600)


def _graphical() -> bool:
    """Whether a browser window can open here (no display on Linux: only text browsers would)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def view_run(
    run_dir: str | Path,
    *,
    gold: str | Path | None = None,
    serve: bool = True,
    open_browser: bool = True,
    port: int = 0,
    wait: Callable[[], None] = _wait_for_ctrl_c,
    opener: Callable[[str], bool] = webbrowser.open,
) -> Path:
    """Write ``RUN_DIR/report.html`` and, with ``serve``, serve it until ``wait`` returns or Ctrl-C.

    ``wait`` and ``opener`` are what a test replaces: the default waits for Ctrl-C and opens the
    system's browser. Returns the page's path.
    """
    page = write_page(run_dir, gold=gold)
    print(f"wrote {page}")
    if not serve:
        return page
    with serving(page, port) as server:
        print(f"serving {server.url} (Ctrl-C stops)", flush=True)
        if open_browser and _graphical() and not opener(server.url):
            print("no browser could be opened: open the address above")
        try:
            wait()
        except KeyboardInterrupt:
            print("stopped")
    return page


def _view_command(args: argparse.Namespace) -> int:
    view_run(args.output, gold=args.gold, serve=args.serve, open_browser=args.open, port=args.port)
    return 0


def add_view_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fabricator view RUN_DIR [--gold FILE] [--no-serve] [--no-open] [--port N]``."""
    view = commands.add_parser(
        "view",
        help="a run's report as one page: figures, the first call, rows and failures",
        description=(
            "Write RUN_DIR/report.html (one self-contained page: no network needed) and serve it on "
            "127.0.0.1 at a free port, opening the browser when there is one; Ctrl-C stops. "
            "Example: fabricator view out/sentiment"
        ),
    )
    view.add_argument("output", metavar="RUN_DIR", help="the output folder of a run (generate -o)")
    view.add_argument("--gold", metavar="FILE", help="gold labels: adds the risk-coverage curve")
    view.add_argument("--no-serve", dest="serve", action="store_false", help="write the page and stop")
    view.add_argument("--no-open", dest="open", action="store_false", help="serve, but open no browser")
    view.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    view.set_defaults(handler=_view_command)
