"""Settings chosen on the labelled few-shot pool (issue 28): folds, budget, explicit options, choice."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from conftest import write_recipe
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.card_method import tuning_lines
from fabricator.app.plan import tuning_line
from fabricator.app.recipe import load_recipe
from fabricator.app.runner import plan_recipe, run_recipe
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.options import GenerationOptions
from fabricator.pipeline.tune.candidates import Given, candidate_set
from fabricator.pipeline.tune.choice import confidence_note
from fabricator.pipeline.tune.folds import split_folds, split_stages
from fabricator.pipeline.tune.run import Scored, advancing
from fabricator.pipeline.tune.scorer import clearly_better
from fabricator.tables import write_jsonl
from fabricator.testing import FakeOpenAIServer

pytestmark = pytest.mark.usefixtures("letter_encoder")

LABELS = ["positive", "negative"]


def prompt() -> BasePrompt:
    return BasePrompt(
        "Classify the review as one of: {}.",
        label_options=LABELS,
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )


def pool(n: int = 200) -> Dataset:
    return Dataset.from_dict(
        {
            "text": [f"{'good' if i % 2 else 'bad'} p{i}" for i in range(n)],
            "label": [LABELS[1 - i % 2] for i in range(n)],
        }
    )


def rows(n: int) -> Dataset:
    return Dataset.from_dict({"text": [f"{'good' if i % 2 else 'bad'} r{i}" for i in range(n)]})


def texts_in(messages: Sequence[dict[str, str]]) -> tuple[str, list[str]]:
    """The row's text and the example texts of a prompt (its ``text:`` lines)."""
    user = next(m["content"] for m in messages if m["role"] == "user")
    found = re.findall(r"^text: (.*)$", user, flags=re.MULTILINE)
    return found[-1], found[:-1]


def examples_help(messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, float]:
    """Zero-shot the model leans "positive" whatever the text; with examples it is right, unsure."""
    row, shown = texts_in(messages)
    if not shown:
        return {" positive": 0.6, " negative": 0.4}
    good = row.startswith("good")
    return {" positive": 0.7, " negative": 0.3} if good else {" positive": 0.3, " negative": 0.7}


def run(server: FakeOpenAIServer, data: Dataset, calls: int, **options: Any) -> DatasetGenerator:
    llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k", supports_prefill=True)
    g = DatasetGenerator(llm)
    g.generate(prompt(), fewshot_dataset=options.pop("fewshot", pool()), unlabeled_dataset=data,
               max_prompt_calls=calls, **options)  # fmt: skip
    asyncio.run(llm.aclose())
    return g


# --- folds -------------------------------------------------------------------------------------


def test_folds_never_show_a_row_its_own_label_and_spread_the_labels():
    labels = ["a"] * 30 + ["b"] * 10
    folds = split_folds(labels, 20, 5, seed=3)
    held = [i for f in folds for i in f.held]
    assert len(held) == len(set(held)) == 20  # each held-out row in one fold only
    for fold in folds:
        assert not set(fold.held) & set(fold.rest)  # no row sees itself
        assert set(fold.held) | set(fold.rest) == set(range(40))  # the rest is every other pool row
    per_fold_b = [sum(labels[i] == "b" for i in f.held) for f in folds]
    assert max(per_fold_b) - min(per_fold_b) <= 1  # the rare label spread over the folds
    assert split_folds(labels, 20, 5, seed=3) == folds and split_folds(labels, 20, 5, seed=4) != folds


def test_held_out_prompts_never_show_the_row_being_annotated():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        g = run(server, rows(300), 300)
        asked = [texts_in(r.body["messages"]) for r in server.requests]
    tuning = [(row, shown) for row, shown in asked if row.startswith(("good p", "bad p"))]
    assert tuning and g.last_run.summary()["tuning"]["rows"] >= 10
    assert all(row not in shown for row, shown in tuning)


# --- candidates, explicit options ----------------------------------------------------------------


def given(**explicit: Any) -> Given:
    return Given(None, None, explicit, descriptions=False, smallest_class=50, calls_per_row=5)


def test_the_candidates_when_nothing_is_set_and_what_the_call_cap_allows():
    names = [c.name for c in candidate_set(given())[0]]
    assert names == ["zero-shot", "shared", "similar", "shared-votes"]
    assert candidate_set(given())[1] == ("off", "batch")  # calibration is read on the same answers
    capped = Given(None, None, {}, descriptions=True, smallest_class=50, calls_per_row=1)
    assert [c.name for c in candidate_set(capped)[0]] == [
        "zero-shot",
        "zero-shot-plain",
        "shared",
        "shared-plain",
        "similar",
    ]


def test_explicit_options_win():
    yours = Given("similar", None, {"fewshot_examples": 6, "calibration": "off"}, False, 50, 5)
    candidates, calibrations = candidate_set(yours)
    assert [(c.name, c.strategy, dict(c.options)) for c in candidates] == [
        ("yours", "similar", {"fewshot_examples": 6})
    ]
    assert calibrations == ("off",)
    voted = candidate_set(given(votes=3))[0]
    assert "zero-shot" not in [c.name for c in voted] and all(c.prompts_per_row == 3 for c in voted)


def test_options_set_by_the_user_are_known_as_explicit():
    options = GenerationOptions(sampling={"calibration": "off"}).replace(seed=2)
    assert options.explicit() == {"calibration": "off", "seed": 2}  # the defaults are not "set"


def test_an_explicit_setting_is_the_run_setting_and_only_the_rest_is_chosen():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        g = run(server, rows(300), 300, fewshot_sampling_strategy="stratified", fewshot_examples_per_class=1,
                calibration="off")  # fmt: skip
    tuning = g.last_run.summary()["tuning"]
    assert [c["setting"] for c in tuning["candidates"]] == [
        "yours"
    ]  # nothing left to choose but the temperature
    assert tuning["chosen"] == "yours" and tuning["accuracy"] == 1.0


# --- the budget, the choice, the journal ---------------------------------------------------------


def test_tuning_stays_within_its_budget_and_chooses_what_works_on_the_pool():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        g = run(server, rows(300), 300)
        sent = server.stats["completed"]
    summary = g.last_run.summary()
    tuning = summary["tuning"]
    assert summary["calls"] == 300 and sent == 300 + tuning["calls"]
    assert tuning["calls"] <= 0.1 * 300  # default tune_budget: 10 % of the run's calls
    by_name = {c["setting"]: (c["accuracy"], c["rows"]) for c in tuning["candidates"]}
    assert by_name["zero-shot"] == (0.5, 6)  # dropped after the first stage's 6 rows
    assert by_name["shared"] == by_name["similar"] == (1.0, 12)  # the finalists: both stages
    assert tuning["chosen"] == "shared-calibrated" and tuning["rows"] == 12  # a tie keeps the prior
    assert tuning["temperature"] == 1.0  # 12 rows fit no temperature (20 needed)


def test_a_larger_budget_scores_more_rows_and_too_small_a_one_tunes_nothing():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        more = run(server, rows(300), 300, tune_budget=0.3).last_run.summary()["tuning"]
        server.reset_stats()
        small = run(server, rows(50), 50).last_run.summary()
        assert server.stats["completed"] == 50  # 5 calls cannot tell 3 candidates apart: not tuned
    assert more["rows"] == 36 and more["calls"] <= 90  # 18 rows a stage: 3 candidates, then 2
    assert more["temperature"] < 1  # on 36 rows, under-confident answers are sharpened
    assert "tuning" not in small


def test_untuned_a_pool_given_with_nothing_else_is_not_put_whole_into_every_prompt():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        run(server, rows(50), 50)  # too few calls to tune: 200 pool rows in every prompt otherwise
        shown = {tuple(texts_in(r.body["messages"])[1]) for r in server.requests}
        assert len(server.requests) == 50 and len(shown) == 1  # the prior's one shared draw
        assert len(next(iter(shown))) == 4  # 2 pool rows of each label
        server.reset_stats()
        run(server, rows(4), 4, fewshot_sampling_strategy="stratified", fewshot_examples_per_class=1)
        assert all(len(texts_in(r.body["messages"])[1]) == 2 for r in server.requests[-4:])  # as asked
    generator = DatasetGenerator(Fake(lambda text: "positive"))
    planned = generator.plan(prompt(), pool(), unlabeled_dataset=rows(50), max_prompt_calls=50)
    assert "the prompts show one shared draw of 2 pool rows per label" in tuning_line(planned.tuning)
    one_sided = pool().filter(lambda r: r["label"] == "positive")  # no "negative" row to show
    planned = generator.plan(prompt(), one_sided, unlabeled_dataset=rows(50), max_prompt_calls=50)
    assert planned.task.pool is None and "the prompts show zero-shot" in tuning_line(planned.tuning)


def test_a_rerun_pays_nothing_for_tuning_on_a_backend_without_logprobs(tmp_path):
    """Labels scored from sampled answers: tuning's folds and the run come back from the journal."""

    def answer(messages: list, body: dict) -> str:
        row, shown = texts_in(messages)
        return "positive" if not shown or row.startswith("good") else "negative"

    with FakeOpenAIServer(responder=answer, serve_logprobs=False) as server:
        first = run(server, rows(300), 3000, tune_budget=0.5, journal_dir=tmp_path)
        paid = server.stats["completed"]
        server.reset_stats()
        again = run(server, rows(300), 3000, tune_budget=0.5, journal_dir=tmp_path)
        assert server.stats["completed"] == 0
    tuning = first.last_run.summary()["tuning"]
    assert paid > 300 and tuning["calls"] > 0
    assert again.last_run.summary()["tuning"] == {**tuning, "calls": 0}


def test_a_rerun_pays_nothing_and_tune_off_makes_no_tuning_call(tmp_path):
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        first = run(server, rows(300), 300, journal_dir=tmp_path).last_run.summary()["tuning"]
        server.reset_stats()
        again = run(server, rows(300), 300, journal_dir=tmp_path).last_run.summary()["tuning"]
        assert server.stats["completed"] == 0 and again == {**first, "calls": 0}
        off = run(server, rows(300), 300, tune="off", fewshot_sampling_strategy="stratified",
                  fewshot_examples_per_class=1, journal_dir=tmp_path / "off")  # fmt: skip
        assert "tuning" not in off.last_run.summary() and server.stats["completed"] == 300


# --- the plan, before any call ---------------------------------------------------------------------


def test_the_plan_shows_the_tuning_calls_before_any_model_call():
    llm = Fake("positive")
    planned = DatasetGenerator(llm).plan(
        prompt(), pool(), unlabeled_dataset=rows(1000), max_prompt_calls=1000
    )
    tuning = planned.tuning
    assert tuning is not None and llm.calls == 0
    assert [c.name for c in tuning.candidates] == ["zero-shot", "shared", "similar"]  # votes: over the cap
    assert tuning.calls == 100 and tuning.rows == 40  # 10 % of 1,000 calls: 20 rows × 3, 20 rows × 2
    assert tuning.keep == (3, 2) and tuning.base == ("shared", "batch")
    line = tuning_line(tuning)
    assert "3 candidate settings (zero-shot, shared, similar)" in line and "40 held-out pool rows" in line
    assert "2 stages of 20 rows" in line and "clearly beaten: shared-calibrated" in line
    small = DatasetGenerator(llm).plan(prompt(), pool(), unlabeled_dataset=rows(50), max_prompt_calls=50)
    assert small.tuning is not None and tuning_line(small.tuning).startswith("not tuned: tune_budget=0.1")
    off = DatasetGenerator(llm).plan(
        prompt(), pool(), unlabeled_dataset=rows(300), max_prompt_calls=300, tune="off"
    )
    assert off.tuning is None


def test_the_card_lists_the_choice_and_the_candidates():
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        summary = run(server, rows(300), 300).last_run.summary()
    lines = "\n".join(tuning_lines(summary["tuning"]))
    assert "`shared-calibrated`, 1.00 ±" in lines and "on 12 held-out pool rows" in lines
    assert "| `zero-shot` | 0.500 | 6 | 1 |" in lines and "| `similar-calibrated` | 1.000 | 12 | 1 |" in lines


def test_the_default_stays_unless_another_setting_is_clearly_better_on_the_same_rows():
    gold = ["a"] * 10
    right, wrong = {"a": 0.9, "b": 0.1}, {"a": 0.1, "b": 0.9}
    base = [right] * 7 + [wrong] * 3
    one_more = [right] * 8 + [wrong] * 2  # one row more: chance
    many_more = [right] * 10  # all three the default missed, none it got: more than chance
    assert not clearly_better(one_more, base, gold)
    assert clearly_better(many_more, base, gold) and not clearly_better(base, many_more, gold)


def test_where_examples_do_not_help_the_prior_stays_and_where_they_hurt_zero_shot_wins():
    def same_either_way(messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, float]:
        row = texts_in(messages)[0]
        sure = 0.9 if row.startswith("good") else 0.2
        return {" positive": sure, " negative": 1 - sure}

    def examples_hurt(messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, float]:
        row, shown = texts_in(messages)
        right = row.startswith("good") != bool(shown)  # with examples the model says the opposite
        return {" positive": 0.8, " negative": 0.2} if right else {" positive": 0.2, " negative": 0.8}

    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=same_either_way) as server:
        tuning = run(server, rows(300), 300).last_run.summary()["tuning"]
    assert tuning["chosen"] == "shared-calibrated" and tuning["accuracy"] == 1.0
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_hurt) as server:
        tuning = run(server, rows(300), 300).last_run.summary()["tuning"]
        asked = [texts_in(r.body["messages"]) for r in server.requests]
    assert tuning["chosen"] == "zero-shot" and tuning["accuracy"] == 1.0
    rows_of = {c["setting"]: c["rows"] for c in tuning["candidates"]}
    # ties after the first stage go the prior's way: "similar" (as wrong as "shared") is dropped
    assert rows_of == {s: 6 if s.startswith("similar") else 12 for s in rows_of}
    tuning_rows = [row for row, _ in asked if row.startswith(("good p", "bad p"))]
    assert len(tuning_rows) == 6 * 3 + 6 * 2 == tuning["calls"]  # no call for a dropped candidate


def test_stages_hold_out_new_rows_and_spread_the_labels():
    labels = ["a"] * 60 + ["b"] * 20
    stages = split_stages(labels, 10, 3, 2, seed=1)
    held = [i for stage in stages for fold in stage for i in fold.held]
    assert len(held) == len(set(held)) == 30  # no row in two stages or two folds
    for stage in stages:
        assert sum(len(f.held) for f in stage) == 10
        assert sum(labels[i] == "b" for f in stage for i in f.held) in (2, 3)  # a quarter of each stage
        for fold in stage:
            assert not set(fold.held) & set(fold.rest) and len(fold.held) + len(fold.rest) == 80


def test_a_stage_keeps_the_most_accurate_and_a_tie_goes_to_the_prior():
    tuning = (
        DatasetGenerator(Fake("positive"))
        .plan(prompt(), pool(), unlabeled_dataset=rows(1000), max_prompt_calls=1000)
        .tuning
    )
    assert tuning is not None and tuning.base == ("shared", "batch")
    gold = [LABELS[i % 2] for i in range(10)]

    def answers(right: set[int]) -> list[dict[str, float]]:
        """Sure answers, right on the rows in ``right``; as many of each label (calibration moves none)."""
        out = []
        for i, label in enumerate(gold):
            other = LABELS[1 - LABELS.index(label)]
            out.append({label: 0.9, other: 0.1} if i in right else {label: 0.1, other: 0.9})
        return out

    def kept(**right: set[int]) -> list[str]:
        scored = Scored(tuning, gold=gold)
        scored.raw = {name.replace("_", "-"): answers(rows) for name, rows in right.items()}
        return [c.name for c in advancing(scored, list(tuning.candidates), 2)]

    # the two most accurate go on, the prior among them or not: it has no seat of its own
    assert kept(zero_shot=set(range(9)), similar=set(range(8)), shared={0, 1, 2, 3, 4, 5, 9}) == [
        "zero-shot",
        "similar",
    ]
    # a tie for the last seat goes to the prior
    assert kept(zero_shot=set(range(9)), similar=set(range(8)), shared=set(range(8))) == [
        "zero-shot",
        "shared",
    ]


def test_the_card_says_when_confidences_were_not_rescaled_and_how_to_get_a_temperature():
    # 34 held-out rows, ECE 0.136, no temperature kept: the card says so and names the remedy
    unfitted = confidence_note(34, 1.0, 0.136, 0.136)
    assert "not rescaled: 34 held-out rows did not support a temperature" in unfitted
    assert "raise tune_budget" in unfitted
    fitted = confidence_note(104, 0.45, 0.044, 0.142)
    assert fitted == "ECE 0.044 after temperature 0.45 (before: 0.142)"
    assert confidence_note(34, 1.0, 0.02, 0.02) == "ECE 0.020, no temperature needed"
    assert "tune_budget" not in confidence_note(150, 1.0, 0.09, 0.09)  # enough rows: no remedy to name
    summary = {"chosen": "shared-calibrated", "accuracy": 0.85, "margin": 0.12, "rows": 34, "calls": 78,
               "temperature": 1.0, "ece": 0.136, "ece_before": 0.136, "candidates": []}  # fmt: skip
    card = "\n".join(tuning_lines(summary))
    assert "expected calibration error: ECE 0.136, confidences not rescaled" in card and "tune_budget" in card


def test_the_plan_of_a_folder_names_what_its_last_run_chose_and_a_rerun_chooses_it_free(tmp_path):
    write_jsonl(pool(), tmp_path / "pool.jsonl")
    write_jsonl(rows(300), tmp_path / "rows.jsonl")
    recipe_path = write_recipe(tmp_path, {
        "prompt": {"task_description": "Classify the review as one of: {}.", "label_options": LABELS,
                   "generate_data_for_column": "label", "fewshot_example_columns": "text"},
        "fewshot": {"path": "pool.jsonl"},
        "unlabeled": {"path": "rows.jsonl"},
        "model": {"backend": "fake"},
        "generation": {"max_prompt_calls": 300},
    })  # fmt: skip
    recipe, out = load_recipe(recipe_path), tmp_path / "out"
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=examples_help) as server:
        llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k", supports_prefill=True)
        assert "chosen before" not in dict(plan_recipe(recipe, output=out, llm=llm).lines())
        run_recipe(recipe, output=out, llm=llm, progress=False)
        chosen = json.loads((out / "metadata.json").read_text())["summary"]["tuning"]
        server.reset_stats()
        plan = plan_recipe(recipe, output=out, llm=llm)
        assert server.stats["received"] == 0
        before = dict(plan.lines())["chosen before"]
        assert before.startswith(f"`{chosen['chosen']}` in the run of ")
        expected = f"accuracy {chosen['accuracy']:.2f} ± {chosen['margin']:.2f} on {chosen['rows']} held-out"
        assert expected in before
        assert plan.as_dict()["previous_tuning"] == before
        run_recipe(recipe, output=out, llm=llm, progress=False)
        again = json.loads((out / "metadata.json").read_text())["summary"]["tuning"]
        assert again == {**chosen, "calls": 0} and server.stats["completed"] == 0  # all from the journal
        other = OpenAICompatible(model="other", base_url=server.base_url, api_key="k", supports_prefill=True)
        assert "chosen before" not in dict(plan_recipe(recipe, output=out, llm=other).lines())
        (out / "metadata.json").write_text('{"model": "m", "summary": {"tuning": {"chosen": 3}}}')
        assert "chosen before" not in dict(plan_recipe(recipe, output=out, llm=llm).lines())  # no traceback
        asyncio.run(llm.aclose())
        asyncio.run(other.aclose())
