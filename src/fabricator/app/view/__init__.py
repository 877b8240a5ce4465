"""A run's report as one page: ``fabricator view RUN_DIR`` and the ``report.html`` of every run.

:mod:`.collect` gathers a run folder into one JSON-ready dict (figures from :mod:`.figures`),
:mod:`.page` turns it into a self-contained HTML page (``page.css`` and ``page.js`` inline),
:mod:`.serve` serves that page on 127.0.0.1 and :mod:`.command` is the command line.
"""

from __future__ import annotations

from .collect import MAX_ROWS, collect_run
from .command import add_view_parser, view_run
from .page import REPORT_PAGE, embed_json, render_page, write_page
from .serve import PageServer, serving

__all__ = [
    "MAX_ROWS",
    "REPORT_PAGE",
    "PageServer",
    "add_view_parser",
    "collect_run",
    "embed_json",
    "render_page",
    "serving",
    "view_run",
    "write_page",
]
