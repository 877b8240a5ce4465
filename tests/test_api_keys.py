"""A key only goes to the server it was named for (recipe ``model.api_key_env``, or OpenAI's host).

The recipes point at the fake OpenAI-compatible server on 127.0.0.1, which records the headers
of every request it receives.
"""

import pytest
from conftest import FEWSHOT, movie_recipe, write_fewshot, write_recipe

from fabricator.app.cli import main
from fabricator.llms import OpenAICompatible
from fabricator.testing.fake_server import FakeOpenAIServer

OPENAI_SECRET = "sk-openai-SECRET-0123456789"
LOCAL_SECRET = "sk-local-SECRET-9876543210"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    monkeypatch.delenv("MY_KEY", raising=False)
    return monkeypatch


def run(tmp_path, server, **model):
    write_fewshot(tmp_path, FEWSHOT[:1])
    recipe = movie_recipe(
        labels=["positive"],
        model={"backend": "openai", "name": "fake-model", "base_url": server.base_url, **model},
        generation={"num_samples_to_generate": 2, "max_prompt_calls": 4, "max_retries": 0},
    )
    path = write_recipe(tmp_path, recipe)
    return main(["generate", path, "-o", str(tmp_path / "out"), "--quiet"])


def authorizations(server):
    return [r.headers.get("Authorization") for r in server.requests]


def test_named_key_unset_never_falls_back_to_the_openai_key(tmp_path, env, capsys):
    with FakeOpenAIServer() as server:
        assert run(tmp_path, server, api_key_env="MY_KEY") == 2
        assert server.stats["received"] == 0
    err = capsys.readouterr().err
    assert "MY_KEY" in err.split("fix:")[0] and "export MY_KEY" in err
    assert OPENAI_SECRET not in err


def test_openai_key_is_not_sent_to_another_server(tmp_path, env):
    with FakeOpenAIServer() as server:
        assert run(tmp_path, server) == 0
        sent = authorizations(server)
    assert sent and sent == [None] * len(sent)


def test_named_key_goes_to_its_server(tmp_path, env):
    env.setenv("MY_KEY", LOCAL_SECRET)
    with FakeOpenAIServer(api_key=LOCAL_SECRET) as server:
        assert run(tmp_path, server, api_key_env="MY_KEY") == 0
        sent = authorizations(server)
    assert sent and set(sent) == {f"Bearer {LOCAL_SECRET}"}


def test_rejected_key_hint_names_the_variable_the_recipe_asked_for(tmp_path, env, capsys):
    env.setenv("MY_KEY", LOCAL_SECRET)
    with FakeOpenAIServer(api_key="sk-the-right-one") as server:
        assert run(tmp_path, server, api_key_env="MY_KEY") == 2
    err = capsys.readouterr().err
    assert "check MY_KEY" in err and LOCAL_SECRET not in err


def test_openai_key_is_used_implicitly_only_for_openai(env):
    assert "api_key='***'" in repr(OpenAICompatible("m", base_url="https://api.openai.com/v1"))
    assert "api_key=None" in repr(OpenAICompatible("m", base_url="http://127.0.0.1:1/v1"))
    assert "api_key=None" in repr(OpenAICompatible("m", base_url="https://api.openai.com.evil.example/v1"))
    named = OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", api_key_env="OPENAI_API_KEY")
    assert "api_key='***'" in repr(named)
