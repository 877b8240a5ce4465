"""``fabricator plan`` and the budget refusal of ``fabricator generate``.

The plan must count the prompts the run really sends (checked against the run's own log), make no
model call, and ``generate`` must refuse a recipe whose plan is over its budget before any call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import movie_recipe, write_fewshot, write_recipe

from fabricator.app import costing
from fabricator.app.cli import main
from fabricator.app.costing import estimate_tokens
from fabricator.app.recipe import load_recipe
from fabricator.app.runner import plan_recipe, run_recipe
from fabricator.errors import ConfigError
from fabricator.llms.fake import Fake
from fabricator.testing import FakeOpenAIServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: example -> (planned rows, the most calls): rows = min(max_prompt_calls, rows asked or given);
#: generation may top up to max_prompt_calls, annotation re-asks up to 3 calls a row
EXPECTED_CALLS = {
    "movie_reviews": (12, 20),
    "ner": (20, 20),
    "sentiment": (24, 40),
    "trec": (40, 40),
}

RECIPE = movie_recipe(
    model={"backend": "fake", "responses": ["A moving film.", "Flat and dull."]},
    generation={"num_samples_to_generate": 6, "max_prompt_calls": 10, "dedup": False, "max_tokens": 50},
)


def write_project(folder: Path, recipe: dict[str, Any]) -> Path:
    """``recipe`` as ``recipe.yaml`` beside the two-row ``fewshot.jsonl``."""
    write_fewshot(folder)
    return Path(write_recipe(folder, recipe))


def first_asks(log: Path, rows: int) -> list[list[dict[str, str]]]:
    """The messages of each planned row's first call, from a run's log.jsonl."""
    first: dict[int, list[dict[str, str]]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        first.setdefault(entry["row"], entry["messages"])
    return [first[i] for i in range(rows)]


@pytest.mark.parametrize("example", sorted(EXPECTED_CALLS))
def test_plan_of_each_example_counts_the_prompts_its_run_sends(example, tmp_path):
    recipe = load_recipe(EXAMPLES / example / "recipe.yaml")
    planner_llm = Fake()
    plan = plan_recipe(recipe, output=tmp_path / "out", llm=planner_llm)
    assert planner_llm.calls == 0  # planning made no model call
    assert (plan.rows, plan.max_calls) == EXPECTED_CALLS[example]
    assert not plan.exact and "ESTIMATE" in dict(plan.lines())["prompt tokens"]
    per_answer = recipe.generation.sampling.max_tokens
    if example == "trec":  # scored labels: one greedy step of at most 8 tokens, whatever max_tokens
        per_answer = min(per_answer, 8)
    assert plan.completion_bound == plan.rows * per_answer
    assert dict(plan.lines())["time"] == "unknown (no previous run)"

    run_recipe(recipe, output=tmp_path / "out", llm=Fake(), progress=False)
    sent = first_asks(tmp_path / "out" / "log.jsonl", plan.rows)
    assert plan.prompt_tokens == sum(estimate_tokens(m) for m in sent)


def test_plan_uses_the_previous_run_of_the_same_model(tmp_path):
    recipe = load_recipe(write_project(tmp_path, {**RECIPE, "generation": {**RECIPE["generation"]}}))
    out = tmp_path / "out"
    run_recipe(recipe, output=out, llm=Fake(["A moving film.", "Flat and dull."]), progress=False)
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    plan = plan_recipe(recipe, output=out, llm=Fake())
    per_call = summary["completion_tokens"] / summary["succeeded"]
    assert plan.completion_typical == round(6 * per_call)
    assert plan.tokens == plan.prompt_tokens + plan.completion_typical < plan.prompt_tokens + 6 * 50
    assert plan.seconds == pytest.approx(6 * summary["elapsed_s"] / summary["succeeded"])
    assert "at the last measured rate" in dict(plan.lines())["time"]
    other = plan_recipe(recipe, output=out, llm=Fake(name="another-model"))
    assert other.previous is None and other.completion_typical is None
    assert "another model (fake)" in dict(other.lines())["time"]


def test_plan_prices_the_tokens(tmp_path):
    gen = {**RECIPE["generation"], "prices": [2.0, 8.0]}
    plan = plan_recipe(load_recipe(write_project(tmp_path, {**RECIPE, "generation": gen})), llm=Fake())
    assert plan.cost_expected == pytest.approx((plan.prompt_tokens * 2.0 + 6 * 50 * 8.0) / 1e6)
    assert plan.cost_at_most is not None and plan.cost_at_most > plan.cost_expected
    assert dict(plan.lines())["cost"].startswith(f"${plan.cost_expected:.4f} expected")


class CountingTokenizer(Fake):
    """A backend with its own tokenizer: three tokens per message."""

    def __init__(self) -> None:
        super().__init__(name="tokenized")
        self.counted = 0

    def count_tokens(self, conversations):
        self.counted += len(conversations)
        return [3 * len(messages) for messages in conversations]


def test_a_backends_own_tokenizer_counts_the_prompts(tmp_path, monkeypatch):
    recipe = load_recipe(write_project(tmp_path, RECIPE))
    llm = CountingTokenizer()
    plan = plan_recipe(recipe, llm=llm)
    # 6 prompts of 3 messages (system, user, the assistant prefill): 9 tokens each
    assert plan.exact and plan.prompt_tokens == 6 * 9 and llm.counted == 6 and llm.calls == 0
    assert "ESTIMATE" not in dict(plan.lines())["prompt tokens"]
    monkeypatch.setattr(costing, "EXACT_COUNT_LIMIT", 2)  # the rest are scaled from the first two
    plan = plan_recipe(recipe, llm=CountingTokenizer())
    assert plan.exact and "extrapolated" in plan.counted_by
    assert plan.prompt_tokens == pytest.approx(6 * 9, rel=0.1)


@pytest.fixture
def server():
    srv = FakeOpenAIServer().start()
    yield srv
    srv.stop()


def openai_recipe(tmp_path: Path, server: FakeOpenAIServer, **generation: Any) -> str:
    recipe = {
        **RECIPE,
        # one call at a time: a budget of a few calls stops the run after those
        "model": {
            "backend": "openai",
            "name": "fake-model",
            "base_url": server.base_url,
            "max_concurrency": 1,
        },
        "generation": {**RECIPE["generation"], **generation},
    }
    return str(write_project(tmp_path, recipe))


def test_cli_plan_prints_the_plan_and_calls_no_model(tmp_path, server, capsys):
    path = openai_recipe(tmp_path, server, budget_tokens=10)
    assert main(["plan", path, "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "6 first asks, 6 to 10 with re-asks and top-ups" in out
    assert "ESTIMATE" in out and "unknown (no previous run)" in out
    assert "generate refuses unless --spend-budget" in out
    assert server.stats["received"] == 0 and not (tmp_path / "out").exists()


def test_help_shows_the_plan_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "fabricator plan examples/sentiment/recipe.yaml" in capsys.readouterr().out


def test_generate_refuses_a_plan_over_the_token_budget(tmp_path, server, capsys):
    out = tmp_path / "out"
    assert (
        main(["generate", openai_recipe(tmp_path, server, budget_tokens=100), "-o", str(out), "--quiet"]) == 2
    )
    err = capsys.readouterr().err
    assert "more than budget_tokens=100" in err and "--spend-budget" in err
    assert server.stats["received"] == 0 and not (out / "data.jsonl").exists()


def test_generate_refuses_a_plan_over_the_dollar_budget(tmp_path, server, capsys):
    path = openai_recipe(tmp_path, server, prices=[1000.0, 1000.0], budget_usd=0.01)
    assert main(["generate", path, "-o", str(tmp_path / "out"), "--quiet"]) == 2
    assert "more than budget_usd=0.01" in capsys.readouterr().err
    assert server.stats["received"] == 0


def test_spend_budget_runs_until_the_budget_is_spent(tmp_path, server):
    out = tmp_path / "out"
    path = openai_recipe(tmp_path, server, budget_tokens=100)
    assert main(["generate", path, "-o", str(out), "--quiet", "--spend-budget"]) == 0
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    assert summary["stopped"] == "budget" and 0 < summary["rows"] < 6
    assert server.stats["received"] > 0


def test_generate_within_budget_runs_and_the_api_keeps_spending(tmp_path, server):
    path = openai_recipe(tmp_path, server, budget_tokens=100_000)
    assert main(["generate", path, "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["summary"]["rows"] == 6
    # run_recipe (the API) keeps its behaviour: no plan, it runs until the budget is spent
    recipe = load_recipe(openai_recipe(tmp_path, server, budget_tokens=100))
    result = run_recipe(recipe, output=tmp_path / "api", progress=False)
    assert result.report.summary()["stopped"] == "budget"


@pytest.mark.embedded
@pytest.mark.timeout(120)
def test_embedded_plan_counts_what_the_run_uses(tmp_path):
    pytest.importorskip("xllamacpp")
    from fabricator.llms.embedded import LlamaCpp

    texts = [{"text": "A warm, funny and moving film."}, {"text": "Two hours I will never get back."}]
    (tmp_path / "reviews.jsonl").write_text("\n".join(json.dumps(t) for t in texts))
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "prompt": {
                    "task_description": "Is this movie review {}?",
                    "label_options": ["positive", "negative"],
                    "generate_data_for_column": "label",
                    "fewshot_example_columns": "text",
                },
                "unlabeled": {"path": "reviews.jsonl"},
                "model": {"backend": "embedded", "parallel": 2},
                "generation": {"max_prompt_calls": 2, "max_tokens": 24, "temperature": 0.0},
            }
        )
    )
    recipe = load_recipe(recipe_path)
    llm = LlamaCpp(n_parallel=2, n_ctx=2048)
    try:
        plan = plan_recipe(recipe, output=tmp_path / "out", llm=llm)
        assert plan.exact and plan.rows == 2
        result = run_recipe(recipe, output=tmp_path / "out", llm=llm, progress=False)
    finally:
        llm.close()
    used = result.report.summary()["prompt_tokens"]
    print(f"planned {plan.prompt_tokens} prompt tokens, the run used {used}")
    assert used > 0 and abs(plan.prompt_tokens - used) <= 0.05 * used


def test_plan_counts_the_attribute_proposals_the_run_makes(tmp_path):
    """Proposed attribute values cost calls before the rows: the plan counts them, its prompt tokens
    match what the run sends, and they come out of max_prompt_calls as in the run."""
    prompt = {**RECIPE["prompt"], "task_description": "Write a {} movie review about {topic}."}
    gen = {**RECIPE["generation"], "max_prompt_calls": 5}
    recipe = load_recipe(
        write_project(
            tmp_path, {**RECIPE, "prompt": prompt, "generation": gen, "attributes": {"topic": {"propose": 3}}}
        )
    )
    plan = plan_recipe(recipe, llm=Fake())
    assert (plan.proposals, plan.rows) == (2, 3)  # one proposal per label; 5 calls leave 3 rows
    assert "3 first asks + 2 attribute proposals" in dict(plan.lines())["model calls"]
    assert plan.as_dict()["calls"] == [5, 5]

    written = iter(range(100))

    def writer(text: str) -> str:
        return "food\ntravel\nmusic" if text.startswith("List ") else f"Review number {next(written)}."

    llm = Fake(writer)
    result = run_recipe(recipe, output=tmp_path / "out", llm=llm, progress=False)
    asked = [r for r in llm.requests if r.messages[0]["content"].startswith("List ")]
    assert len(asked) == plan.proposals and result.rows == plan.rows
    assert plan.proposal_prompt_tokens == sum(estimate_tokens(r.messages) for r in asked)
    assert plan.proposal_completion_bound == sum(r.max_tokens for r in asked) == 2 * 96  # 32 a value
    assert plan.tokens == plan.prompt_tokens + plan.completion_expected + plan.proposal_tokens
    logged = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    proposed = [e for e in logged if e["row"] is None]  # the proposals are logged, as no row's calls
    assert [(e["proposal"], e["label"]) for e in proposed] == [("topic", "positive"), ("topic", "negative")]
    assert [e["messages"] for e in proposed] == [list(r.messages) for r in asked]
    assert [e["response"] for e in proposed] == ["food\ntravel\nmusic"] * 2
    assert "(row 0, the first row's call in log.jsonl)" in (tmp_path / "out" / "README.md").read_text()

    tight = {**RECIPE, "prompt": prompt, "attributes": {"topic": {"propose": 3}}}
    tight["generation"] = {**gen, "max_prompt_calls": 2}
    (tmp_path / "tight").mkdir()
    with pytest.raises(ConfigError, match=r"leaves no call for the rows after the 2 attribute proposal"):
        plan_recipe(load_recipe(write_project(tmp_path / "tight", tight)), llm=Fake())


REVIEW_TEXTS = [f"Review {i}: a film." for i in range(4)]


def annotation_recipe(folder: Path, fewshot: dict[str, Any], generation: dict[str, Any]) -> Any:
    """A scored annotation recipe of the 4 ``REVIEW_TEXTS`` with a 6-row few-shot pool, loaded."""
    (folder / "reviews.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in REVIEW_TEXTS))
    pool = [{"text": f"Example {i}.", "label": ["positive", "negative"][i % 2]} for i in range(6)]
    (folder / "fewshot.jsonl").write_text("\n".join(json.dumps(t) for t in pool))
    spec = {
        "prompt": {
            "task_description": "Is this movie review {}?",
            "label_options": ["positive", "negative"],
            "generate_data_for_column": "label",
            "fewshot_example_columns": "text",
        },
        "fewshot": {"path": "fewshot.jsonl", **fewshot},
        "unlabeled": {"path": "reviews.jsonl"},
        "model": {"backend": "fake"},
        "generation": {"temperature": 0.0, **generation},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec))
    return load_recipe(folder / "recipe.yaml")


def test_plan_counts_the_votes_of_scored_annotation(tmp_path):
    """Votes and task rephrasings multiply a row's calls: the plan counts each vote's prompt as
    the run sends it, and a budget short of every vote plans the rows it can give all of them."""

    def recipe(calls: int) -> Any:
        return annotation_recipe(
            tmp_path,
            {"sampling_strategy": "stratified", "examples_per_class": 1},
            {
                "max_prompt_calls": calls,
                "votes": 2,
                "task_rephrasings": ["Which word fits the opinion of this review: {}?"],
            },
        )

    plan = plan_recipe(recipe(12), output=tmp_path / "out", llm=Fake())
    assert (plan.rows, plan.votes) == (4, 8)  # each row: its prompt, another draw, the rephrasing
    assert "4 first asks + 8 votes" in dict(plan.lines())["model calls"]
    assert plan.as_dict()["calls"][0] == 12

    llm = Fake("positive", token_probs=lambda r: {" positive": 0.7, " negative": 0.3})
    run_recipe(recipe(12), output=tmp_path / "out", llm=llm, progress=False)
    assert llm.calls == 12
    sent = [estimate_tokens(r.messages) for r in llm.requests]
    assert plan.prompt_tokens + plan.vote_prompt_tokens == sum(sent)
    assert plan.tokens == plan.prompt_tokens + plan.vote_prompt_tokens + 12 * plan.max_tokens

    short = plan_recipe(recipe(7), output=tmp_path / "short", llm=Fake())
    assert (short.rows, short.votes) == (2, 4)  # a row is planned with all its votes, or not at all


def test_plan_with_votes_and_nearest_examples_embeds_each_row_once(tmp_path, monkeypatch):
    """The plan counts the rows' prompts and their votes' in one walk of the planner, so rows
    whose examples are chosen by similarity are embedded once at plan time, as in the run."""
    from fabricator.samplers import similar

    batches: list[list[str]] = []

    def embed(texts):
        batches.append(list(texts))
        return [[1.0 + len(t) % 3, float(i % 2) + 0.5] for i, t in enumerate(texts)]

    monkeypatch.setattr(similar, "minilm_embedder", embed)
    recipe = annotation_recipe(
        tmp_path, {"sampling_strategy": "similar", "examples": 2}, {"max_prompt_calls": 12, "votes": 3}
    )
    plan = plan_recipe(recipe, output=tmp_path / "out", llm=Fake())
    assert (plan.rows, plan.votes) == (4, 8)
    assert plan.vote_prompt_tokens > 0
    row_batches = [b for b in batches if b and b[0].startswith("Review")]
    assert sorted(t for b in row_batches for t in b) == REVIEW_TEXTS  # each row embedded once


def test_plan_says_the_cost_online_vs_batch(tmp_path, server, capsys):
    path = openai_recipe(tmp_path, server, prices=[2.0, 8.0], batch_prices=[1.0, 4.0])
    assert main(["plan", path, "--json", str(tmp_path / "plan.json")]) == 0
    figures = json.loads((tmp_path / "plan.json").read_text())
    assert figures["cost_usd_batch"] == pytest.approx(figures["cost_usd"] / 2)
    assert f"vs batch ${figures['cost_usd_batch']:.4f} expected" in capsys.readouterr().out
    plan = plan_recipe(load_recipe(path))
    assert plan.cost_batch_expected == pytest.approx(figures["cost_usd_batch"])
    online_only = plan_recipe(load_recipe(openai_recipe(tmp_path, server, prices=[2.0, 8.0])))
    assert online_only.cost_batch_expected is None and "vs batch" not in dict(online_only.lines())["cost"]
