"""The judge from a recipe: criteria under ``generation:``, scores in the output folder and the card."""

from __future__ import annotations

import json
import re

import pytest
from conftest import movie_recipe, write_fewshot
from conftest import write_recipe as write

from fabricator.app.card_judge import judge_section
from fabricator.app.cli import main
from fabricator.judge_criteria import JudgeCriterion
from fabricator.testing import FakeOpenAIServer


def answer(messages: list, body: dict) -> str:
    if "Criterion:" in messages[-1]["content"]:
        return "4"
    return "A moving film." if "positive" in messages[-1]["content"] else "junk"


def probs(messages: list, body: dict) -> dict[str, float]:
    text = messages[-1]["content"]
    if "Criterion:" not in text:
        return {"x": 1.0}
    return {"1": 0.8, "2": 0.2} if re.search(r"^text: junk$", text, flags=re.M) else {"4": 0.4, "5": 0.6}


#: four reviews, each judged on realism (3 at least), with room to replace the rejected ones
JUDGED = {
    "num_samples_to_generate": 4,
    "max_prompt_calls": 12,
    "dedup": False,
    "judge": [{"name": "realism", "rubric": "A real movie review.", "min_score": 3}],
}


def test_a_recipe_judges_rows_and_the_folder_and_card_show_the_scores(tmp_path):
    write_fewshot(tmp_path)
    out = tmp_path / "out"
    with FakeOpenAIServer(responder=answer, token_probs=probs) as srv:
        recipe = movie_recipe(
            model={"backend": "openai", "name": "m", "base_url": srv.base_url},
            generation=JUDGED,
        )
        code = main(["generate", write(tmp_path, recipe), "-o", str(out), "--quiet"])
    data = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert code == 0 and len(data) == 2  # negative rows are junk: dropped, replaced, dropped (a warning)
    assert all(r["label"] == "positive" and r["judge_realism"] == pytest.approx(4.6) for r in data)
    provenance = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    assert all(p["judge"]["realism"]["confidence"] == pytest.approx(0.6) for p in provenance)
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    low = [f for f in failures if f["kind"] == "LowJudgeScore"]
    assert low and all(json.loads(f["raw"])["text"] == "junk" for f in low)
    summary = json.loads((out / "metadata.json").read_text())["summary"]["judge"]["realism"]
    assert summary["rejected"] == len(low)
    assert summary["counts"]["5"] == len(data) and summary["counts"]["1"] == len(low)
    card = (out / "README.md").read_text()
    assert "## Judge" in card and "A real movie review." in card
    assert f"| {len(low)} |" in card


def test_the_card_section_lists_each_criterion_and_nothing_without_a_judge():
    criteria = [JudgeCriterion(name="realism", rubric="Real.", scale=(1, 3))]
    summary = {"judge": {"realism": {"mean": 2.5, "counts": {"1": 0, "2": 1, "3": 1}, "rejected": 1}}}
    lines = judge_section(summary, criteria)
    row = next(line for line in lines if line.startswith("| realism"))
    assert "Real." in row and "1-3" in row and "2.50" in row and "2: 1 3: 1" in row
    assert judge_section({"rows": 3}, None) == []


def test_a_recipe_judge_model_scores_the_rows_on_its_own_server(tmp_path):
    """``judge_model:`` sends every judge call to that backend, and none to the run's model."""
    write_fewshot(tmp_path)
    out = tmp_path / "out"
    with (
        FakeOpenAIServer(responder=answer, token_probs=probs) as writer,
        FakeOpenAIServer(responder=answer, token_probs=probs) as judge,
    ):
        recipe = movie_recipe(
            model={"backend": "openai", "name": "small", "base_url": writer.base_url},
            judge_model={"backend": "openai", "name": "large", "base_url": judge.base_url},
            generation=JUDGED,
        )
        code = main(["generate", write(tmp_path, recipe), "-o", str(out), "--quiet"])
        writer_prompts = [r.body["messages"][-1]["content"] for r in writer.requests]
        judge_prompts = [r.body["messages"][-1]["content"] for r in judge.requests]
    assert code == 0
    assert judge_prompts and all("Criterion:" in p for p in judge_prompts)
    assert writer_prompts and not any("Criterion:" in p for p in writer_prompts)
    assert {r.body["model"] for r in judge.requests} == {"large"}
    data = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    assert data and all(r["judge_realism"] == pytest.approx(4.6) for r in data)


def test_a_judge_model_without_criteria_is_refused_before_any_call(tmp_path, capsys):
    write_fewshot(tmp_path)
    with FakeOpenAIServer(responder=answer) as srv:
        recipe = movie_recipe(
            model={"backend": "openai", "name": "m", "base_url": srv.base_url},
            judge_model={"backend": "openai", "name": "large", "base_url": srv.base_url},
        )
        code = main(["generate", write(tmp_path, recipe), "-o", str(tmp_path / "out"), "--quiet"])
        assert not srv.requests
    assert code != 0 and "judge_model" in capsys.readouterr().err
