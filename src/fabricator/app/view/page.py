"""The report page: one self-contained HTML file (style, script and data inline, nothing fetched).

The run's data travels as JSON in a ``<script type="application/json">`` block with every ``<``,
``>`` and ``&`` written as a ``\\u`` escape, so no text from the data (a model's answer holding
``</script>``) can end the block or become markup; the page's script (``page.js``) draws it with
``textContent`` only. The page works from ``file://``, offline, with no CDN.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..safe_files import atomic_write
from .collect import MAX_ROWS, collect_run

__all__ = ["REPORT_PAGE", "embed_json", "render_page", "write_page"]

#: the page's name in a run folder (the card links it)
REPORT_PAGE = "report.html"

_SKELETON = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<h1 id="title">{title}</h1>
<noscript><p>This page draws its figures and tables with JavaScript: allow scripts to see them.
The run's data is in the block with id run-data.</p></noscript>
<h2>Summary</h2>
<section id="summary"></section>
<div class="grid">
<section><h2>Labels made and requested</h2><div id="labels"></div></section>
<section><h2>Confidence</h2><div id="confidence"></div></section>
<section><h2>Judge scores</h2><div id="judge"></div></section>
<section><h2>Diversity</h2><div id="diversity"></div></section>
</div>
<h2>The first call</h2>
<section id="first-call"></section>
<h2>Rows and failures</h2>
<div class="data">
<div id="rows-panel">
<div class="filters">
<label>search <input id="search" type="search"></label>
<label>label <select id="label-filter"><option value="">all</option></select></label>
<label>confidence below <input id="conf-below" type="number" min="0" max="1" step="0.05"></label>
<label><input id="flagged-only" type="checkbox"> flagged by votes</label>
<label>judge <select id="judge-criterion"><option value="">criterion</option></select></label>
<label>from <input id="judge-min" type="number" step="0.5"></label>
<label>to <input id="judge-max" type="number" step="0.5"></label>
</div>
<p id="rows-count" class="note"></p>
<table id="rows-table"><thead id="rows-head"></thead><tbody id="rows-body"></tbody></table>
</div>
<div id="failures-panel">
<div class="filters">
<label>kind <select id="failure-kind"><option value="">all</option></select></label>
<label>search <input id="failure-search" type="search"></label>
</div>
<p id="failures-count" class="note"></p>
<table id="failures-table"><thead><tr><th>row</th><th>kind</th><th>error</th><th>raw answer</th></tr></thead>
<tbody id="failures-body"></tbody></table>
</div>
</div>
<script type="application/json" id="run-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: JSON.parse refuses them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` block: ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_page(data: Mapping[str, Any]) -> str:
    """The HTML text of the page of ``data`` (what :func:`~.collect.collect_run` returns)."""
    return _SKELETON.format(
        title=html.escape(f"Fabricator run: {data.get('title', '')}"),
        css=_asset("page.css"),
        js=_asset("page.js").replace("</", "<\\/"),  # the script's own text cannot end its block
        data=embed_json(data),
    )


def write_page(run_dir: str | Path, *, gold: str | Path | None = None, max_rows: int = MAX_ROWS) -> Path:
    """Write ``RUN_DIR/report.html`` (whole or not at all: a temporary file renamed); its path."""
    folder = Path(run_dir)
    page = render_page(collect_run(folder, gold=gold, max_rows=max_rows))
    target = folder / REPORT_PAGE
    atomic_write(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return target
