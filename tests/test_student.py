"""Student classifier, diagnostics, report and ``fabricator evaluate student``.

Everything runs on the small review data shipped in ``tests/data/student`` (60 training rows, 30
test rows, half positive); only the check that the student learns real data reads SST-2 from the
shared data folder, and skips where there is none.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, concatenate_datasets

from fabricator.errors import ConfigError
from fabricator.evaluation import student as student_module
from fabricator.evaluation.diagnostics import (
    compare,
    diagnose,
    distinct_n,
    duplicate_rate,
    label_distribution,
    length_stats,
)
from fabricator.evaluation.report import write_report
from fabricator.evaluation.student import (
    StudentResult,
    learning_curve,
    train_student,
)
from fabricator.evaluation.student import embeddings as embeddings_module
from fabricator.tables import load_table, write_jsonl

REVIEWS = Path(__file__).resolve().parent / "data" / "student"


@pytest.fixture(scope="module")
def reviews_train() -> Dataset:
    """Movie reviews shipped with the tests: 60 rows, positive and negative in turn."""
    return load_table(REVIEWS / "train.jsonl")


@pytest.fixture(scope="module")
def reviews_test() -> Dataset:
    return load_table(REVIEWS / "test.jsonl")  # 30 rows, 15 of each label


@pytest.fixture(scope="module")
def result(reviews_train: Dataset, reviews_test: Dataset) -> StudentResult:
    return train_student(reviews_train, reviews_test, seed=0)


# --- the student --------------------------------------------------------------------------------


def test_student_result(result: StudentResult) -> None:
    assert result.accuracy > 0.8  # plain reviews: the frozen encoder separates them well
    assert result.macro_f1 > 0.8
    assert result.method == "embeddings"
    assert result.n_train == 60 and result.n_test == 30
    assert result.labels == ["negative", "positive"]
    assert set(result.per_class) == {"negative", "positive"}
    assert sum(s["support"] for s in result.per_class.values()) == 30
    matrix = result.confusion_matrix["matrix"]
    assert sum(map(sum, matrix)) == 30
    assert (matrix[0][0] + matrix[1][1]) / 30 == pytest.approx(result.accuracy)
    assert set(result.timings) >= {"embed_s", "fit_s", "predict_s", "total_s"}
    assert result.train_label_counts == {"negative": 30, "positive": 30}
    json.dumps(result.to_dict())  # JSON-ready


def test_student_beats_chance_on_sst2(shared_data: Path) -> None:
    """The one measurement on real data: 200 SST-2 sentences teach the student the task."""
    sst2 = shared_data / "sst2"
    if not (sst2 / "train.jsonl").exists():
        pytest.skip(f"SST-2 not found under {shared_data}")
    train = load_table(sst2 / "train.jsonl", limit=200)  # 98 negative, 102 positive
    on_sst = train_student(train, load_table(sst2 / "validation.jsonl", limit=200), seed=0)
    assert on_sst.accuracy > 0.6 and on_sst.macro_f1 > 0.6
    assert on_sst.n_train == 200 and on_sst.n_test == 200
    assert on_sst.train_label_counts == {"negative": 98, "positive": 102}


def test_same_seed_same_numbers(result: StudentResult, reviews_train: Dataset, reviews_test: Dataset) -> None:
    again = train_student(reviews_train, reviews_test, seed=0)
    assert again.accuracy == result.accuracy
    assert again.macro_f1 == result.macro_f1
    assert again.per_class == result.per_class
    assert again.confusion_matrix == result.confusion_matrix
    assert again.predictions == result.predictions


def test_row_order_does_not_change_the_student(reviews_train: Dataset, reviews_test: Dataset) -> None:
    """A shuffled copy of the data is the same data: same C, same predictions, same scores."""
    rows = reviews_train  # data where the row order used to move the CV's C
    student = train_student(rows, reviews_test, seed=0)
    for seed in (0, 1):
        shuffled = train_student(rows.shuffle(seed=seed), reviews_test, seed=0)
        assert shuffled.model == student.model and shuffled.predictions == student.predictions
    curve = learning_curve(rows, reviews_test, sizes=[60], seed=0)
    assert curve.points[0].accuracy == student.accuracy  # the full-size point is the student


def test_classlabel_ids_and_strings_give_the_same_result(
    result: StudentResult, reviews_train: Dataset, reviews_test: Dataset
) -> None:
    ids = reviews_train.cast_column("label", ClassLabel(names=["negative", "positive"]))
    assert ids[0]["label"] == 1  # the first review is positive
    mixed = train_student(ids, reviews_test, seed=0)  # ClassLabel train, string test
    assert mixed.labels == ["negative", "positive"]
    assert mixed.accuracy == result.accuracy
    assert mixed.predictions == result.predictions


def test_fixed_C(reviews_train: Dataset, reviews_test: Dataset) -> None:
    fixed = train_student(reviews_train, reviews_test, C=1.0)
    assert "C=1)" in fixed.model and fixed.accuracy > 0.8


# --- bad input, each before any training --------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before checking the input")

    monkeypatch.setattr(embeddings_module, "embed_texts", fail)


def _data(texts: list[str], labels: list[object], **extra: list[object]) -> Dataset:
    return Dataset.from_dict({"text": texts, "label": labels, **extra})


GOOD = _data(["a", "b", "c", "d"], ["pos", "neg", "pos", "neg"])


def test_test_labels_unknown_to_training(no_training: None) -> None:
    test = _data(["x", "y", "z"], ["positive", "neg", "negative"])
    with pytest.raises(ConfigError) as err:
        train_student(GOOD, test)
    assert "['negative', 'positive']" in str(err.value)  # the unknown labels, named
    assert "['neg', 'pos']" in str(err.value)  # and the training labels


def test_missing_text_column(no_training: None) -> None:
    data = Dataset.from_dict({"sentence": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(ConfigError, match=r"no text column 'text'.*'sentence', 'label'"):
        train_student(data, GOOD)
    with pytest.raises(ConfigError, match=r"test data has no text column 'text'"):
        train_student(GOOD, data)


def test_missing_label_column(no_training: None) -> None:
    data = Dataset.from_dict({"text": ["a", "b"], "sentiment": ["x", "y"]})
    with pytest.raises(ConfigError, match=r"no label column 'label'.*'text', 'sentiment'"):
        train_student(data, GOOD)
    with pytest.raises(ConfigError, match=r"no label column 'polarity'"):
        train_student(GOOD, GOOD, label_column="polarity")


def test_too_few_rows_per_class(no_training: None) -> None:
    data = _data(["a", "b", "c", "d"], ["pos", "pos", "pos", "neg"])
    with pytest.raises(ConfigError, match=r"too few training rows per class: \{'neg': 1\}"):
        train_student(data, _data(["x"], ["pos"]))


def test_single_class(no_training: None) -> None:
    data = _data(["a", "b", "c"], ["pos", "pos", "pos"])
    with pytest.raises(ConfigError, match="single class"):
        train_student(data, _data(["x"], ["pos"]))


def test_unlabeled_rows_and_other_input(no_training: None) -> None:
    with pytest.raises(ConfigError, match="1 of 4 rows have no label"):
        train_student(_data(["a", "b", "c", "d"], ["pos", None, "pos", "neg"]), GOOD)
    with pytest.raises(ConfigError, match="test data has no rows"):
        train_student(GOOD, GOOD.select([]))
    with pytest.raises(ConfigError, match="unknown student method"):
        train_student(GOOD, GOOD, method="svm")
    with pytest.raises(ConfigError, match=r"must be a datasets\.Dataset"):
        train_student([{"text": "a", "label": "pos"}], GOOD)


def test_task_labels_name_what_is_not_in_them(no_training: None) -> None:
    with pytest.raises(ConfigError, match=r"training labels \['neg'\] are not among the task's labels"):
        train_student(GOOD, GOOD, labels=["pos", "neutral"])
    with pytest.raises(ConfigError, match=r"test labels \['mixed'\] are not among"):
        train_student(GOOD, _data(["x"], ["mixed"]), labels=["pos", "neg"])
    one_learnable = _data(["a", "b", "c"], ["pos", "pos", "neg"])
    with pytest.raises(ConfigError, match="fewer than 2 classes with at least 2 rows"):
        train_student(one_learnable, GOOD, labels=["pos", "neg"])


def test_task_labels_score_untrained_classes_as_wrong(
    reviews_train: Dataset, reviews_test: Dataset, result: StudentResult
) -> None:
    """An annotator that never (or once) answers a class still gets a student, scored honestly."""
    train = concatenate_datasets([reviews_train, _data(["A mixed bag."], ["mixed"])])
    extra = _data(["Neither good nor bad.", "It is a film."], ["neutral", "neutral"])
    three_way = train_student(
        train,
        concatenate_datasets([reviews_test, extra]),
        seed=0,
        labels=["negative", "positive", "mixed", "neutral"],
    )
    assert three_way.untrained_labels == ["mixed", "neutral"]
    assert three_way.n_train == len(reviews_train)  # the single "mixed" row was left out
    assert three_way.predictions[: len(reviews_test)] == result.predictions  # same student as without
    correct = round(result.accuracy * len(reviews_test))
    assert three_way.accuracy == pytest.approx(correct / (len(reviews_test) + 2))  # neutral rows wrong
    assert three_way.per_class["neutral"]["f1"] == 0.0 and three_way.per_class["neutral"]["support"] == 2


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigError) as err:
        student_module.embed_texts(["a"], model=str(tmp_path))
    assert "fabricator-data[student]" in str(err.value)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError) as err:
        train_student(GOOD, GOOD, method="finetune")
    assert "finetune" in str(err.value) and "fabricator-data[student]" in str(err.value)


# --- learning curve -----------------------------------------------------------------------------


def test_learning_curve(reviews_train: Dataset, reviews_test: Dataset) -> None:
    generated, gold = reviews_train.select(range(30)), reviews_train.select(range(30, 60))
    kwargs: dict[str, Any] = {"sizes": (3, 16, 30, 100), "gold_train": gold, "seed": 0, "C": 1.0}
    curve = learning_curve(generated, reviews_test, **kwargs)
    assert curve.sources() == ["generated", "gold"]
    assert [p.n for p in curve.series("generated")] == [16, 30]
    assert [p.n for p in curve.series("gold")] == [16, 30]
    skipped = {(s["source"], s["n"]) for s in curve.skipped}
    # 3 rows of 2 labels always leave a label with fewer than 2 rows
    assert skipped == {("generated", 3), ("gold", 3), ("generated", 100), ("gold", 100)}
    assert all(0.0 <= p.accuracy <= 1.0 for p in curve.points)
    # the n=30 point of the generated data is the whole generated set
    full = train_student(generated, reviews_test, C=1.0)
    assert curve.series("generated")[-1].accuracy == full.accuracy
    assert [r["n"] for r in curve.table()] == [16, 30]
    again = learning_curve(generated, reviews_test, **kwargs)
    assert again.table() == curve.table()
    with pytest.raises(ConfigError, match="do not occur in the training data"):
        learning_curve(generated, _data(["x", "y"], ["pos", "neg"]), sizes=(16,))


# --- diagnostics --------------------------------------------------------------------------------


TEXTS = ["Good movie", "good   movie ", "Bad film", "bad film", "GOOD MOVIE", "great"]


def test_diagnostics_on_hand_made_data() -> None:
    assert duplicate_rate(TEXTS) == pytest.approx(3 / 6)  # 3 distinct normalised texts of 6
    assert duplicate_rate([]) == 0.0
    assert distinct_n(TEXTS, 1) == pytest.approx(5 / 11)  # good movie bad film great / 11 words
    assert distinct_n(TEXTS, 2) == pytest.approx(2 / 5)  # (good movie) x3, (bad film) x2
    assert distinct_n(["a b c", "d e"], 2) == 1.0
    lengths = length_stats(TEXTS)  # [2, 2, 2, 2, 2, 1]
    assert lengths["mean"] == pytest.approx(11 / 6)
    assert lengths["median"] == 2.0
    assert lengths["p10"] == pytest.approx(1.5)
    assert lengths["p90"] == 2.0

    data = Dataset.from_dict({"text": TEXTS, "label": [1, 1, 0, 0, 1, 1]})
    data = data.cast_column("label", ClassLabel(names=["negative", "positive"]))
    labels = label_distribution(data)
    assert list(labels) == ["negative", "positive"]
    assert labels["positive"] == {"count": 4, "share": pytest.approx(4 / 6)}
    report = diagnose(data)
    assert report["rows"] == 6 and report["duplicates"] == 3

    gold = Dataset.from_dict(
        {"text": ["good movie", "a fine film", "dull"], "label": ["positive", "positive", "negative"]}
    )
    both = compare(data, gold)
    assert both["overlap_with_gold"] == pytest.approx(3 / 6)
    assert both["gold"]["duplicate_rate"] == 0.0
    assert both["label_share_difference"]["positive"] == pytest.approx(4 / 6 - 2 / 3)
    with pytest.raises(ConfigError, match="no text column 'sentence'"):
        diagnose(data, text_column="sentence")


# --- report -------------------------------------------------------------------------------------


def test_report_writes_pngs_and_markdown(
    result: StudentResult, reviews_train: Dataset, reviews_test: Dataset, tmp_path: Path
) -> None:
    from matplotlib.image import imread

    curve = learning_curve(
        reviews_train.select(range(30)),
        reviews_test,
        sizes=(16, 30),
        gold_train=reviews_train.select(range(30, 60)),
        C=1.0,
    )
    path = write_report(
        tmp_path / "report", result, curve=curve, comparison=compare(reviews_train, reviews_test)
    )
    assert path == tmp_path / "report" / "report.md"
    for name in ("confusion_matrix.png", "learning_curve.png"):
        image = imread(tmp_path / "report" / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    text = path.read_text(encoding="utf-8")
    assert "![Confusion matrix](confusion_matrix.png)" in text
    assert "![Learning curve](learning_curve.png)" in text
    assert f"| accuracy | {result.accuracy:.4f} |" in text
    assert "| negative |" in text and "distinct-2" in text and "| generated | gold |" in text


# --- command line -------------------------------------------------------------------------------


def test_cli_student(reviews_train: Dataset, reviews_test: Dataset, tmp_path: Path) -> None:
    from fabricator.app.cli import build_parser

    data = tmp_path / "run"
    data.mkdir()
    write_jsonl(reviews_train.select(range(30)), data / "data.jsonl")
    write_jsonl(reviews_train.select(range(30, 60)), tmp_path / "gold_train.jsonl")
    write_jsonl(reviews_test, tmp_path / "gold.jsonl")
    args = build_parser().parse_args(
        [
            "evaluate",
            "student",
            "--train",
            str(data / "data.jsonl"),
            "--test",
            str(tmp_path / "gold.jsonl"),
            "--gold-train",
            str(tmp_path / "gold_train.jsonl"),
            "--sizes",
            "16,30",
            "--seed",
            "0",
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    assert args.handler(args, stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "accuracy" in text and "macro-F1" in text and "learning curve" in text
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["student"]["n_train"] == 30
    assert f"accuracy {saved['student']['accuracy']:.4f}" in text
    assert [r["n"] for r in saved["learning_curve"]["points"]] == [16, 30, 16, 30]
    # the report lies next to the data by default
    assert (data / "report.md").exists() and (data / "learning_curve.png").exists()

    bad = build_parser().parse_args(
        [
            "evaluate",
            "student",
            "--train",
            str(data / "data.jsonl"),
            "--test",
            str(tmp_path / "gold.jsonl"),
            "--label-column",
            "polarity",
            "--no-report",
        ]
    )
    out, err = io.StringIO(), io.StringIO()
    assert bad.handler(bad, stdout=out, stderr=err) == 2
    assert "no label column 'polarity'" in err.getvalue() and "'text'" in err.getvalue()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "student", "--train", "x", "--test", "y", "--method", "svm"])


def test_cli_main_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fabricator.app.cli import main

    write_jsonl(GOOD, tmp_path / "d.jsonl")
    rc = main(
        [
            "evaluate",
            "student",
            "--train",
            str(tmp_path / "d.jsonl"),
            "--test",
            str(tmp_path / "d.jsonl"),
            "--gold-train",
            str(tmp_path / "d.jsonl"),
            "--sizes",
            "50,lots",
        ]
    )
    assert rc == 2
    assert "--sizes must be comma-separated integers" in capsys.readouterr().err


def test_finetune_runs_and_repeats() -> None:
    data = _data(
        ["great fun", "loved it", "a delight", "superb", "dull", "boring mess", "awful plot", "a waste"],
        ["pos"] * 4 + ["neg"] * 4,
    )
    kwargs = {"method": "finetune", "epochs": 1, "batch_size": 8, "max_length": 16, "seed": 0}
    first = train_student(data, data, **kwargs)
    assert first.method == "finetune" and first.n_train == 8 and first.labels == ["neg", "pos"]
    assert train_student(data, data, **kwargs).predictions == first.predictions


def test_cli_labels_lets_a_class_be_missing(
    reviews_train: Dataset, reviews_test: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fabricator.app.cli import main

    write_jsonl(reviews_train.select(range(30)), tmp_path / "data.jsonl")
    gold = concatenate_datasets([reviews_test.select(range(20)), _data(["So-so."], ["neutral"])])
    write_jsonl(gold, tmp_path / "gold.jsonl")
    common = [
        "evaluate",
        "student",
        "--train",
        str(tmp_path / "data.jsonl"),
        "--test",
        str(tmp_path / "gold.jsonl"),
        "--no-report",
    ]
    assert main(common) == 2  # without the label set, a test label unknown to training is an error
    assert "test labels ['neutral'] do not occur in the training data" in capsys.readouterr().err
    assert main([*common, "--labels", "negative, positive,neutral"]) == 0
    out = capsys.readouterr().out
    assert "not trained on ['neutral']" in out and "neutral" in out.split("confusion matrix")[1]
    three = ["--labels", "negative,positive,neutral"]
    assert main([*common[:-1], "--report-dir", str(tmp_path / "r"), *three]) == 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| labels not learned (test rows count as wrong) | neutral |" in report
    assert main([*common, "--labels", "negative"]) == 2
    assert "--labels needs at least two" in capsys.readouterr().err
