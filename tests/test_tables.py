"""One reader for ``generate`` and ``evaluate``: bad data files are one clear error, labels decode once."""

import json
import re

import pytest
import yaml
from conftest import movie_recipe
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from fabricator.app.cli import main
from fabricator.errors import ConfigError
from fabricator.evaluation.annotation_metrics import evaluate_files
from fabricator.llms import Fake
from fabricator.tables import (
    decode_label,
    decode_labels,
    decoded_rows,
    label_names,
    load_table,
    read_records,
    write_jsonl,
)

# --- bad files: (name, bytes, what the one error line says) ----------------------------------------

BAD_FILES = [
    (
        "array_line.jsonl",
        b'{"text": "a", "label": "x"}\n\n[1, 2]\n',
        "array_line.jsonl:3: the line is an array",
    ),
    (
        "object_in_array.jsonl",
        b'\n{"text": "a", "label": "x"}\n[{"text": "b", "label": "y"}]\n',
        "object_in_array.jsonl:3: the line is an array",
    ),
    (
        "scalar_line.jsonl",
        b'{"text": "a", "label": "x"}\n"just text"\n',
        "scalar_line.jsonl:2: the line is a string",
    ),
    (
        "broken_line.jsonl",
        b'{"text": "a", "label": "x"}\n\n\n{"text": "b",\n',
        "broken_line.jsonl:4: not valid JSON",
    ),
    (
        "latin1.jsonl",
        '{"text": "a", "label": "x"}\n{"text": "café", "label": "y"}\n'.encode("latin-1"),
        "latin1.jsonl:2: the file is not UTF-8 text",
    ),
    ("latin1.csv", "text,label\ncafé,x\n".encode("latin-1"), "latin1.csv:2: the file is not UTF-8 text"),
    (
        "open_quote.csv",
        b'text,label\nfine,x\n"never closed,y\nmore,z\n',
        "open_quote.csv:3: a quoted field is never closed",
    ),
    ("empty.csv", b"", "empty.csv is empty"),
    ("header_only.csv", b"text,label\n", "header_only.csv has a header but no rows"),
    ("empty.jsonl", b"\n\n", "empty.jsonl is empty"),
    ("empty.json", b"[]", "empty.json has no rows"),
    ("ragged.csv", b"text,label\na,x\nb,y,extra\n", "ragged.csv:3: 3 fields, but the header has 2"),
]


@pytest.mark.parametrize("name, data, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
@pytest.mark.parametrize("reader", [load_table, read_records], ids=["load_table", "read_records"])
def test_bad_files_are_one_clear_error_in_both_readers(tmp_path, reader, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="fix: ") as info:
        reader(path)
    assert message in str(info.value)
    assert info.value.hint


def test_a_folder_that_is_not_a_saved_dataset(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"text": "a"}\n')
    for reader in (load_table, read_records):
        with pytest.raises(ConfigError, match="mydata is a folder but not a dataset saved with save_to_disk"):
            reader(folder)


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"text": "a"}', "", '{"text": 5}'], "column 'text' is a string on line 1 but a number on line 3"),
        (
            ['{"text": "a"}', '{"text": ["a", "b"]}'],
            "column 'text' is a string on line 1 but a list on line 2",
        ),
        (['{"label": true}', '{"label": 1}'], "column 'label' is a boolean on line 1 but a number on line 2"),
    ],
)
def test_mixed_types_across_rows_name_both_lines(tmp_path, lines, message):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message):
        load_table(path)


def test_mixed_types_inside_lists_are_a_clear_error(tmp_path):
    path = tmp_path / "tags.jsonl"
    path.write_text('{"tags": ["O", "B-PER"]}\n{"tags": [1, 2]}\n')
    with pytest.raises(ConfigError, match="do not share one type per column"):
        load_table(path)


def test_evaluate_reads_mixed_answers_as_plain_rows(tmp_path):
    """A prediction file may hold a tag list in one row and the model's raw answer in another."""
    path = tmp_path / "pred.jsonl"
    path.write_text('{"ner_tags": ["O"]}\n{"ner_tags": "EU is ORG."}\n')
    assert read_records(path) == [{"ner_tags": ["O"]}, {"ner_tags": "EU is ORG."}]


# --- what is read ----------------------------------------------------------------------------------


def test_jsonl_keeps_every_column_and_line_separators_inside_strings(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "one\u2028two"}, {"text": "b", "label": "x"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    table = load_table(path)
    assert table.column_names == ["text", "label"]
    assert table.to_list() == [{"text": "one\u2028two", "label": None}, {"text": "b", "label": "x"}]
    assert len(load_table(path, limit=1)) == 1


def test_csv_cells_are_text_and_json_columns_are_parsed(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('\ufefftext,tokens,score\n"a, quoted",\'["a"]\',5\nb,"[""b""]",\n', encoding="utf-8")
    expected = [
        {"text": "a, quoted", "tokens": "'[\"a\"]'", "score": "5"},
        {"text": "b", "tokens": '["b"]', "score": None},
    ]
    assert read_records(path) == expected  # one cell is not JSON: the column stays text
    path.write_text('text,tokens\na,"[""a""]"\nb,"[""b"", ""c""]"\n', encoding="utf-8")
    assert load_table(path)["tokens"] == [["a"], ["b", "c"]]
    tsv = tmp_path / "data.tsv"
    tsv.write_text("text\tlabel\na, b\tx\n", encoding="utf-8")
    assert load_table(tsv).to_list() == [{"text": "a, b", "label": "x"}]


def test_json_list_and_json_lines_in_a_json_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[{"text": "a"}, {"text": "b"}]')
    assert load_table(path)["text"] == ["a", "b"]
    path.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert read_records(path) == [{"text": "a"}, {"text": "b"}]
    path.write_text('[{"text": "a"}, 3]')
    with pytest.raises(ConfigError, match="item 1 of the list is a number"):
        load_table(path)


def _labelled(labels):
    features = Features(
        {
            "text": Value("string"),
            "label": ClassLabel(names=["neg", "pos"]),
            "tags": Sequence(ClassLabel(names=["O", "B-PER"])),
        }
    )
    return Dataset.from_dict(
        {"text": [f"t{i}" for i in range(len(labels))], "label": labels, "tags": [[0, 1]] * len(labels)},
        features=features,
    )


def test_saved_datasets_and_parquet_decode_labels_with_minus_one_as_none(tmp_path):
    data = _labelled([1, -1, 0])
    data.save_to_disk(str(tmp_path / "saved"))
    data.to_parquet(str(tmp_path / "data.parquet"))
    for path in (tmp_path / "saved", tmp_path / "data.parquet"):
        assert [r["label"] for r in read_records(path)] == ["pos", None, "neg"]
        assert read_records(path)[0]["tags"] == ["O", "B-PER"]
        assert load_table(path).features["label"] == ClassLabel(names=["neg", "pos"])
    DatasetDict({"train": data, "test": data}).save_to_disk(str(tmp_path / "dict"))
    assert len(load_table(tmp_path / "dict", split="test")) == 3
    with pytest.raises(ConfigError, match="holds the splits"):
        load_table(tmp_path / "dict")


def test_write_jsonl_writes_names_and_null_for_no_label(tmp_path):
    write_jsonl(_labelled([1, -1]), tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["pos", None]
    assert load_table(tmp_path / "out.jsonl")["label"] == ["pos", None]  # the file reads back


def test_one_label_decoder():
    data = _labelled([0, -1, 1])
    assert label_names(data.features["label"]) == ["neg", "pos"]
    assert label_names(data.features["tags"]) == ["O", "B-PER"]
    assert label_names(data.features["text"]) is None
    assert decode_labels(data, "label") == ["neg", None, "pos"]
    assert decoded_rows(data)[1] == {"text": "t1", "label": None, "tags": ["O", "B-PER"]}
    assert decode_label([0, -1], ["a", "b"]) == ["a", None]
    assert decode_label("already a name", ["a"]) == "already a name"
    with pytest.raises(ConfigError, match=r"label id 2 in column .label. is outside 0\.\.1"):
        decode_label(2, ["a", "b"])


# --- at the command line: fabricator generate / evaluate annotations -------------------------------

RECIPE = movie_recipe(
    model={"backend": "fake", "responses": ["A moving film."]},
    generation={"num_samples_to_generate": 2, "max_prompt_calls": 4},
)


@pytest.fixture
def calls(monkeypatch):
    """The model calls the fake backend got."""
    made: list[object] = []
    original = Fake.complete

    async def complete(self, request):
        made.append(request)
        return await original(self, request)

    monkeypatch.setattr(Fake, "complete", complete)
    return made


def run_generate(tmp_path, capsys, fewshot_name, data):
    (tmp_path / fewshot_name).write_bytes(data)
    recipe = {
        **RECIPE,
        "fewshot": {**RECIPE["fewshot"], "path": fewshot_name},
        "output": str(tmp_path / "out"),
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    status = main(["generate", str(tmp_path / "recipe.yaml"), "--quiet"])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "name, data, message",
    [
        BAD_FILES[0],
        BAD_FILES[1],
        BAD_FILES[5],
        BAD_FILES[6],
        BAD_FILES[8],
        (
            "mixed.jsonl",
            b'{"text": "a", "label": "positive"}\n{"text": 7, "label": "negative"}\n',
            "column 'text' is a string on line 1 but a number on line 2",
        ),
    ],
    ids=["array_line", "object_in_array", "latin1_csv", "open_quote", "header_only", "mixed"],
)
def test_generate_refuses_bad_fewshot_files_before_any_call(tmp_path, capsys, calls, name, data, message):
    status, err = run_generate(tmp_path, capsys, name, data)
    assert status == 2 and calls == []
    assert message in err.replace("\n", " ")
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.splitlines()[0]]
    assert "Traceback" not in err and not (tmp_path / "out" / "data.jsonl").exists()


def test_generate_refuses_a_folder_that_is_not_a_saved_dataset(tmp_path, capsys, calls):
    (tmp_path / "fewshot").mkdir()
    (tmp_path / "fewshot" / "rows.jsonl").write_text('{"text": "a", "label": "positive"}\n')
    recipe = {**RECIPE, "fewshot": {**RECIPE["fewshot"], "path": "fewshot"}, "output": str(tmp_path / "out")}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["generate", str(tmp_path / "recipe.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a folder but not a dataset saved with save_to_disk" in err and calls == []
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "name, data, message",
    [BAD_FILES[0], BAD_FILES[6], BAD_FILES[8]],
    ids=["array_line", "open_quote", "header_only"],
)
def test_evaluate_annotations_gives_the_same_errors(tmp_path, capsys, name, data, message):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "a", "label": "x"}\n')
    (tmp_path / name).write_bytes(data)
    assert main(["evaluate", "annotations", "--predictions", str(tmp_path / name), "--gold", str(gold)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with pytest.raises(ConfigError) as info:
        load_table(tmp_path / name)
    assert str(info.value) in err  # word for word what generate says
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate_files(tmp_path / name, gold)
