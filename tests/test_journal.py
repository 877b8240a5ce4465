import json
import subprocess
import sys

import pytest
import yaml
from datasets import Dataset

from fabricator import BasePrompt, DatasetGenerator
from fabricator.app.cli import main
from fabricator.errors import ConfigError
from fabricator.execution.journal import Journal, content_key
from fabricator.llms import Fake


def counter_llm():
    return Fake(lambda prompt: f"review {prompt.count('text')}")


def run(llm, journal, n=6, **kw):
    prompt = kw.pop("prompt", BasePrompt("Write a short movie review."))
    return DatasetGenerator(llm).generate(
        prompt, max_prompt_calls=n, num_samples_to_generate=n, journal_dir=journal, **kw
    )


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
    prompt = BasePrompt(
        "Classify as: {}.",
        label_options=["positive", "negative"],
        generate_data_for_column="label",
        fewshot_example_columns="text",
    )
    unlabeled = Dataset.from_dict({"text": [f"t{i}" for i in range(6)]})

    def annotate(llm):
        return DatasetGenerator(llm).generate(
            prompt,
            sentiment_fewshot,
            "stratified",
            1,
            unlabeled_dataset=unlabeled,
            max_prompt_calls=6,
            journal_dir=tmp_path / "j",
        )

    a = annotate(Fake(["positive", "negative"]))
    second = Fake("garbage")
    b = annotate(second)
    assert second.calls == 0 and a["label"] == b["label"]


# --- a journal that survives hands and disks (issue 11, case 4) -------------------------------------


def write_journal(directory, n=20, shard="main"):
    """n records k0..k{n-1}; returns the journal file."""
    with Journal(directory, shard=shard) as j:
        for i in range(n):
            j.append(f"k{i}", {"text": f"t{i}", "finish_reason": "stop", "usage": [3, 4], "model": "m"})
    return directory / f"journal-{shard}.jsonl"


def replace_line(path, number, raw: bytes):
    """Put raw bytes in place of line ``number`` (1-based), as a hand or a disk fault would."""
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = raw
    path.write_bytes(b"\n".join(lines))


def corrupt_entries(path):
    corrupt = path.with_name(path.name + ".corrupt")
    return [json.loads(line) for line in corrupt.read_text(encoding="utf-8").splitlines()]


def test_bad_middle_line_costs_only_itself(tmp_path, caplog):
    path = write_journal(tmp_path)
    replace_line(path, 5, b'{"k": "k4", "text": "t4"')  # half a record, then more lines
    with caplog.at_level("WARNING", logger="fabricator"), Journal(tmp_path) as j:
        assert len(j) == 19 and "k4" not in j
        assert all(j.get(f"k{i}")["text"] == f"t{i}" for i in range(20) if i != 4)
        assert len(j.warnings) == 1 and "1 unreadable line " in j.warnings[0]
        assert "line 5" in j.warnings[0] and ".corrupt" in j.warnings[0]
    assert any("1 unreadable line" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    [entry] = corrupt_entries(path)
    assert entry["raw"] == '{"k": "k4", "text": "t4"' and entry["line"] == 5
    assert len(path.read_text().splitlines()) == 19  # rewritten without it, every valid line kept
    with Journal(tmp_path) as again:  # repaired once: no second warning, nothing doubled
        assert len(again) == 19 and again.warnings == []
    assert len(corrupt_entries(path)) == 1 and len(path.read_text().splitlines()) == 19
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"text": "t4"}', 'no key "k"'),
        (b'["k4", "t4"]', "list, not an object"),
        (b'{"k": 4, "text": "t4"}', '"k" is not a string'),
        (b'{"k": "k4", "text": null}', '"text"'),
        (b'{"k": "k4", "text": 7}', '"text"'),
        (b'{"k": "k4", "text": "t4", "usage": [3]}', '"usage"'),
        (b'{"k": "k4", "text": "t4", "usage": "3 4"}', '"usage"'),
        (b'{"k": "k4", "text": "t4", "usage": [3, "4"]}', '"usage"'),
        (b"\x00\x00\x00\x00\x00\x00", "NUL"),
        (b'{"k": "k4", "text": "t\x004"}', "NUL"),
        (b'{"k": "k4", "text": "caf\xe9"}', "UTF-8"),
        (b"[[[[[[[[[[" * 20000, "JSON"),
    ],
)
def test_hand_edited_line_is_one_clear_warning(tmp_path, raw, reason):
    path = write_journal(tmp_path)
    replace_line(path, 5, raw)
    with Journal(tmp_path) as j:
        assert len(j) == 19 and all(f"k{i}" in j for i in range(20) if i != 4)
        [warning] = j.warnings
        assert "1 unreadable line" in warning and reason in warning
    assert len(corrupt_entries(path)) == 1


def test_bad_lines_are_counted_and_a_torn_tail_is_still_cut(tmp_path):
    path = write_journal(tmp_path)
    for number in (2, 7, 11):
        replace_line(path, number, b"not json")
    path.write_bytes(path.read_bytes() + b'{"k": "k20", "te')  # and the writer was killed mid-line
    with Journal(tmp_path) as j:
        assert len(j) == 17 and j.torn == 1
        [warning] = j.warnings
        assert "3 unreadable lines" in warning
    assert [e["line"] for e in corrupt_entries(path)] == [2, 7, 11]
    assert path.read_bytes().endswith(b"\n") and len(path.read_text().splitlines()) == 17


def test_torn_last_line_is_cut_quietly(tmp_path, caplog):
    path = write_journal(tmp_path, n=5)
    path.write_bytes(path.read_bytes() + b'{"k": "k5", "text": "t')
    with caplog.at_level("INFO", logger="fabricator"), Journal(tmp_path) as j:
        assert len(j) == 5 and j.torn == 1 and j.warnings == []
    assert not [r for r in caplog.records if r.levelno >= 30]
    assert any("torn" in r.getMessage() for r in caplog.records)
    assert not path.with_name(path.name + ".corrupt").exists()
    assert len(path.read_bytes().splitlines()) == 5 and path.read_bytes().endswith(b"\n")


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = write_journal(tmp_path, n=5)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # an editor dropped the final newline
    with Journal(tmp_path) as j:
        assert len(j) == 5 and j.torn == 0
        j.append("k5", {"text": "t5"})
    with Journal(tmp_path) as j:
        assert len(j) == 6 and j.warnings == []


def test_rerun_after_a_bad_middle_line_pays_for_that_line_only(tmp_path):
    first = Fake([f"review number {i}" for i in range(20)])
    a = run(first, tmp_path / "j", n=20)
    assert first.calls == 20
    path = tmp_path / "j" / "journal-main.jsonl"
    replace_line(path, 5, b'{"k": "half a rec')
    second = Fake("a brand new review")
    b = run(second, tmp_path / "j", n=20)
    assert second.calls == 1  # not the 16 from line 5 on
    assert len(b) == 20 and len(set(a["text"]) & set(b["text"])) == 19


@pytest.mark.parametrize("meta", [b"{not json", b"[1, 2]", b'{"signature": 3}', b'{"signature": "caf\xe9"}'])
def test_unreadable_meta_is_a_clear_error_with_the_way_out(tmp_path, meta):
    write_journal(tmp_path, n=3)
    (tmp_path / "meta.json").write_bytes(meta)
    with pytest.raises(ConfigError, match=r"meta\.json") as info:
        Journal(tmp_path, signature={"task": "a"})
    assert "aside" in info.value.hint and "--fresh" in info.value.hint
    with Journal(tmp_path, signature={"task": "a"}, on_mismatch="reuse") as j:  # the way out works
        assert len(j) == 3
    assert json.loads((tmp_path / "meta.json").read_text())["signature"] == {"task": "a"}


def test_folders_where_files_should_be_are_clear_errors(tmp_path):
    (tmp_path / "a" / "journal-main.jsonl").mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a folder") as info:
        Journal(tmp_path / "a")
    assert "journal-main.jsonl" in str(info.value) and info.value.hint
    (tmp_path / "b" / "meta.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"meta\.json") as info:
        Journal(tmp_path / "b", signature={"task": "a"})
    assert info.value.hint
    (tmp_path / "c").write_text("I am a file")
    with pytest.raises(ConfigError, match="is a file") as info:
        Journal(tmp_path / "c")
    assert info.value.hint


def test_shards_are_claimed_in_the_journal(tmp_path):
    write_journal(tmp_path, n=3)
    first, second = Journal.open_shard(tmp_path), Journal.open_shard(tmp_path)
    assert (first.path.name, second.path.name) == ("journal-actor-0.jsonl", "journal-actor-1.jsonl")
    first.append("a", {"text": "from actor 0"})
    with Journal.open_shard(tmp_path) as third:  # a shard's writer is live: read all, change nothing
        assert third.path.name == "journal-actor-2.jsonl" and len(third) == 4
    second.close()
    with Journal.open_shard(tmp_path) as again:  # a closed shard is free again
        assert again.path.name == "journal-actor-1.jsonl"
    first.close()


def test_a_shard_reads_others_as_they_are_and_repairs_only_its_own(tmp_path):
    own = write_journal(tmp_path, n=2, shard="actor-0")
    own.write_bytes(own.read_bytes() + b'{"k": "torn')
    other = write_journal(tmp_path / "x", n=6, shard="actor-1")
    other = other.rename(tmp_path / other.name)
    replace_line(other, 2, b"not json")
    other.write_bytes(other.read_bytes() + b'{"k": "k6", "te')  # being written right now
    before = other.read_bytes()
    with Journal.open_shard(tmp_path, "actor-0") as j:
        assert set(j.records) == {f"k{i}" for i in range(6)}  # k0, k1 from its own; k2..k5 read
        j.append("new", {"text": "n"})
    assert other.read_bytes() == before and not other.with_name(other.name + ".corrupt").exists()
    assert [json.loads(line)["k"] for line in own.read_text().splitlines()] == ["k0", "k1", "new"]


def test_a_claimed_shard_is_not_rewritten_under_its_writer(tmp_path):
    path = write_journal(tmp_path, n=4, shard="actor-0")
    replace_line(path, 2, b"not json")
    before = path.read_bytes()
    with Journal.open_shard(tmp_path) as live:  # claims actor-0, which holds the bad line
        assert live.path == path
        with Journal(tmp_path) as driver:
            assert len(driver) == 3 and "left in place" in driver.warnings[0]
        assert path.read_bytes() == before
    with Journal(tmp_path) as driver:  # once free, it is repaired
        assert len(driver) == 3 and "set aside" in driver.warnings[0]
    assert len(path.read_text().splitlines()) == 3


def cli_recipe(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "prompt": {
                    "task_description": "Write a short movie review.",
                    "generate_data_for_column": "text",
                },
                "model": {"backend": "fake", "responses": [f"Review number {i}." for i in range(8)]},
                "generation": {"max_prompt_calls": 8, "num_samples_to_generate": 8},
            }
        )
    )
    return recipe


def test_cli_user_sees_the_lines_set_aside(tmp_path):
    recipe, out = cli_recipe(tmp_path), tmp_path / "out"
    command = [sys.executable, "-m", "fabricator.app.cli", "generate", str(recipe), "-o", str(out), "--quiet"]
    assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 0
    replace_line(out / "journal" / "journal-main.jsonl", 3, b"garbage")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "1 unreadable line set aside" in done.stderr and "journal-main.jsonl.corrupt" in done.stderr
    assert "1 sent, 7 from journal" in done.stdout


def test_cli_garbage_meta_is_one_error_naming_the_fix(tmp_path, capsys):
    recipe, out = cli_recipe(tmp_path), tmp_path / "out"
    assert main(["generate", str(recipe), "-o", str(out), "--quiet"]) == 0
    (out / "journal" / "meta.json").write_bytes(b"\xff\xfe garbage")
    capsys.readouterr()
    assert main(["generate", str(recipe), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "meta.json" in err and "fix:" in err and "--fresh" in err and "Traceback" not in err
    assert main(["generate", str(recipe), "-o", str(out), "--quiet", "--reuse"]) == 0


def test_engine_record_then_lookup_is_a_counted_journal_hit(tmp_path):
    """What the Ray vLLM path relies on: ``record`` journals an answer that ``lookup`` (in a later
    run) returns, counted as cached with what it cost; a key never recorded is no hit."""
    import asyncio

    from fabricator.execution.engine import Engine
    from fabricator.llms.base import Completion, Request, Usage

    done = Completion("A fine film.", "stop", Usage(12, 5), "m")
    with Journal(tmp_path / "j") as journal:
        Engine(Fake(), journal=journal).record("k1", done)
    llm = Fake("never asked")
    with Journal(tmp_path / "j") as journal:
        engine = Engine(llm, journal=journal)
        assert engine.lookup("k2") is None and engine.stats.cached == 0
        hit = engine.lookup("k1")
        assert (hit.text, hit.usage, hit.model) == ("A fine film.", Usage(12, 5), "m")
        assert (engine.stats.cached, engine.stats.cached_tokens) == (1, 17)
        # the engine's own calls go through the same lookup
        again = asyncio.run(engine.call(Request(messages=({"role": "user", "content": "x"},)), "k1"))
        assert again.text == "A fine film." and llm.calls == 0 and engine.stats.cached == 2


def test_engine_budget_check_and_what_is_left():
    from fabricator.errors import BudgetExceeded
    from fabricator.execution.engine import Engine, Prices
    from fabricator.llms.base import Completion, Usage

    engine = Engine(Fake(), budget_tokens=100, budget_usd=1.0, prices=Prices(1000.0, 1000.0))
    engine.check_budget()  # nothing spent: no error
    engine.account(Completion("x", "stop", Usage(30, 10), "m"))
    assert engine.budget_left() == (60, pytest.approx(0.96))
    engine.account(Completion("x", "stop", Usage(50, 20), "m"))
    assert engine.budget_left()[0] == 0
    with pytest.raises(BudgetExceeded, match="token budget of 100 spent"):
        engine.check_budget()
    assert engine.stats.stopped == "budget"
    assert Engine(Fake()).budget_left() == (None, None)
