"""Annotation metrics agree with seqeval / scikit-learn; file evaluation and its CLI."""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from pathlib import Path

import pytest

from fabricator.app.evaluate import add_evaluate_annotations_parser
from fabricator.errors import ConfigError
from fabricator.evaluation.annotation_metrics import (
    classification_metrics,
    evaluate_files,
    exact_match,
    format_report,
    infer_task,
    ner_metrics,
    normalize_answer,
    qa_metrics,
    token_f1,
)

seqeval_metrics = pytest.importorskip("seqeval.metrics")
sk_metrics = pytest.importorskip("sklearn.metrics")

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def perturb_tags(tags: list[str], rng: random.Random, rate: float) -> list[str]:
    out = list(tags)
    for i in range(len(out)):
        if rng.random() < rate:
            out[i] = rng.choice(TAGS)  # also makes I- without B-, type switches, stray B-
    if out and rng.random() < 0.05:  # sometimes shift an entity by one token
        out = [*out[1:], "O"]
    return out


def assert_matches_seqeval(y_true: list[list[str]], y_pred: list[list[str]]) -> None:
    ours = ner_metrics(y_true, y_pred)
    for key, function in (
        ("f1", seqeval_metrics.f1_score),
        ("precision", seqeval_metrics.precision_score),
        ("recall", seqeval_metrics.recall_score),
    ):
        assert ours[key] == pytest.approx(function(y_true, y_pred, zero_division=0)), key
    assert ours["token_accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(y_true, y_pred))
    report = seqeval_metrics.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    types = [k for k in report if not k.endswith(" avg")]
    assert sorted(ours["per_type"]) == sorted(types)
    for type_ in types:
        for key, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert ours["per_type"][type_][key] == pytest.approx(report[type_][theirs]), type_
        assert ours["per_type"][type_]["support"] == report[type_]["support"]
    for name, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        for metric, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert ours[key][metric] == pytest.approx(report[name][theirs]), (name, metric)
    assert ours["support"] == report["micro avg"]["support"]


# --- entities -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,rate", [(0, 0.02), (1, 0.1), (2, 0.3)])
def test_ner_metrics_agree_with_seqeval_on_perturbed_conll(seed, rate, shared_data):
    rows = read_jsonl(shared_data / "conll2003" / "validation.jsonl", limit=1500)
    rng = random.Random(seed)
    y_true = [r["ner_tags"] for r in rows]
    y_pred = [perturb_tags(t, rng, rate) for t in y_true]
    assert_matches_seqeval(y_true, y_pred)


@pytest.mark.parametrize(
    "y_true,y_pred",
    [
        ([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]),
        ([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]]),  # I- opens an entity
        ([["B-PER", "I-PER", "O"]], [["B-PER", "I-LOC", "O"]]),  # type switch
        ([["B-LOC", "B-LOC"]], [["B-LOC", "I-LOC"]]),
        ([["O", "O"]], [["B-MISC", "O"]]),  # predicted-only type enters the averages
        ([["B-ORG", "O"]], [["O", "O"]]),  # nothing predicted
        ([["S-PER", "O", "B-LOC", "E-LOC"]], [["B-PER", "O", "B-LOC", "I-LOC"]]),  # IOBES tags
        ([["B-PER"], ["O", "B-ORG", "I-ORG"]], [["B-PER"], ["B-ORG", "I-ORG", "I-ORG"]]),
    ],
)
def test_ner_metrics_agree_with_seqeval_on_edge_cases(y_true, y_pred):
    assert_matches_seqeval(y_true, y_pred)


def test_ner_metrics_missing_predictions_and_bad_input():
    result = ner_metrics([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], None])
    assert result["n_missing"] == 1
    assert result["precision"] == 1.0 and result["recall"] == 0.5
    with pytest.raises(ConfigError, match="row 0: 2 gold tags but 1"):
        ner_metrics([["B-PER", "O"]], [["B-PER"]])
    with pytest.raises(ConfigError, match="not a BIO tag"):
        ner_metrics([["B-PER"]], [["PERSON"]])


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["trec", "sst2"])
def test_classification_metrics_agree_with_sklearn(dataset, shared_data):
    split = "validation" if dataset == "sst2" else "train"
    rows = read_jsonl(shared_data / dataset / f"{split}.jsonl", limit=2000)
    y_true = [r["label"] for r in rows]
    labels = sorted(set(y_true))
    rng = random.Random(7)
    y_pred = [t if rng.random() < 0.7 else rng.choice(labels) for t in y_true]
    ours = classification_metrics(y_true, y_pred)
    assert ours["n_missing"] == 0
    assert ours["accuracy"] == pytest.approx(sk_metrics.accuracy_score(y_true, y_pred))
    for average in ("macro", "weighted", "micro"):
        assert ours[f"{average}_f1"] == pytest.approx(sk_metrics.f1_score(y_true, y_pred, average=average))
    p, r, f, s = sk_metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels)
    for i, label in enumerate(labels):
        assert ours["per_class"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )
    assert ours["confusion_matrix"]["labels"] == labels
    assert (
        ours["confusion_matrix"]["matrix"]
        == sk_metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    )


def test_classification_metrics_unknown_and_missing_predictions():
    y_true = ["pos", "neg", "pos", "neg"]
    y_pred = ["pos", "meh", None, "neg"]
    result = classification_metrics(y_true, y_pred)
    assert result["n_missing"] == 1
    assert result["accuracy"] == 0.5
    assert result["per_class"]["meh"]["support"] == 0  # an invented label is its own class
    assert result["per_class"]["pos"]["recall"] == 0.5
    assert result["confusion_matrix"]["columns"] == ["meh", "neg", "pos", "(missing)"]
    assert result["confusion_matrix"]["matrix"] == [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]]
    with pytest.raises(ConfigError):
        classification_metrics(["a"], ["a", "b"])


# --- QA -----------------------------------------------------------------------------------------


def test_squad_normalization_em_and_f1():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert exact_match("the Eiffel Tower.", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", ["Tower", "eiffel"]) == 1.0
    assert exact_match("Paris", "Lyon") == 0.0
    assert token_f1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    assert token_f1("Eiffel Tower in Paris", ["Lyon", "Paris"]) == pytest.approx(0.4)
    assert token_f1("x y x", "x x") == pytest.approx(0.8)  # bags: common = 2 tokens
    assert token_f1("", []) == 1.0 and token_f1("x", []) == 0.0  # unanswerable
    assert token_f1(None, "x") == 0.0 and exact_match(None, "x") == 0.0
    result = qa_metrics(["Eiffel Tower", "Lyon", None], [["Eiffel Tower"], ["Paris"], ["Rome"]])
    assert result == {"n": 3, "n_missing": 1, "exact_match": pytest.approx(1 / 3), "f1": pytest.approx(1 / 3)}


# --- files --------------------------------------------------------------------------------------


def test_evaluate_files_classification_by_id(tmp_path):
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"id": 1, "text": "a", "label": "pos"},
            {"id": 2, "text": "b", "label": "neg"},
            {"id": 3, "text": "c", "label": "pos"},
        ],
    )
    preds = write_jsonl(
        tmp_path / "pred.jsonl",
        [  # shuffled, one failed, one missing, one extra
            {"id": "3", "label": "pos"},
            {"id": "1", "label": "neg", "error": "timeout"},
            {"id": "9", "label": "pos"},
        ],
    )
    result = evaluate_files(preds, gold)
    assert result["task"] == "classification" and result["alignment"] == "id:id"
    assert result["n_unmatched_gold"] == 1 and result["n_extra_predictions"] == 1
    assert result["n_missing"] == 2
    assert result["metrics"]["accuracy"] == pytest.approx(1 / 3)
    text = format_report(result)
    assert "accuracy 0.3333" in text and "confusion matrix" in text and "(missing)" in text


def test_evaluate_files_by_order_and_length_mismatch(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    preds = write_jsonl(tmp_path / "pred.jsonl", [{"label": "x"}, {"label": "x"}])
    result = evaluate_files(preds, gold)
    assert result["alignment"] == "order" and result["metrics"]["accuracy"] == 0.5
    short = write_jsonl(tmp_path / "short.jsonl", [{"label": "x"}])
    with pytest.raises(ConfigError, match="1 rows but the gold file has 2"):
        evaluate_files(short, gold)


def test_evaluate_files_aligns_generator_output_on_input_columns(tmp_path):
    """A generator leaves failed rows out of data.jsonl: rows align on the shared text column."""
    texts = ["What is X ?", "Who is Y ?", "Where is Z ?", "Who is Y ?"]
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [{"text": t, "label": label} for t, label in zip(texts, ["desc", "hum", "loc", "hum"], strict=True)],
    )
    preds = write_jsonl(
        tmp_path / "pred.jsonl",
        [  # shuffled, "Where is Z ?" failed
            {"text": "Who is Y ?", "label": "hum"},
            {"text": "What is X ?", "label": "desc"},
            {"text": "Who is Y ?", "label": "loc"},
        ],
    )
    result = evaluate_files(preds, gold)
    assert result["alignment"] == "columns:text"
    assert result["n_unmatched_gold"] == 1 and result["n_missing"] == 1
    assert result["metrics"]["accuracy"] == 0.5
    unrelated = write_jsonl(tmp_path / "other.jsonl", [{"text": "?", "label": "hum"}])
    with pytest.raises(ConfigError, match="no row matches on the shared columns"):
        evaluate_files(unrelated, gold)


def test_evaluate_files_csv_and_saved_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    gold_csv = tmp_path / "gold.csv"
    with gold_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows([["a", "good", "positive"], ["b", "bad", "negative"]])
    saved = datasets.Dataset.from_dict(
        {"id": ["b", "a"], "label": [0, 0]},
        features=datasets.Features(
            {"id": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
        ),
    )
    saved.save_to_disk(str(tmp_path / "saved"))
    result = evaluate_files(tmp_path / "saved", gold_csv, "classification")
    assert result["metrics"]["accuracy"] == 0.5  # ClassLabel ids were read as names
    assert result["metrics"]["per_class"]["negative"]["recall"] == 1.0
    saved.to_parquet(str(tmp_path / "pred.parquet"))
    assert evaluate_files(tmp_path / "pred.parquet", gold_csv)["metrics"]["accuracy"] == 0.5


def test_evaluate_files_ner_on_conll_with_tags_and_spans(tmp_path, shared_data):
    rows = read_jsonl(shared_data / "conll2003" / "validation.jsonl", limit=400)
    rng = random.Random(3)
    preds = [dict(r, ner_tags=perturb_tags(r["ner_tags"], rng, 0.1)) for r in rows]
    gold = write_jsonl(tmp_path / "gold.jsonl", rows)
    result = evaluate_files(write_jsonl(tmp_path / "pred.jsonl", preds), gold)
    assert result["task"] == "ner"
    y_true, y_pred = [r["ner_tags"] for r in rows], [p["ner_tags"] for p in preds]
    assert result["metrics"]["f1"] == pytest.approx(seqeval_metrics.f1_score(y_true, y_pred))

    from fabricator.dataset_transformations import bio_to_spans

    span_rows = [
        {
            "id": r["id"],
            "spans": [{"text": s.text, "type": s.type} for s in bio_to_spans(r["tokens"], r["ner_tags"])],
        }
        for r in rows
    ]
    span_rows[0]["spans"] = [{"text": "Not in the sentence", "type": "PER"}]
    result = evaluate_files(write_jsonl(tmp_path / "spans.jsonl", span_rows), gold)
    assert result["n_missing"] == 1
    assert result["metrics"]["precision"] == 1.0  # the rest round-trips to the gold entities
    assert "entity precision 1.0000" in format_report(result)

    string_rows = [  # model answers as the natural-language span string in the tag column
        {"id": r["id"], "ner_tags": "\n".join(f"{s['text']} is {s['type']}." for s in r["spans"])}
        for r in span_rows
    ]
    result = evaluate_files(write_jsonl(tmp_path / "strings.jsonl", string_rows), gold)
    assert result["n_missing"] == 1 and result["metrics"]["precision"] == 1.0


def test_evaluate_files_qa(tmp_path):
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {
                "id": "q1",
                "context": "...",
                "answers": {"text": ["Denver Broncos", "Broncos"], "answer_start": [0, 7]},
            },
            {"id": "q2", "context": "...", "answers": {"text": ["Santa Clara"], "answer_start": [3]}},
        ],
    )
    preds = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"id": "q1", "answers": {"text": ["the Broncos"], "answer_start": [3]}},
            {"id": "q2", "answer": "Santa Clara, California"},
        ],
    )
    result = evaluate_files(preds, gold)
    assert result["task"] == "qa"
    assert result["metrics"]["exact_match"] == 0.5
    assert result["metrics"]["f1"] == pytest.approx((1 + 2 * 1 * (2 / 3) / (1 + 2 / 3)) / 2)
    assert "exact match 0.5000" in format_report(result)


def test_task_inference_and_input_errors(tmp_path):
    assert infer_task([{"answers": {"text": ["a"]}}]) == "qa"
    assert infer_task([{"tokens": ["a"], "ner_tags": ["O"]}]) == "ner"
    assert infer_task([{"label": "x"}]) == "classification"
    assert infer_task([{"tags": ["O"]}], label_column="tags") == "ner"
    with pytest.raises(ConfigError, match="cannot tell the task"):
        infer_task([{"text": "x"}])
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"label": "x"}])
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_files(tmp_path / "nope.jsonl", gold)
    (tmp_path / "bad.jsonl").write_text('{"label": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2"):
        evaluate_files(tmp_path / "bad.jsonl", gold)
    (tmp_path / "pred.xlsx").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown format"):
        evaluate_files(tmp_path / "pred.xlsx", gold)
    (tmp_path / "pred.parquet").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a readable Parquet"):
        evaluate_files(tmp_path / "pred.parquet", gold)
    with pytest.raises(ConfigError, match="no column 'category'"):
        evaluate_files(gold, gold, label_column="category")


# --- CLI ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fabricator")
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("evaluate").add_subparsers(dest="what", required=True)
    add_evaluate_annotations_parser(evaluate)
    return parser


def test_cli_prints_report_and_writes_json(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"id": i, "label": v} for i, v in enumerate("ab")])
    preds = write_jsonl(tmp_path / "pred.jsonl", [{"id": i, "label": v} for i, v in enumerate("bb")])
    out = tmp_path / "out" / "result.json"
    args = build_parser().parse_args(
        [
            "evaluate",
            "annotations",
            "--predictions",
            str(preds),
            "--gold",
            str(gold),
            "--task",
            "classification",
            "--label-column",
            "label",
            "--json",
            str(out),
        ]
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    assert args.func(args, stdout=stdout, stderr=stderr) == 0
    assert "accuracy 0.5000" in stdout.getvalue() and stderr.getvalue() == ""
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["task"] == "classification"
    assert saved["metrics"]["accuracy"] == 0.5


def test_main_cli_runs_evaluate_annotations(tmp_path, capsys):
    from fabricator.app.cli import main

    gold = write_jsonl(tmp_path / "gold.jsonl", [{"label": "a"}, {"label": "b"}])
    preds = write_jsonl(tmp_path / "pred.jsonl", [{"label": "a"}, {"label": "a"}])
    status = main(["evaluate", "annotations", "--predictions", str(preds), "--gold", str(gold)])
    assert status == 0
    assert "accuracy 0.5000" in capsys.readouterr().out


def test_cli_reports_bad_input_with_status_2(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"label": "a"}, {"label": "b"}])
    preds = write_jsonl(tmp_path / "pred.jsonl", [{"label": "a"}])
    args = build_parser().parse_args(
        ["evaluate", "annotations", "--predictions", str(preds), "--gold", str(gold)]
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    assert args.func(args, stdout=stdout, stderr=stderr) == 2
    assert "error:" in stderr.getvalue() and "no id column" in stderr.getvalue()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "annotations", "--gold", str(gold)])


def test_old_module_keeps_every_public_name_of_the_metrics_package():
    """``fabricator.evaluation.annotation_metrics`` still imports: the same objects as ``metrics``."""
    from fabricator.evaluation import annotation_metrics, metrics

    assert sorted(annotation_metrics.__all__) == sorted(metrics.__all__)
    assert "evaluate_files" in metrics.__all__ and "TASKS" in metrics.__all__
    for name in metrics.__all__:
        assert getattr(annotation_metrics, name) is getattr(metrics, name), name
