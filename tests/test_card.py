"""The dataset card every run writes: a Hub card whose figures are metadata.json's, with no secret.

Each example recipe runs through ``fabricator.app.cli.main`` on the fake backend; the card is read back
with ``huggingface_hub``'s own ``DatasetCard`` and the data with ``datasets.load_dataset`` on the
folder, as the Hub and its users would read them (``card.validate`` needs the network: instead the
metadata is checked against the values the Hub allows, shipped with ``datasets``).
"""

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pytest
import yaml
from datasets import Dataset, Features, Value, load_dataset
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard

from fabricator.app.card import features_to_yaml, render_card, size_category
from fabricator.app.cli import main
from fabricator.app.recipe import Recipe
from fabricator.tables import load_table
from fabricator.testing.fake_server import FakeOpenAIServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HUB_VALUES = Path(datasets.__file__).parent / "utils" / "resources"
TASK_CATEGORIES = {"text-classification", "token-classification", "question-answering", "text-generation"}

REVIEWS = [f"Film number {i} was {'great' if i % 2 else 'dull'} from start to end." for i in range(40)]
# suitable answers for each example (a few wrong ones where the format can fail, so failures show)
RESPONSES = {
    "movie_reviews": REVIEWS[:16],
    "sentiment": REVIEWS,
    "trec": ["human", "location", "banana", "number", "entity", "description"],
    "ner": ["[]", "not json at all", "[]"],
}
EXPECTED_TASK = {
    "movie_reviews": "text-generation",
    "sentiment": "text-classification",
    "trec": "text-classification",
    "ner": "token-classification",
}


def hub_values(name):
    return json.loads((HUB_VALUES / name).read_text())


def run_example(name, tmp_path, model=None):
    """Copy the example next to its data, swap in the fake backend, run it; the output folder."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"] = model or {"backend": "fake", "responses": RESPONSES[name]}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out" / name
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


def card_tables(text):
    """``{first cell: second cell}`` of every Markdown table row in the card body."""
    body = text.split("\n---\n", 1)[1]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 2 and cells[0] not in ("---", "figure", "kind"):
            rows[cells[0]] = cells[1]
    return rows


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_each_example_gets_a_valid_hub_card_with_the_runs_figures(name, tmp_path):
    out = run_example(name, tmp_path)
    meta = json.loads((out / "metadata.json").read_text())
    summary = meta["summary"]
    text = (out / "README.md").read_text()
    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()

    # the metadata the Hub reads, with values it allows
    assert data["task_categories"] == [EXPECTED_TASK[name]]
    assert set(data["task_categories"]) <= TASK_CATEGORIES
    assert data["size_categories"] == [size_category(summary["rows"])]
    assert set(data["size_categories"]) <= set(hub_values("size_categories.json"))
    assert set(data["annotations_creators"]) <= set(hub_values("creators.json")["annotations"])
    assert set(data.get("language_creators", [])) <= set(hub_values("creators.json")["language"])
    assert data["license"] == "unknown"  # none given: said so, not invented
    assert "language" not in data and "\n# language:" in text  # a placeholder to fill in
    assert data["configs"][0]["data_files"] == [{"split": "train", "path": "data.jsonl"}]

    # the features: the saved dataset's, in the Hub's YAML shape (as datasets itself writes it)
    saved = load_table(out / "dataset")
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    assert infos["default"].features == saved.features
    assert data["dataset_info"]["features"] == saved.features._to_yaml_list()
    assert data["dataset_info"]["splits"][0]["num_examples"] == summary["rows"] == len(saved)

    # the counts, tokens and cost: metadata.json's summary, figure by figure
    figures = card_tables(card.content)
    for key in ("rows", "requested", "failures", "calls", "requests", "cached", "retries"):
        assert figures[key] == json.dumps(summary[key]), key
    for key in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd", "elapsed_s"):
        assert figures[key] == json.dumps(summary[key]), key
    kinds = Counter(json.loads(line)["kind"] for line in (out / "failures.jsonl").read_text().splitlines())
    assert {k: int(figures[k]) for k in kinds} == dict(kinds)
    assert sum(kinds.values()) == summary["failures"]

    # how it was made: the prompt the model got (the log's first call) and the recipe itself
    first = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert first["messages"][-1]["content"] in card.content or first["messages"][0]["content"] in card.content
    recipe_block = card.content.split("## Recipe", 1)[1].split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert yaml.safe_load(recipe_block) == yaml.safe_load((out / "recipe.yaml").read_text())

    # the folder loads as a Hub dataset would: the card's features on data.jsonl
    loaded = load_dataset(str(out), split="train")
    assert loaded.features == saved.features and loaded.to_list() == saved.to_list()


def test_a_rerun_rewrites_the_card_with_the_new_figures(tmp_path):
    out = run_example("trec", tmp_path)
    first = card_tables((out / "README.md").read_text())
    recipe = tmp_path / "trec" / "recipe.yaml"
    assert main(["generate", str(recipe), "-o", str(out), "--quiet"]) == 0  # resumed from the journal
    summary = json.loads((out / "metadata.json").read_text())["summary"]
    figures = card_tables((out / "README.md").read_text())
    assert first["cached"] == "0" and summary["cached"] > 0
    for key in ("rows", "failures", "requests", "cached", "prompt_tokens", "cached_tokens"):
        assert figures[key] == json.dumps(summary[key]), key


def test_card_holds_no_key_when_the_recipe_names_its_variable(tmp_path, monkeypatch):
    secret = "sk-card-secret-4242"
    monkeypatch.setenv("FAB_CARD_KEY", secret)
    with FakeOpenAIServer(api_key=secret) as server:  # answers only requests that carry the key
        model = {
            "backend": "openai",
            "name": "fake-model",
            "base_url": server.base_url,
            "api_key_env": "FAB_CARD_KEY",
        }
        out = run_example("movie_reviews", tmp_path, model=model)
        assert server.stats["received"] > 0
    text = (out / "README.md").read_text()
    assert json.loads((out / "metadata.json").read_text())["summary"]["rows"] > 0
    assert secret not in text and "FAB_CARD_KEY" in text


def test_endpoint_credentials_in_base_url_stay_out_of_the_card():
    recipe = Recipe.model_validate(
        {
            "prompt": {"task_description": "Write a review.", "generate_data_for_column": "text"},
            "model": {
                "backend": "openai",
                "name": "m",
                "base_url": "https://bob:hunter2@llm.example/v1?key=abc",
            },
        }
    )
    summary = {"mode": "unlabeled", "rows": 1, "requested": 1, "failures": 0}
    text = render_card(
        recipe=recipe, summary=summary, dataset=Dataset.from_dict({"text": ["x"]}), model_name="m"
    )
    assert "hunter2" not in text and "key=abc" not in text and "https://llm.example/v1" in text


@pytest.mark.parametrize(
    "rows, bucket",
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (99_999, "10K<n<100K"), (10**12, "n>1T")],
)
def test_size_category_uses_the_hubs_buckets(rows, bucket):
    assert size_category(rows) == bucket


def test_features_map_like_datasets_own_yaml():
    features = Features(
        {
            "text": Value("string"),
            "label": datasets.ClassLabel(names=["neg", "pos"]),
            "tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER"])),
            "answers": {
                "text": datasets.Sequence(Value("string")),
                "start": datasets.Sequence(Value("int32")),
            },
        }
    )
    assert features_to_yaml(features) == features._to_yaml_list()


REPORT = """# Is the data any good? Student classifier report

## Metrics

| metric | value |
| --- | --- |
| accuracy | 0.8125 |
| macro-F1 | 0.7900 |

## Per class

| label | training rows |
| --- | --- |
| human | 12 |
"""


def test_quality_figures_come_from_the_evaluation_report_in_the_folder(tmp_path):
    out = run_example("trec", tmp_path)
    assert "## Quality" not in (out / "README.md").read_text()  # no evaluation: no section
    (out / "report.md").write_text(REPORT)
    os.utime(out / "report.md", (1_000_000_000, 1_000_000_000))  # written long before the next run
    assert main(["generate", str(tmp_path / "trec" / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    quality = (out / "README.md").read_text().split("## Quality", 1)[1].split("\n## ", 1)[0]
    assert "| accuracy | 0.8125 |" in quality and "| macro-F1 | 0.7900 |" in quality
    assert "training rows" not in quality and "written before this data" in quality


# --- the output folder: our card is written over, a user's README never ---------------------------


def test_a_users_readme_is_never_written_over(tmp_path, capsys):
    out = run_example("trec", tmp_path)
    (out / "README.md").write_text("# My notes about this data\n")
    recipe = tmp_path / "trec" / "recipe.yaml"
    assert main(["generate", str(recipe), "-o", str(out), "--quiet"]) == 2
    assert "README.md is not a dataset card Fabricator wrote" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "# My notes about this data\n"


def test_a_users_readme_in_a_foreign_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out" / "trec"
    out.mkdir(parents=True)
    (out / "README.md").write_text("# mine\n")
    folder = tmp_path / "trec"
    shutil.copytree(EXAMPLES / "trec", folder)
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 2
    assert "did not write" in capsys.readouterr().err and (out / "README.md").read_text() == "# mine\n"


def test_a_folder_where_the_card_goes_is_refused_before_the_run(tmp_path, capsys):
    out = run_example("trec", tmp_path)
    (out / "README.md").unlink()
    (out / "README.md").mkdir()
    recipe = tmp_path / "trec" / "recipe.yaml"
    assert main(["generate", str(recipe), "-o", str(out), "--quiet", "--fresh"]) == 2
    assert "is a folder or link where Fabricator writes a file" in capsys.readouterr().err


def test_the_card_says_how_the_votes_were_cast():
    from fabricator.app.card_method import label_picking as _label_picking
    from fabricator.options import SamplingOptions

    alone = _label_picking(SamplingOptions())
    assert "vote" not in alone
    voted = _label_picking(SamplingOptions(votes=3, task_rephrasings=["Is it {}?", "Which: {}?"]))
    assert "3 prompts with different few-shot examples vote per row" in voted
    assert "2 other wording(s) of the task vote too" in voted


def test_the_card_says_how_generated_rows_were_verified():
    from fabricator.app.card_method import verification as _verification
    from fabricator.options import SamplingOptions

    plain = _verification(SamplingOptions(verify=True), {"checked": 12, "kept": 10})
    assert "kept only if it reads as the label asked for" in plain
    assert "10 of 12 checked rows kept" in plain and "prior" not in plain
    calibrated = _verification(
        SamplingOptions(verify=True, verify_min_confidence=0.7, calibration="batch"), None
    )
    assert "with confidence 0.7 or more" in calibrated
    assert "the annotator's own label prior divided out" in calibrated


def test_the_card_says_how_many_rows_a_call_wrote():
    from fabricator.app.card_method import sampling as _sampling
    from fabricator.options import SamplingOptions

    one = _sampling(SamplingOptions(seed=3))
    assert one.startswith("seed 3, temperature 0.8, at most 256 tokens per answer;") and "a call" not in one
    grouped = _sampling(SamplingOptions(rows_per_call=5, max_tokens=60))
    assert "5 rows a call (one label and one draw of examples each), at most 60 tokens per row" in grouped
