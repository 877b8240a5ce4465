"""The report page of a run, read with an HTML parser: figures, counts, escaping, no network.

The fake run folder below is built by hand with every kind of figure the page shows (label
confidences, votes, a judge criterion as the judge writes it, failures, a logged call) and a row
whose text tries to break out of the page's script block.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabricator.app.cli import main
from fabricator.app.view import (
    REPORT_PAGE,
    collect_run,
    embed_json,
    render_page,
    serving,
    view_run,
    write_page,
)
from fabricator.errors import ConfigError

ATTACK = '</script><img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
ROWS = [  # text, label, confidence, judge score, votes agreement (None: one prompt)
    ("A warm, funny film.", "positive", 0.95, 4.6, 1.0),
    (ATTACK, "negative", 0.30, 1.8, 0.5),
    ("Dull from start to end.", "negative", 0.80, 3.9, 1.0),
    ("Not bad, not good & <b>odd</b>.", "positive", 0.45, 2.2, 0.4),
    ("A joy to watch.", "positive", 0.99, 4.9, 1.0),
]
FAILURES = [
    {
        "index": 5,
        "source": None,
        "kind": "Duplicate",
        "error": "the text repeats an earlier row",
        "raw": "A joy.",
    },
    {"index": 6, "source": None, "kind": "LowJudgeScore", "error": "realism 1.2 < 2.0", "raw": ATTACK},
]
FIRST_CALL = {
    "row": 0,
    "messages": [
        {"role": "system", "content": "You write examples for a dataset."},
        {"role": "user", "content": "Write a positive movie review.\ntext:"},
    ],
    "response": "A warm, funny film. <script>alert(1)</script>",
}


def distribution(score: float) -> dict[str, float]:
    """A distribution over 1..5 whose mean is near ``score`` (two neighbouring points)."""
    low = int(score)
    high = min(low + 1, 5)
    return {str(low): round(high - score, 3), str(high): round(score - low, 3)} if high > low else {"5": 1.0}


def fake_run(folder: Path, rows: list[tuple[str, str, float, float, float]] = ROWS) -> Path:
    """A run folder as a label-conditioned run with votes and a judge would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    data, provenance = [], []
    for i, (text, label, confidence, score, agreement) in enumerate(rows):
        data.append({"text": text, "label": label, "confidence": confidence, "judge_realism": score})
        provenance.append(
            {
                "row": i,
                "model": "fake-model",
                "label": label,
                "agreement": agreement,
                "flagged": agreement < 0.6,
                "judge": {
                    "realism": {"score": score, "confidence": 0.7, "distribution": distribution(score)}
                },
            }
        )
    summary = {
        "mode": "label-conditioned",
        "requested": 6,
        "rows": len(rows),
        "failures": len(FAILURES),
        "interrupted": False,
        "calls": 9,
        "call_cap": 10,
        "cached": 2,
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "cost_usd": 0.0123,
        "elapsed_s": 1.5,
        "stopped": None,
        "judge": {"realism": {"mean": 3.5, "counts": {"2": 2, "4": 2, "5": 1}, "judged": 5, "rejected": 1}},
    }
    meta = {
        "model": "fake-model",
        "started": "2026-12-07T00:00:00",
        "summary": summary,
        "columns": {
            "text": "Value('string')",
            "label": "ClassLabel(names=['positive', 'negative'])",
            "confidence": "Value('float32')",
            "judge_realism": "Value('float32')",
        },
    }
    recipe = {"prompt": {"label_options": ["positive", "negative"], "generate_data_for_column": "text"}}
    lines = {
        "data.jsonl": data,
        "provenance.jsonl": provenance,
        "failures.jsonl": FAILURES,
        "log.jsonl": [{"row": None, "messages": [], "response": "proposal"}, FIRST_CALL],
    }
    for name, records in lines.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return folder


class PageParts(HTMLParser):
    """What a test needs of a page: element ids, URL attributes, tags, scripts and the data block."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._script: dict[str, str | None] | None = None
        self.script_text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        self.urls += [str(v) for k, v in attrs if k in ("src", "href", "action", "srcset") and v]
        if tag == "script":
            self._script = found
            self.scripts.append(found)
            self.script_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.script_text[-1] += data

    @property
    def data(self) -> dict[str, Any]:
        index = next(i for i, s in enumerate(self.scripts) if s.get("id") == "run-data")
        return json.loads(self.script_text[index])


def check_page(page: str, *, rows: int, failures: int) -> PageParts:
    """The checks every page passes: one data block with the right counts, two scripts, nothing
    from the data turned into markup, no URL that leaves the page, the DOM skeleton the script fills."""
    parts = PageParts(page)
    assert [s.get("type") for s in parts.scripts] == ["application/json", None]
    data = parts.data
    assert data["rows_total"] == len(data["rows"]) == rows
    assert data["failures_total"] == len(data["failures"]) == failures
    assert data["summary"]["rows"] == rows
    assert "img" not in parts.tags and parts.tags.count("script") == 2
    assert all(url.startswith(("data:", "#")) for url in parts.urls), parts.urls
    skeleton = {"summary", "labels", "confidence", "judge", "diversity", "first-call", "rows-body"}
    skeleton |= {"search", "label-filter", "conf-below", "flagged-only", "judge-criterion", "failures-body"}
    assert skeleton <= parts.ids
    return parts


def shown_rows(data: dict[str, Any], *, below: float | None = None, label: str = "", flagged: bool = False,
               criterion: str = "", low: float | None = None, search: str = "") -> list[int]:  # fmt: skip
    """The rows the page's filters show, by the rule the page states (for the parser-only check)."""
    shown = []
    for row in data["rows"]:
        score = row["judge"].get(criterion)
        if (
            (below is None or (row["confidence"] is not None and row["confidence"] < below))
            and (not label or row["label"] == label)
            and (not flagged or row["flagged"])
            and (not criterion or low is None or (score is not None and score >= low))
            and search.lower() in json.dumps(row["data"], ensure_ascii=False).lower()
        ):
            shown.append(row["i"])
    return shown


def test_collect_run_gives_the_figures_of_a_run(tmp_path):
    data = collect_run(fake_run(tmp_path / "run"))
    assert data["summary"]["rows"] == 5 and data["summary"]["cost_usd"] == 0.0123
    assert data["failures_by_kind"] == {"Duplicate": 1, "LowJudgeScore": 1}
    labels = {entry["label"]: entry for entry in data["labels"]["labels"]}
    assert (labels["positive"]["n"], labels["negative"]["n"]) == (3, 2)
    assert labels["positive"]["requested"] == 3.0 and labels["negative"]["requested_share"] == 0.5
    bins = data["confidence"]["histogram"]
    assert [b["n"] for b in bins] == [0, 0, 0, 1, 1, 0, 0, 0, 1, 2] and data["confidence"]["n"] == 5
    judge = data["judge"]["realism"]
    assert judge["n"] == 5 and judge["scale"] == [1.0, 5.0] and judge["metadata"]["rejected"] == 1
    assert sum(b["n"] for b in judge["histogram"]) == 5 and judge["mean"] == pytest.approx(3.48)
    assert data["votes"] is True and [r["flagged"] for r in data["rows"]] == [False, True, False, True, False]
    assert data["first_call"]["row"] == 0 and data["first_call"]["response"] == FIRST_CALL["response"]
    assert data["diversity"]["rows"] == 5 and data["risk_coverage"] is None


def test_judge_scores_come_from_the_column_when_provenance_has_none(tmp_path):
    run = fake_run(tmp_path / "run")
    (run / "provenance.jsonl").write_text("")
    meta = json.loads((run / "metadata.json").read_text())
    meta["judge"] = {"realism": {"mean": 3.5, "rejected": 7}}  # the criteria's counts at the top level
    (run / "metadata.json").write_text(json.dumps(meta))
    data = collect_run(run)
    assert [r["judge"]["realism"] for r in data["rows"]] == [4.6, 1.8, 3.9, 2.2, 4.9]
    assert data["votes"] is False and data["judge"]["realism"]["metadata"]["rejected"] == 7


def test_page_shows_model_output_as_text_never_as_markup(tmp_path):
    page = render_page(collect_run(fake_run(tmp_path / "run")))
    parts = check_page(page, rows=5, failures=2)
    assert "</script><img" not in page and "<b>odd</b>" not in page
    assert parts.data["rows"][1]["data"]["text"] == ATTACK  # the data itself arrives whole
    assert parts.data["failures"][1]["raw"] == ATTACK
    assert "innerHTML" not in "".join(parts.script_text)  # the script writes text only


def test_embedded_json_cannot_end_its_script_block():
    text = embed_json({"a": "</script><!-- & -->", "b": float("nan")})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & -->", "b": None}


def test_parsed_filters_pick_the_low_confidence_and_flagged_rows(tmp_path):
    data = PageParts(render_page(collect_run(fake_run(tmp_path / "run")))).data
    assert shown_rows(data, below=0.5) == [1, 3]
    assert shown_rows(data, flagged=True, label="positive") == [3]
    assert shown_rows(data, criterion="realism", low=4.0) == [0, 4]
    assert shown_rows(data, search="JOY") == [4]


def test_risk_coverage_is_drawn_where_gold_exists(tmp_path):
    run = fake_run(tmp_path / "run")
    gold = tmp_path / "gold.jsonl"
    gold_labels = ["positive", "positive", "negative", "negative", "positive"]  # rows 1 and 3 wrong
    gold.write_text(
        "".join(json.dumps({"text": r[0], "label": g}) + "\n" for r, g in zip(ROWS, gold_labels, strict=True))
    )
    curve = collect_run(run, gold=gold)["risk_coverage"]
    assert curve["n"] == 5 and curve["accuracy"] == 0.6
    points = {p["coverage"]: p for p in curve["points"]}
    assert points[0.6]["accuracy"] == 1.0 and points[1.0]["accuracy"] == 0.6  # the two wrong rows: least sure


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"not a run folder: it has no metadata\.json"):
        collect_run(tmp_path)
    with pytest.raises(ConfigError, match="is not a folder"):
        collect_run(tmp_path / "missing")
    (tmp_path / "metadata.json").write_text('{"rows": 3}')
    assert main(["view", str(tmp_path), "--no-serve"]) == 2
    assert "not a run's metadata" in capsys.readouterr().err
    assert not (tmp_path / REPORT_PAGE).exists()


def test_view_command_writes_the_page_into_the_run_folder(tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    assert main(["view", str(run), "--no-serve"]) == 0
    assert f"wrote {run / REPORT_PAGE}" in capsys.readouterr().out
    check_page((run / REPORT_PAGE).read_text(encoding="utf-8"), rows=5, failures=2)


def test_page_caps_the_rows_it_embeds_and_says_how_many_there_are(tmp_path):
    run = fake_run(tmp_path / "run")
    data = PageParts(write_page(run, max_rows=2).read_text(encoding="utf-8")).data
    assert len(data["rows"]) == 2 and data["rows_total"] == 5 and len(data["failures"]) == 2


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # loopback only
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_view_serves_the_page_on_loopback_until_stopped(tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    seen: dict[str, Any] = {}
    opened: list[str] = []

    def visit() -> None:  # what a user does while the server runs, then Ctrl-C
        url = capsys.readouterr().out.split("serving ", 1)[1].split()[0]
        seen["url"] = url
        seen["page"] = fetch(url)
        seen["root"] = fetch(url.rsplit("/", 1)[0] + "/")
        seen["other"] = fetch(url.rsplit("/", 1)[0] + "/data.jsonl")
        raise KeyboardInterrupt

    view_run(run, wait=visit, opener=lambda url: opened.append(url) or True, open_browser=False)
    assert seen["url"].startswith("http://127.0.0.1:") and seen["url"].endswith("/report.html")
    status, page = seen["page"]
    assert status == 200 and seen["root"][0] == 200 and seen["other"][0] == 404  # the page only
    check_page(page, rows=5, failures=2)
    assert opened == [] and "stopped" in capsys.readouterr().out


def test_view_opens_a_browser_where_there_is_a_display(tmp_path, monkeypatch, capsys):
    run = fake_run(tmp_path / "run")
    monkeypatch.setenv("DISPLAY", ":0")
    opened: list[str] = []
    view_run(run, wait=lambda: None, opener=lambda url: opened.append(url) or False)
    assert len(opened) == 1 and opened[0].startswith("http://127.0.0.1:")
    assert "no browser could be opened" in capsys.readouterr().out
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    view_run(run, wait=lambda: None, opener=lambda url: opened.append(url) or True)
    assert len(opened) == 1  # no display: no text browser takes over the terminal


def test_server_serves_a_page_written_again_without_a_restart(tmp_path):
    run = fake_run(tmp_path / "run")
    page = write_page(run)
    with serving(page) as server:
        first = PageParts(fetch(server.url)[1]).data["rows_total"]
        fake_run(run, ROWS[:3])
        write_page(run)
        assert (first, PageParts(fetch(server.url)[1]).data["rows_total"]) == (5, 3)
