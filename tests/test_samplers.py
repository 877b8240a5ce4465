import random
from collections import Counter

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, Value

from fabricator.errors import ConfigError
from fabricator.samplers import (
    SAMPLING_STRATEGIES,
    FewShotPool,
    Similar,
    SimilarIndex,
    embedder_of,
    minilm_embedder,
)


def pool(ds, **kw):
    return FewShotPool(ds, columns=["text"], label_column="label", **kw)


def test_uniform_draws_k_examples_of_one_label(sentiment_fewshot):
    p = pool(sentiment_fewshot, label_options=["positive", "negative"])
    rng = random.Random(0)
    for _ in range(50):
        s = p.draw(rng, "uniform", 2)
        assert isinstance(s.labels, str) and len(s.examples) == 2 and len(set(s.ids)) == 2
        assert {e["label"] for e in s.examples} == {s.labels}


def test_stratified_draws_k_per_class(sentiment_fewshot):
    p = pool(sentiment_fewshot, label_options=["positive", "negative"])
    s = p.draw(random.Random(1), "stratified", 2)
    assert Counter(e["label"] for e in s.examples) == {"positive": 2, "negative": 2}
    assert s.labels == ["positive", "negative"]


def test_draws_are_seeded(sentiment_fewshot):
    p = pool(sentiment_fewshot)
    a = [p.draw(random.Random(5), None, 3).ids for _ in range(3)]
    assert a[0] == a[1] == a[2]


def test_classlabel_ids_become_names():
    ds = Dataset.from_dict(
        {"text": ["a", "b"], "label": [0, 1]},
        features=Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}),
    )
    p = pool(ds, label_options=["neg", "pos"])
    assert set(p.by_label) == {"neg", "pos"}


def test_bad_inputs(sentiment_fewshot):
    with pytest.raises(ConfigError, match="not among the label options"):
        pool(sentiment_fewshot, label_options=["positive", "neutral"])
    with pytest.raises(ConfigError, match="lacks column"):
        FewShotPool(sentiment_fewshot, columns=["review"], label_column="label")
    with pytest.raises(ConfigError, match="empty"):
        FewShotPool(Dataset.from_dict({"text": [], "label": []}), columns=["text"], label_column="label")
    p = pool(sentiment_fewshot)
    with pytest.raises(ConfigError, match="has only 3"):
        p.check("stratified", 4, ["positive", "negative"])
    with pytest.raises(ConfigError, match="unknown fewshot_sampling_strategy"):
        p.check("balanced", 1, ["positive"])


def _ids_dataset(texts, labels):
    return Dataset.from_dict(
        {"text": texts, "label": labels},
        features=Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])}),
    )


def test_id_minus_one_is_no_label_never_the_last_label():
    ds = _ids_dataset(["not labeled", "great", "awful", "also not labeled"], [-1, 1, 0, -1])
    p = pool(ds, label_options=["neg", "pos"])
    assert {label: [p.rows[i]["text"] for i in rows] for label, rows in p.by_label.items()} == {
        "pos": ["great"],
        "neg": ["awful"],
    }
    rng = random.Random(0)
    for strategy in ("uniform", "stratified", None):
        for _ in range(20):
            s = p.draw(rng, strategy, 1)
            assert all(e["label"] in ("neg", "pos") for e in s.examples)
            # ids name rows of the dataset the user gave, unlabeled rows included
            assert [ds[i]["text"] for i in s.ids] == [e["text"] for e in s.examples]


def test_a_pool_without_labeled_rows_is_a_clear_error():
    with pytest.raises(ConfigError, match="no labeled rows in column 'label'"):
        pool(_ids_dataset(["a", "b"], [-1, -1]))
    with pytest.raises(ConfigError, match="no labeled rows"):
        pool(Dataset.from_dict({"text": ["a"], "label": [None]}))


# --- "similar": the nearest examples --------------------------------------------------------------


def _onehot(texts):
    """Each text's first character picks its axis (a-e), the rest leans it toward axis f."""
    out = np.zeros((len(texts), 6))
    for i, t in enumerate(texts):
        out[i, "abcde".index(t[0])] = 1.0
        out[i, 5] = 0.1 * len(t)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_similar_index_orders_nearest_last_breaks_ties_by_pool_order_and_skips_the_row():
    pool_rows = [{"text": t, "label": lab} for t, lab in [("a", "x"), ("aa", "y"), ("b", "x"), ("a", "y")]]
    index = SimilarIndex(pool_rows, ["text"], _onehot)
    assert index.nearest(["aaa"], 2) == [[0, 1]]  # "aa" is nearest (last); "a" at 0 and 3 tie: 0 first
    assert index.nearest(["a"], 2) == [[2, 1]]  # both "a" rows are the row itself: never shown
    balanced = SimilarIndex(pool_rows, ["text"], _onehot, label_column="label")
    assert balanced.nearest(["bb"], 1, per_class=True) == [[1, 2]]  # the nearest y, then x
    assert index.nearest([], 2) == []


def test_similar_index_refuses_an_embedder_of_the_wrong_shape():
    with pytest.raises(ConfigError, match="shape") as info:
        SimilarIndex([{"text": "a"}, {"text": "b"}], ["text"], lambda texts: np.zeros(len(texts)))
    assert "(n, d)" in info.value.hint


def test_similar_is_the_strategy_name_carrying_its_embedder():
    assert Similar() == "similar" and "similar" in SAMPLING_STRATEGIES
    assert embedder_of(Similar(_onehot)) is _onehot and embedder_of("similar") is minilm_embedder


def test_pool_check_of_similar_counts(sentiment_fewshot):
    p = pool(sentiment_fewshot)
    p.check("similar", None, ["positive", "negative"], examples=6)
    with pytest.raises(ConfigError, match="has 6 rows"):
        p.check("similar", None, ["positive", "negative"], examples=7)
    with pytest.raises(ConfigError, match="has only 3"):
        p.check("similar", 4, ["positive", "negative"])
