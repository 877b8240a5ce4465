"""The report page in a real browser: headless Chromium driven through Selenium and chromedriver.

Policy where no browser is found: with ``FABRICATOR_REQUIRE_BROWSER`` set (``.ci/run`` sets it
after installing the Debian packages) the test fails and names the packages; without it, the same
checks run on the page's embedded data and DOM skeleton with an HTML parser, and a warning says
the browser part did not run. Never a silent skip.

Every page is opened with the network off (http, https and websockets blocked; the page must need
none of them) and checked for console errors, the counts it shows and its filters.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_view import ATTACK, FIRST_CALL, PageParts, check_page, fake_run, shown_rows

from fabricator.app.cli import main
from fabricator.app.view import REPORT_PAGE, serving, write_page
from fabricator.testing import FakeOpenAIServer

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the parser checks still run (see the module's docstring)
    webdriver = None

PACKAGES = "apt-get install -y chromium chromium-driver"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_SET = (
    "const e = document.getElementById(arguments[0]); e.value = arguments[1]; "
    "e.dispatchEvent(new Event('input'));"
)
_CHECK = (
    "const e = document.getElementById(arguments[0]); e.checked = arguments[1]; "
    "e.dispatchEvent(new Event('change'));"
)


class Browser:
    """Headless Chromium with the network blocked and its console log kept."""

    def __init__(self, chromium: str, chromedriver: str, profile: str) -> None:
        options = Options()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        self.driver.execute_cdp_cmd("Network.enable", {})

    def offline(self, blocked: list[str]) -> None:
        self.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": blocked})

    def open(self, url: str) -> list[dict[str, Any]]:
        """Open ``url`` and wait for the page's script to finish; the console's errors meanwhile."""
        self.driver.get_log("browser")  # what earlier pages logged is theirs
        self.driver.get(url)
        WebDriverWait(self.driver, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))
        return [e for e in self.driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def text(self, element_id: str) -> str:
        return self.js("return document.getElementById(arguments[0]).textContent", element_id)

    def shown(self) -> list[int]:
        return self.js("return [...document.querySelectorAll('#rows-body tr')].map(r => +r.dataset.row)")

    def quit(self) -> None:
        self.driver.quit()


def _found() -> tuple[str, str] | None:
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    return (chromium, driver) if webdriver is not None and chromium and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | None]:
    """A browser, or ``None`` (and the parser checks) where none is installed and none is required."""
    found = _found()
    if found is None:
        if os.environ.get("FABRICATOR_REQUIRE_BROWSER"):
            pytest.fail(
                "FABRICATOR_REQUIRE_BROWSER is set but no Chromium with chromedriver and selenium was "
                f"found: `{PACKAGES}` and `pip install -e '.[test]'`"
            )
        yield None
        return
    with tempfile.TemporaryDirectory() as profile:
        driven = Browser(*found, profile)
        try:
            driven.offline(["http://*", "https://*", "ws://*", "wss://*", "ftp://*"])
            yield driven
        finally:
            driven.quit()


def no_browser_warning() -> None:
    warnings.warn(
        f"no browser: the report page was checked with an HTML parser only, the browser part did not run "
        f"(install it: {PACKAGES})",
        UserWarning,
        stacklevel=2,
    )


def check_filters(browser: Browser) -> None:
    """The fake run's page: its counts, its filters, and the attack row shown as text."""
    assert browser.text("rows-count") == "5 of 5 rows" and browser.text("failures-count") == "2 of 2 failures"
    assert "5 of 6 requested" in browser.text("summary-table")
    browser.js(_SET, "conf-below", "0.5")
    assert browser.shown() == [1, 3] and browser.text("rows-count") == "2 of 5 rows"
    browser.js(_SET, "conf-below", "")
    browser.js(_CHECK, "flagged-only", True)
    assert browser.shown() == [1, 3]
    browser.js(_SET, "label-filter", "positive")
    assert browser.shown() == [3]
    browser.js(_CHECK, "flagged-only", False)
    browser.js(_SET, "label-filter", "")
    browser.js(_SET, "judge-criterion", "realism")
    browser.js(_SET, "judge-min", "4")
    assert browser.shown() == [0, 4]
    browser.js(_SET, "judge-min", "")
    browser.js(_SET, "search", "joy")
    assert browser.shown() == [4]
    browser.js(_SET, "search", "")
    attack = browser.js("return document.querySelector('#rows-body tr[data-row=\"1\"] td.value').textContent")
    assert attack == ATTACK and browser.text("first-answer") == FIRST_CALL["response"]
    assert browser.js("return [document.images.length, window.__pwned === undefined]") == [0, True]
    assert browser.js("return performance.getEntriesByType('resource').length") == 0  # fetched nothing


def test_page_in_a_browser_filters_to_the_low_confidence_rows(tmp_path, browser):
    page = write_page(fake_run(tmp_path / "run"))
    if browser is None:
        no_browser_warning()
        data = check_page(page.read_text(encoding="utf-8"), rows=5, failures=2).data
        assert shown_rows(data, below=0.5) == [1, 3]
        assert shown_rows(data, flagged=True, label="positive") == [3]
        return
    assert browser.open(page.as_uri()) == []  # from disk, with the network off
    check_filters(browser)
    with serving(page) as server:  # and as `fabricator view` serves it
        assert browser.open(server.url) == []
        check_filters(browser)


def _responder() -> Any:
    counter = itertools.count()

    def answer(messages: list, body: dict) -> str:
        said = " ".join(str(m.get("content", "")) for m in messages)
        if "named entities" in said:
            return "[]"
        return f"Review {next(counter)}: a <i>fine</i> film </script> with a twist."

    return answer


def _label_probs(messages: list, body: dict) -> dict[str, float]:
    """Annotation: a different confidence for every question, so the histogram has a spread."""
    spread = (len(str(messages[-1].get("content", ""))) % 7) / 10
    return {"number": 0.3 + spread, "human": 0.7 - spread}


def _example_run(tmp_path: Path, example: str, server: FakeOpenAIServer) -> Path:
    folder = tmp_path / example
    shutil.copytree(EXAMPLES / example, folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text(encoding="utf-8"))
    recipe["model"] = {"backend": "openai", "name": "fake-model", "base_url": server.base_url}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = folder / "out"
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_view_of_each_example_recipes_run_shows_its_counts(tmp_path, browser, capsys):
    with FakeOpenAIServer(responder=_responder(), token_probs=_label_probs) as server:
        runs = {example: _example_run(tmp_path, example, server) for example in sorted(os.listdir(EXAMPLES))}
    assert sorted(runs) == ["movie_reviews", "ner", "sentiment", "trec"]
    if browser is None:
        no_browser_warning()
    for example, out in runs.items():
        written_by_run = (out / REPORT_PAGE).read_text(encoding="utf-8")
        assert main(["view", str(out), "--no-serve"]) == 0
        rows, failures = _lines(out / "data.jsonl"), _lines(out / "failures.jsonl")
        meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
        assert rows == meta["summary"]["rows"] > 0, example
        data = check_page((out / REPORT_PAGE).read_text(encoding="utf-8"), rows=rows, failures=failures).data
        assert PageParts(written_by_run).data["rows_total"] == rows  # the run wrote the same page
        assert "[report.html](report.html)" in (out / "README.md").read_text(encoding="utf-8")  # the card
        if example == "trec":
            assert sum(b["n"] for b in data["confidence"]["histogram"]) == rows == 40
        if example == "sentiment":
            assert [(x["label"], x["requested"]) for x in data["labels"]["labels"]] == [
                ("positive", 12.0),
                ("negative", 12.0),
            ]
        if browser is not None:
            assert browser.open((out / REPORT_PAGE).as_uri()) == [], example
            assert browser.text("rows-count") == f"{rows} of {rows} rows", example
            assert browser.text("failures-count") == f"{failures} of {failures} failures", example
