import json

import pytest
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.errors import ConfigError
from fabricator.journal import Journal, content_key
from fabricator.llms import Fake


def counter_llm():
    return Fake(lambda prompt: f"review {prompt.count('text')}")


def run(llm, journal, n=6, **kw):
    prompt = kw.pop("prompt", BasePrompt("Write a short movie review."))
    return DatasetGenerator(llm).generate(prompt, max_prompt_calls=n, num_samples_to_generate=n,
                                          journal_dir=journal, **kw)


def test_rerun_pays_nothing_twice(tmp_path):
    first, second = counter_llm(), counter_llm()
    a = run(first, tmp_path / "j")
    b = run(second, tmp_path / "j")
    assert first.calls == 6 and second.calls == 0
    assert a["text"] == b["text"]


def test_more_rows_reuse_the_first_ones(tmp_path):
    run(counter_llm(), tmp_path / "j", n=4)
    more = counter_llm()
    run(more, tmp_path / "j", n=10)
    assert more.calls == 6


def test_changing_output_reuses_all_and_temperature_reuses_none(tmp_path):
    run(counter_llm(), tmp_path / "j", n=5, log_path=tmp_path / "a.jsonl")
    same = counter_llm()
    run(same, tmp_path / "j", n=5, log_path=tmp_path / "b.jsonl")
    assert same.calls == 0
    hotter = counter_llm()
    run(hotter, tmp_path / "j", n=5, temperature=1.2)
    assert hotter.calls == 5


def test_same_prompt_several_samples_get_distinct_keys():
    messages = [{"role": "user", "content": "Write a review."}]
    keys = {content_key("m", {"temperature": 1.0}, messages, sample=i) for i in range(5)}
    assert len(keys) == 5


def test_torn_last_line_is_redone(tmp_path):
    run(counter_llm(), tmp_path / "j", n=3)
    path = next((tmp_path / "j").glob("journal-*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
    again = counter_llm()
    run(again, tmp_path / "j", n=3)
    assert again.calls == 1
    assert all(json.loads(line) for line in path.read_text().splitlines())  # file is whole again


def test_journal_of_another_task_is_a_clear_error(tmp_path):
    run(counter_llm(), tmp_path / "j", n=2)
    other = BasePrompt("Write a short poem.")
    with pytest.raises(ConfigError, match="different task") as info:
        run(counter_llm(), tmp_path / "j", n=2, prompt=other)
    assert "fresh" in str(info.value) and "reuse" in str(info.value)
    fresh = counter_llm()
    run(fresh, tmp_path / "j", n=2, prompt=other, on_journal_mismatch="fresh")
    assert fresh.calls == 2
    assert list(tmp_path.glob("j.old-*"))  # the old journal is kept aside, not deleted


def test_journal_shards_are_all_read(tmp_path):
    with Journal(tmp_path, shard="a") as a:
        a.append("k1", {"text": "one"})
    with Journal(tmp_path, shard="b") as b:
        b.append("k2", {"text": "two"})
    with Journal(tmp_path) as j:
        assert j.get("k1")["text"] == "one" and j.get("k2")["text"] == "two"


def test_annotation_resume(tmp_path, sentiment_fewshot):
    prompt = BasePrompt("Classify as: {}.", label_options=["positive", "negative"],
                        generate_data_for_column="label", fewshot_example_columns="text")
    unlabeled = Dataset.from_dict({"text": [f"t{i}" for i in range(6)]})
    first = Fake(["positive", "negative"])
    a = DatasetGenerator(first).generate(prompt, sentiment_fewshot, "stratified", 1, unlabeled_dataset=unlabeled,
                                         max_prompt_calls=6, journal_dir=tmp_path / "j")
    second = Fake("garbage")
    b = DatasetGenerator(second).generate(prompt, sentiment_fewshot, "stratified", 1,
                                          unlabeled_dataset=unlabeled, max_prompt_calls=6,
                                          journal_dir=tmp_path / "j")
    assert second.calls == 0 and a["label"] == b["label"]
