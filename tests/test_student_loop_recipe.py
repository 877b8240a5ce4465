"""The student loop from a recipe, with the real default student (MiniLM + logistic regression,
offline): per-round accuracy in metadata.json, the card and student_loop.png; a rerun pays nothing."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write

from fabricator.app.cli import main
from fabricator.app.push import PUSHED_FILES
from fabricator.testing import FakeOpenAIServer

GOOD = ["A warm, funny film.", "The cast is superb.", "I loved the music.", "A joy to watch.",
        "Moving and beautiful.", "Clever and kind."]  # fmt: skip
BAD = ["A dull, tired mess.", "The plot makes no sense.", "I was bored stiff.", "Awful acting.",
       "Too long and too loud.", "A waste of time."]  # fmt: skip
POOL = [{"text": t, "label": "positive"} for t in GOOD] + [{"text": t, "label": "negative"} for t in BAD]


def reviews() -> Any:
    counter = itertools.count()
    praise = ["Wonderful and touching.", "Great fun all the way.", "A lovely story, well told."]
    scorn = ["Boring from start to end.", "Terrible script, weak acting.", "Not worth the ticket."]

    def answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        n = next(counter)
        asked = re.findall(r"Write an? (\w+) movie review", messages[-1]["content"])[-1]
        return f"{(praise if asked == 'positive' else scorn)[n % 3]} Take {n}."

    return answer


def run(folder: Path, server: FakeOpenAIServer) -> dict[str, Any]:
    recipe = movie_recipe(
        model={"backend": "openai", "name": "m", "base_url": server.base_url},
        generation={"num_samples_to_generate": 12, "max_prompt_calls": 20, "student_loop": True,
                    "student_rounds": 2},
    )  # fmt: skip
    assert main(["generate", write(folder, recipe), "-o", str(folder / "out"), "--quiet"]) == 0
    return json.loads((folder / "out" / "metadata.json").read_text())["summary"]


def test_a_recipe_run_records_the_student_per_round_and_a_rerun_pays_nothing(tmp_path):
    write_fewshot(tmp_path, POOL)
    with FakeOpenAIServer(responder=reviews()) as server:
        summary = run(tmp_path, server)
    loop = summary["student_loop"]
    assert [r["round"] for r in loop["rounds"]] == [1, 2] and [r["rows"] for r in loop["rounds"]] == [6, 12]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in loop["rounds"]) and loop["test_rows"] == 6
    out = tmp_path / "out"
    card = (out / "README.md").read_text()
    assert (
        "## Student in the loop" in card
        and "![the student's pool accuracy per round](student_loop.png)" in card
    )
    first = loop["rounds"][0]
    assert f"| 1 | 6 | {first['accuracy']:.3f} | {first['macro_f1']:.3f} |" in card
    assert (out / "student_loop.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    linked = set(re.findall(r"\]\(([\w.]+\.png)\)", card))
    assert linked == {"student_loop.png"} and linked <= set(PUSHED_FILES)  # the link works on the Hub
    data = (out / "data.jsonl").read_text()
    with FakeOpenAIServer(responder=lambda m, b: "never asked") as server:
        again = run(tmp_path, server)
        assert server.requests == []
    assert again["calls"] == 0 and again["student_loop"] == loop
    assert (out / "data.jsonl").read_text() == data
