"""Rows in the user's own schema: a Pydantic model or a JSON Schema dict as the output format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from datasets import ClassLabel, Dataset, Value
from pydantic import BaseModel, Field

from fabricator import DatasetGenerator
from fabricator.app.cli import main
from fabricator.errors import ConfigError
from fabricator.formats import SchemaFormat, output_format
from fabricator.llms.fake import Fake
from fabricator.llms.openai import OpenAICompatible
from fabricator.prompts import BasePrompt
from fabricator.testing import FakeOpenAIServer


class Question(BaseModel):
    question: str
    difficulty: Literal["easy", "hard"]
    tags: list[str]
    score: int = Field(ge=1, le=5)


#: the same schema as JSON Schema (what a recipe writes under ``output_format: {kind: schema}``)
QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "difficulty": {"enum": ["easy", "hard"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "required": ["question", "difficulty", "tags", "score"],
}


def answer(n: int, difficulty: str = "easy", score: int = 3) -> str:
    return json.dumps({"question": f"Question {n}?", "difficulty": difficulty, "tags": ["t"], "score": score})


def generate(
    llm: Fake, fmt: Any, rows: int = 3, prompt: BasePrompt | None = None, max_tries: int = 3, **options: Any
) -> Any:
    generator = DatasetGenerator(llm, max_tries=max_tries)
    prompt = prompt or BasePrompt(task_description="Write a quiz question.")
    data = generator.generate(
        prompt, max_prompt_calls=12, num_samples_to_generate=rows, output_format=fmt, **options
    )
    return data, generator.last_run


@pytest.mark.parametrize("schema", [Question, QUESTION_SCHEMA], ids=["pydantic", "json-schema"])
def test_generated_rows_validate_and_their_features_follow_the_schema(schema: Any) -> None:
    data, _ = generate(Fake([answer(1), answer(2, "hard", 5), answer(3, score=1)]), schema)
    assert data.features["difficulty"] == ClassLabel(names=["easy", "hard"])
    assert data.features["score"] == Value("int64") and data.features["question"] == Value("string")
    assert data.features["tags"].feature == Value("string")  # a sequence of strings
    assert data["question"] == ["Question 1?", "Question 2?", "Question 3?"]
    assert data["difficulty"] == [0, 1, 0] and data["tags"] == [["t"]] * 3 and data["score"] == [3, 5, 1]
    for row in data.to_list():
        difficulty = data.features["difficulty"].int2str(row["difficulty"])
        Question.model_validate({**row, "difficulty": difficulty})


def test_an_invalid_answer_is_reasked_with_the_error_then_kept_as_a_failure() -> None:
    llm = Fake([answer(1, score=9), answer(1), answer(2, score=0), answer(2, score=7), "not json"])
    data, report = generate(llm, Question, rows=2, max_tries=2)
    assert data["question"] == ["Question 1?"]  # the first row, right after its re-ask
    reask = llm.requests[1].messages[-1]["content"]
    assert reask.startswith(
        "the answer does not fit the schema: score: Input should be less than or equal to 5"
    )
    failure = report.failures[0]
    assert failure.kind == "ParseError" and "greater than or equal to 1" not in failure.error
    assert "less than or equal to 5" in failure.error and json.loads(failure.raw)["score"] == 7


def test_the_schema_is_sent_to_backends_that_constrain_decoding() -> None:
    with FakeOpenAIServer(responder=lambda messages, body: answer(len(messages)), record=True) as server:
        llm = OpenAICompatible("m", base_url=server.base_url)
        generator = DatasetGenerator(llm)
        prompt = BasePrompt(task_description="Write a quiz question.")
        data = generator.generate(
            prompt, max_prompt_calls=1, num_samples_to_generate=1, output_format=Question
        )
        body = server.requests[0].body
    assert data["score"] == [3]
    assert body["response_format"]["json_schema"]["schema"] == Question.model_json_schema()


def test_annotation_with_a_schema_keeps_the_input_columns() -> None:
    reviews = Dataset.from_dict({"text": ["Great!", "Awful."]})
    prompt = BasePrompt(
        task_description="Write a quiz question about the review.",
        generate_data_for_column="json",
        fewshot_example_columns="text",
    )
    llm = Fake([answer(1), answer(2, "hard")])
    data = DatasetGenerator(llm).generate(
        prompt, unlabeled_dataset=reviews, max_prompt_calls=4, output_format=Question
    )
    assert data.column_names == ["text", "question", "difficulty", "tags", "score"]
    assert data["text"] == ["Great!", "Awful."] and data["difficulty"] == [0, 1]
    assert "Great!" in llm.requests[0].messages[-2]["content"]


def test_generation_conditioned_on_a_literal_field() -> None:
    def respond(prompt: str) -> str:  # answers for the difficulty asked, once a wrong one
        asked = "hard" if "a hard quiz" in prompt else "easy"
        respond.calls += 1  # type: ignore[attr-defined]
        wrong = respond.calls == 1  # type: ignore[attr-defined]
        return answer(respond.calls, "easy" if wrong and asked == "hard" else asked)  # type: ignore[attr-defined]

    respond.calls = 0  # type: ignore[attr-defined]
    fmt = SchemaFormat(Question, condition_on="difficulty")
    prompt = BasePrompt(task_description="Write a {} quiz question.")
    data, _ = generate(Fake(respond), fmt, rows=4, prompt=prompt, seed=2)
    names = data.features["difficulty"]
    assert sorted(names.int2str(d) for d in data["difficulty"]) == ["easy", "easy", "hard", "hard"]
    with pytest.raises(ConfigError, match=r"'\{\}'"):  # the label must be shown in the task
        generate(Fake(respond), fmt, prompt=BasePrompt(task_description="Write a quiz question."))
    with pytest.raises(ConfigError, match="not a field"):
        SchemaFormat(Question, condition_on="level")
    with pytest.raises(ConfigError, match="Literal or Enum"):
        SchemaFormat(Question, condition_on="score")


def test_a_wrong_conditioned_value_is_reasked() -> None:
    fmt = SchemaFormat(Question, condition_on="difficulty")
    with pytest.raises(Exception, match="difficulty must be 'hard'"):
        fmt.parse(answer(1, "easy"), {"difficulty": "hard"})
    left_out = json.dumps({"question": "Q?", "tags": [], "score": 2})
    assert fmt.parse(left_out, {"difficulty": "hard"})["difficulty"] == "hard"


@pytest.mark.parametrize(
    "schema, needle",
    [
        (
            {"type": "object", "properties": {"a": {"type": "string", "format": "date"}}},
            "schema.a uses 'format'",
        ),
        ({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}, "schema.a uses 'anyOf'"),
        ({"type": "object", "properties": {"a": {"type": "null"}}}, "schema.a has type 'null'"),
        ({"type": "array", "items": {"type": "string"}}, "must be a JSON Schema object"),
        ({"type": "object", "properties": {"a": {"enum": [1, 2]}}}, "'enum' must be a list of strings"),
    ],
)
def test_an_unsupported_schema_is_one_line_config_error(schema: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        SchemaFormat(schema)
    assert needle in info.value.message and "\n" not in info.value.message
    assert info.value.message.startswith("unsupported output schema")


def test_a_pydantic_field_with_no_column_type_is_refused() -> None:
    class Odd(BaseModel):
        when: bytes

    with pytest.raises(ConfigError, match=r"Odd\.when"):
        SchemaFormat(Odd)


def test_optional_and_nested_fields_become_nullable_values_and_structs() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "note": {"type": "string"},
            "author": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
        "required": ["title", "author"],
    }
    fmt = SchemaFormat(schema)
    assert fmt.features()["author"] == {"name": Value("string")}
    row = fmt.parse('{"title": "T", "author": {"name": "Ann"}}', {})
    assert row == {"title": "T", "note": None, "author": {"name": "Ann"}}


def recipe(folder: Path, server: FakeOpenAIServer, fmt: dict[str, Any]) -> str:
    data = {
        "prompt": {"task_description": "Write a quiz question.", "generate_data_for_column": "json"},
        "output_format": fmt,
        "model": {"backend": "openai", "name": "m", "base_url": server.base_url},
        "generation": {"num_samples_to_generate": 2, "max_prompt_calls": 4},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_recipe_names_a_schema_and_the_cli_generates_rows_in_it(tmp_path: Path) -> None:
    counter = iter(range(100))
    with FakeOpenAIServer(responder=lambda messages, body: answer(next(counter), "hard")) as server:
        path = recipe(tmp_path, server, {"kind": "schema", "schema": QUESTION_SCHEMA})
        assert main(["generate", path, "-o", str(tmp_path / "out"), "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "data.jsonl").read_text().splitlines()]
    assert [r["question"] for r in rows] == ["Question 0?", "Question 1?"]
    assert all(r["difficulty"] == "hard" and r["score"] == 3 for r in rows)


def test_a_recipe_may_name_a_pydantic_model_by_its_dotted_path() -> None:
    fmt = output_format("schema", model=f"{__name__}:Question", condition_on="difficulty")
    assert isinstance(fmt, SchemaFormat) and fmt.model is Question
    assert fmt.conditioning() == ("difficulty", ["easy", "hard"])
    with pytest.raises(ConfigError, match="one of 'schema'"):
        output_format("schema")
    with pytest.raises(ConfigError, match="cannot be imported"):
        output_format("schema", model=f"{__name__}:Nope")


def test_a_bad_schema_in_a_recipe_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer() as server:
        bad = {"kind": "schema", "schema": {"type": "object", "properties": {"a": {"type": "date"}}}}
        assert main(["generate", recipe(tmp_path, server, bad), "--quiet"]) == 2
    assert "unsupported output schema: schema.a has type 'date'" in capsys.readouterr().err


@pytest.mark.embedded
@pytest.mark.timeout(300)
def test_the_embedded_model_writes_rows_that_validate() -> None:
    pytest.importorskip("xllamacpp")
    from fabricator.llms.embedded import LlamaCpp

    class Short(BaseModel):
        question: str
        difficulty: Literal["easy", "hard"]
        score: int = Field(ge=1, le=5)

    llm = LlamaCpp(n_parallel=2, n_ctx=2048)
    try:
        generator = DatasetGenerator(llm)
        prompt = BasePrompt(task_description="Write one short quiz question about geography.")
        data = generator.generate(
            prompt, max_prompt_calls=6, num_samples_to_generate=2, output_format=Short, max_tokens=80
        )
    finally:
        llm.close()
    assert len(data) == 2
    assert all(1 <= s <= 5 for s in data["score"]) and all(q.strip() for q in data["question"])


def test_fewshot_rows_are_shown_as_the_json_answer() -> None:
    fewshot = Dataset.from_dict(
        {"question": ["Capital of France?"], "difficulty": ["easy"], "tags": [["geo"]], "score": [2]}
    )
    prompt = BasePrompt(task_description="Write a quiz question.", generate_data_for_column="json")
    llm = Fake([answer(1)])
    data, _ = generate(
        llm, Question, rows=1, prompt=prompt, fewshot_dataset=fewshot, fewshot_examples_per_class=1
    )
    assert data["question"] == ["Question 1?"]
    shown = llm.requests[0].messages[1]["content"]
    assert 'json: {"question": "Capital of France?", "difficulty": "easy"' in shown
