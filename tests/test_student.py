"""Student classifier, diagnostics, report and ``fabricator evaluate student`` (SST-2 samples)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, concatenate_datasets


from fabricator.errors import ConfigError  # noqa: E402
from fabricator.evaluation import student as student_module  # noqa: E402
from fabricator.evaluation.diagnostics import (  # noqa: E402
    compare,
    diagnose,
    distinct_n,
    duplicate_rate,
    label_distribution,
    length_stats,
)
from fabricator.evaluation.report import write_report  # noqa: E402
from fabricator.evaluation.student import (  # noqa: E402
    StudentResult,
    learning_curve,
    train_student,
)
from fabricator.tables import load_table, write_jsonl  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SST2 = DATA / "sst2"

pytestmark = pytest.mark.skipif(not (SST2 / "train.jsonl").exists(),
                                reason="shared SST-2 data not found")


@pytest.fixture(scope="module")
def sst_train() -> Dataset:
    return load_table(SST2 / "train.jsonl", limit=200)  # 98 negative, 102 positive


@pytest.fixture(scope="module")
def sst_test() -> Dataset:
    return load_table(SST2 / "validation.jsonl", limit=200)


@pytest.fixture(scope="module")
def result(sst_train: Dataset, sst_test: Dataset) -> StudentResult:
    return train_student(sst_train, sst_test, seed=0)


# --- the student --------------------------------------------------------------------------------


def test_student_beats_chance(result: StudentResult) -> None:
    assert result.accuracy > 0.6
    assert result.macro_f1 > 0.6
    assert result.method == "embeddings"
    assert result.n_train == 200 and result.n_test == 200
    assert result.labels == ["negative", "positive"]
    assert set(result.per_class) == {"negative", "positive"}
    assert sum(s["support"] for s in result.per_class.values()) == 200
    matrix = result.confusion_matrix["matrix"]
    assert sum(map(sum, matrix)) == 200
    assert (matrix[0][0] + matrix[1][1]) / 200 == pytest.approx(result.accuracy)
    assert set(result.timings) >= {"embed_s", "fit_s", "predict_s", "total_s"}
    assert result.train_label_counts == {"negative": 98, "positive": 102}
    json.dumps(result.to_dict())  # JSON-ready


def test_same_seed_same_numbers(result: StudentResult, sst_train: Dataset,
                                sst_test: Dataset) -> None:
    again = train_student(sst_train, sst_test, seed=0)
    assert again.accuracy == result.accuracy
    assert again.macro_f1 == result.macro_f1
    assert again.per_class == result.per_class
    assert again.confusion_matrix == result.confusion_matrix
    assert again.predictions == result.predictions


def test_row_order_does_not_change_the_student(sst_train: Dataset, sst_test: Dataset) -> None:
    """A shuffled copy of the data is the same data: same C, same predictions, same scores."""
    rows = sst_train.select(range(100))  # a size where the row order used to move the CV's C
    student = train_student(rows, sst_test, seed=0)
    for seed in (0, 1):
        shuffled = train_student(rows.shuffle(seed=seed), sst_test, seed=0)
        assert shuffled.model == student.model and shuffled.predictions == student.predictions
    curve = learning_curve(rows, sst_test, sizes=[100], seed=0)
    assert curve.points[0].accuracy == student.accuracy  # the full-size point is the student


def test_classlabel_ids_and_strings_give_the_same_result(
    result: StudentResult, sst_train: Dataset, sst_test: Dataset
) -> None:
    ids = sst_train.cast_column("label", ClassLabel(names=["negative", "positive"]))
    assert ids[0]["label"] == 0
    mixed = train_student(ids, sst_test, seed=0)  # ClassLabel train, string test
    assert mixed.labels == ["negative", "positive"]
    assert mixed.accuracy == result.accuracy
    assert mixed.predictions == result.predictions


def test_fixed_C(sst_train: Dataset, sst_test: Dataset) -> None:
    fixed = train_student(sst_train, sst_test, C=1.0)
    assert "C=1)" in fixed.model and fixed.accuracy > 0.6


# --- bad input, each before any training --------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before checking the input")

    monkeypatch.setattr(student_module, "embed_texts", fail)


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
    with pytest.raises(ConfigError, match="must be a datasets.Dataset"):
        train_student([{"text": "a", "label": "pos"}], GOOD)


def test_task_labels_name_what_is_not_in_them(no_training: None) -> None:
    with pytest.raises(ConfigError, match=r"training labels \['neg'\] are not among the task's labels"):
        train_student(GOOD, GOOD, labels=["pos", "neutral"])
    with pytest.raises(ConfigError, match=r"test labels \['mixed'\] are not among"):
        train_student(GOOD, _data(["x"], ["mixed"]), labels=["pos", "neg"])
    one_learnable = _data(["a", "b", "c"], ["pos", "pos", "neg"])
    with pytest.raises(ConfigError, match="fewer than 2 classes with at least 2 rows"):
        train_student(one_learnable, GOOD, labels=["pos", "neg"])


def test_task_labels_score_untrained_classes_as_wrong(sst_train: Dataset, sst_test: Dataset,
                                                      result: StudentResult) -> None:
    """An annotator that never (or once) answers a class still gets a student, scored honestly."""
    train = concatenate_datasets([sst_train, _data(["A mixed bag."], ["mixed"])])
    extra = _data(["Neither good nor bad.", "It is a film."], ["neutral", "neutral"])
    three_way = train_student(train, concatenate_datasets([sst_test, extra]), seed=0,
                              labels=["negative", "positive", "mixed", "neutral"])
    assert three_way.untrained_labels == ["mixed", "neutral"]
    assert three_way.n_train == len(sst_train)  # the single "mixed" row was left out
    assert three_way.predictions[:len(sst_test)] == result.predictions  # same student as without
    correct = round(result.accuracy * len(sst_test))
    assert three_way.accuracy == pytest.approx(correct / (len(sst_test) + 2))  # neutral rows wrong
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


def test_learning_curve(sst_train: Dataset, sst_test: Dataset) -> None:
    generated, gold = sst_train.select(range(100)), sst_train.select(range(100, 200))
    kwargs = {"sizes": (3, 50, 100, 500), "gold_train": gold, "seed": 0, "C": 1.0}
    curve = learning_curve(generated, sst_test, **kwargs)
    assert curve.sources() == ["generated", "gold"]
    assert [p.n for p in curve.series("generated")] == [50, 100]
    assert [p.n for p in curve.series("gold")] == [50, 100]
    skipped = {(s["source"], s["n"]) for s in curve.skipped}
    assert {("generated", 500), ("gold", 500)} <= skipped
    assert all(0.0 <= p.accuracy <= 1.0 for p in curve.points)
    # the n=100 point of the generated data is the whole generated set
    full = train_student(generated, sst_test, C=1.0)
    assert curve.series("generated")[-1].accuracy == full.accuracy
    assert [r["n"] for r in curve.table()] == [50, 100]
    again = learning_curve(generated, sst_test, **kwargs)
    assert again.table() == curve.table()
    with pytest.raises(ConfigError, match="do not occur in the training data"):
        learning_curve(generated, _data(["x", "y"], ["pos", "neg"]), sizes=(50,))


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

    gold = Dataset.from_dict({"text": ["good movie", "a fine film", "dull"],
                              "label": ["positive", "positive", "negative"]})
    both = compare(data, gold)
    assert both["overlap_with_gold"] == pytest.approx(3 / 6)
    assert both["gold"]["duplicate_rate"] == 0.0
    assert both["label_share_difference"]["positive"] == pytest.approx(4 / 6 - 2 / 3)
    with pytest.raises(ConfigError, match="no text column 'sentence'"):
        diagnose(data, text_column="sentence")


# --- report -------------------------------------------------------------------------------------


def test_report_writes_pngs_and_markdown(result: StudentResult, sst_train: Dataset,
                                         sst_test: Dataset, tmp_path: Path) -> None:
    from matplotlib.image import imread

    curve = learning_curve(sst_train.select(range(100)), sst_test, sizes=(50, 100),
                           gold_train=sst_train.select(range(100, 200)), C=1.0)
    path = write_report(tmp_path / "report", result, curve=curve,
                        comparison=compare(sst_train, sst_test))
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


def test_cli_student(sst_train: Dataset, sst_test: Dataset, tmp_path: Path) -> None:
    from fabricator.cli import build_parser

    data = tmp_path / "run"
    data.mkdir()
    write_jsonl(sst_train.select(range(100)), data / "data.jsonl")
    write_jsonl(sst_train.select(range(100, 200)), tmp_path / "gold_train.jsonl")
    write_jsonl(sst_test, tmp_path / "gold.jsonl")
    args = build_parser().parse_args([
        "evaluate", "student", "--train", str(data / "data.jsonl"),
        "--test", str(tmp_path / "gold.jsonl"), "--gold-train", str(tmp_path / "gold_train.jsonl"),
        "--sizes", "50,100", "--seed", "0", "--json", str(tmp_path / "out.json"),
    ])
    out, err = io.StringIO(), io.StringIO()
    assert args.handler(args, stdout=out, stderr=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "accuracy" in text and "macro-F1" in text and "learning curve" in text
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["student"]["n_train"] == 100
    assert f"accuracy {saved['student']['accuracy']:.4f}" in text
    assert [r["n"] for r in saved["learning_curve"]["points"]] == [50, 100, 50, 100]
    # the report lies next to the data by default
    assert (data / "report.md").exists() and (data / "learning_curve.png").exists()

    bad = build_parser().parse_args([
        "evaluate", "student", "--train", str(data / "data.jsonl"),
        "--test", str(tmp_path / "gold.jsonl"), "--label-column", "polarity", "--no-report"])
    out, err = io.StringIO(), io.StringIO()
    assert bad.handler(bad, stdout=out, stderr=err) == 2
    assert "no label column 'polarity'" in err.getvalue() and "'text'" in err.getvalue()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "student", "--train", "x", "--test", "y",
                                   "--method", "svm"])


def test_cli_main_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fabricator.cli import main

    write_jsonl(GOOD, tmp_path / "d.jsonl")
    rc = main(["evaluate", "student", "--train", str(tmp_path / "d.jsonl"),
               "--test", str(tmp_path / "d.jsonl"), "--gold-train", str(tmp_path / "d.jsonl"),
               "--sizes", "50,lots"])
    assert rc == 2
    assert "--sizes must be comma-separated integers" in capsys.readouterr().err


def test_finetune_runs_and_repeats() -> None:
    data = _data(["great fun", "loved it", "a delight", "superb", "dull", "boring mess",
                  "awful plot", "a waste"], ["pos"] * 4 + ["neg"] * 4)
    kwargs = {"method": "finetune", "epochs": 1, "batch_size": 8, "max_length": 16, "seed": 0}
    first = train_student(data, data, **kwargs)
    assert first.method == "finetune" and first.n_train == 8 and first.labels == ["neg", "pos"]
    assert train_student(data, data, **kwargs).predictions == first.predictions


def test_cli_labels_lets_a_class_be_missing(sst_train: Dataset, sst_test: Dataset,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fabricator.cli import main

    write_jsonl(sst_train.select(range(100)), tmp_path / "data.jsonl")
    gold = concatenate_datasets([sst_test.select(range(50)), _data(["So-so."], ["neutral"])])
    write_jsonl(gold, tmp_path / "gold.jsonl")
    common = ["evaluate", "student", "--train", str(tmp_path / "data.jsonl"),
              "--test", str(tmp_path / "gold.jsonl"), "--no-report"]
    assert main(common) == 2  # without the label set, a test label unknown to training is an error
    assert "test labels ['neutral'] do not occur in the training data" in capsys.readouterr().err
    assert main([*common, "--labels", "negative, positive,neutral"]) == 0
    out = capsys.readouterr().out
    assert "not trained on ['neutral']" in out and "neutral" in out.split("confusion matrix")[1]
    assert main([*common[:-1], "--report-dir", str(tmp_path / "r"), "--labels", "negative,positive,neutral"]) == 0
    assert "| labels not learned (test rows count as wrong) | neutral |" in (tmp_path / "r" / "report.md").read_text()
    assert main([*common, "--labels", "negative"]) == 2
    assert "--labels needs at least two" in capsys.readouterr().err
