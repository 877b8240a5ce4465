"""Bad servers and bad targets for ``fabricator push`` and ``fabricator review``: one line, exit 2.

Each server here is a small loopback server (127.0.0.1) that hangs, floods, redirects, answers
HTML, the wrong JSON or an error status. Timeouts are set small (``--timeout`` or
``FABRICATOR_HTTP_TIMEOUT``) and the answer cap to 1 MB (``FABRICATOR_HTTP_MAX_MB``): the tests
assert the outcome (exit status, one error line, no traceback), never a time window.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from fabricator.app.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOKEN = "hf_hardening_secret_7d2e"
LS_TOKEN = "ls-legacy-hardening-secret-3b9f"
BIG = 3 * 2**20  # sent by the flooding servers; the cap in the tests is 1 MB
TYPES = ["abbreviation", "description", "entity", "human", "location", "number"]

# --- a scriptable loopback server ---------------------------------------------------------------------

Answer = Callable[[BaseHTTPRequestHandler, threading.Event], None]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json") -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answer_json(value: object, status: int = 200) -> Answer:
    return lambda h, _stop: send(h, status, json.dumps(value).encode())


def answer_html(status: int = 200) -> Answer:
    return lambda h, _stop: send(h, status, b"<html><body>\n<h1>Welcome</h1>\n</body></html>", "text/html")


def answer_redirect(h: BaseHTTPRequestHandler, _stop: threading.Event) -> None:
    h.send_response(302)
    h.send_header("Location", "/login/?next=/api/")
    h.send_header("Content-Length", "0")
    h.end_headers()


def answer_nothing(_h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
    stop.wait(60)  # accepts, reads the request, never answers (until the test ends)


def answer_flood(body: bytes) -> Answer:
    """``body`` with no Content-Length: the client cannot know its size before reading it."""

    def flood(h: BaseHTTPRequestHandler, _stop: threading.Event) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            h.wfile.write(body)
        except OSError:  # the client stopped reading: what it should do
            pass
        h.close_connection = True

    return flood


class BadServer:
    """Answers every request with ``route(method, path)`` (an ``Answer``); records the paths."""

    def __init__(self, route: Callable[[str, str], Answer]) -> None:
        self.route, self.paths, self.stop = route, [], threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.paths.append(f"{self.command} {self.path}")
                server.route(self.command, self.path)(self, server.stop)

            do_GET = do_POST = do_HEAD = do_PATCH = do_PUT = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> BadServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def always(answer: Answer) -> Callable[[str, str], Answer]:
    return lambda _method, _path: answer


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err


# --- runs to push and to review -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment_out(tmp_path_factory) -> Path:
    """A finished sentiment run on the fake backend (only read by the push tests)."""
    tmp = tmp_path_factory.mktemp("push")
    folder = tmp / "sentiment"
    shutil.copytree(EXAMPLES / "sentiment", folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"] = {
        "backend": "fake",
        "responses": [f"Film {i} was fine from start to end." for i in range(40)],
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp / "out"
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def trec_template(tmp_path_factory) -> Path:
    """A small TREC annotation run on the fake backend; tests review a copy of it."""
    tmp = tmp_path_factory.mktemp("trec")
    folder = tmp / "trec"
    shutil.copytree(EXAMPLES / "trec", folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["model"] = {"backend": "fake", "responses": [json.dumps({"label": t}) for t in TYPES]}
    recipe["unlabeled"]["limit"] = 4
    recipe["generation"].update(max_prompt_calls=4, label_scoring="off")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp / "out"
    assert main(["generate", str(folder / "recipe.yaml"), "-o", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def run(trec_template, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(trec_template, out)
    return out


@pytest.fixture
def ls_env(monkeypatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", LS_TOKEN)
    monkeypatch.setenv("FABRICATOR_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("FABRICATOR_HTTP_MAX_MB", "1")
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)


def push(out: Path, hub_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fabricator push`` in a child process (``HF_ENDPOINT`` is read when huggingface_hub loads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "FABRICATOR_HTTP"))}
    env.update(HF_ENDPOINT=hub_url, HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf_home"))
    # online for the loopback Hub, whatever earlier tests set (TRANSFORMERS_OFFLINE also means offline)
    env.update(HF_HUB_DISABLE_TELEMETRY="1", FABRICATOR_HTTP_MAX_MB="1", HF_HUB_OFFLINE="0")
    return subprocess.run(
        [sys.executable, "-m", "fabricator.app.cli", "push", str(out), "user/data", "--timeout", "1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- fabricator push ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, needle",
    [
        (answer_nothing, "no answer within 1 s"),
        (answer_html(), "not a Hub answer"),
        (answer_json([1, 2]), "not a Hub answer"),
        (answer_flood(b"[" + b'"x",' * (BIG // 4)), "larger than 1 MB"),
        (answer_redirect, "redirect"),
    ],
    ids=["never-answers", "html", "json-list", "huge-body", "redirect"],
)
def test_push_to_a_bad_hub_is_one_error_line(sentiment_out, tmp_path, answer, needle):
    with BadServer(always(answer)) as hub:
        pushed = push(sentiment_out, hub.url, tmp_path)
    assert_one_line_error(pushed.returncode, pushed.stderr, needle)
    assert TOKEN not in pushed.stdout + pushed.stderr


def test_push_timeout_can_come_from_the_environment(sentiment_out, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT="", HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf_home"), FABRICATOR_HTTP_TIMEOUT="-3"
    )
    with BadServer(always(answer_nothing)) as hub:
        env["HF_ENDPOINT"] = hub.url
        pushed = subprocess.run(
            [sys.executable, "-m", "fabricator.app.cli", "push", str(sentiment_out), "user/data"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert_one_line_error(pushed.returncode, pushed.stderr, "FABRICATOR_HTTP_TIMEOUT")
    assert not hub.paths  # refused before any request


# --- fabricator review export / import against servers that are not a healthy Label Studio ------------------


def projects_then(answer: Answer) -> Callable[[str, str], Answer]:
    """No project yet; the project made (POST) is ``answer``."""
    return lambda method, _path: answer if method == "POST" else answer_json({"results": [], "next": None})


@pytest.mark.parametrize(
    "route, needle",
    [
        (always(answer_html()), "not JSON"),
        (always(answer_json([1, 2])), "a list of objects"),
        (always(answer_json(None)), "null"),
        (always(answer_redirect), "redirect to /login/"),
        (projects_then(answer_json({"title": "made"})), "without an integer id"),
        (projects_then(answer_json(["made"])), "a project object"),
        (always(answer_html(401)), "refused the token"),
        (always(answer_html(403)), "refused the token"),
        (always(answer_json(["not found"], 404)), "HTTP 404"),
        (always(answer_json(["slow down"], 429)), "HTTP 429"),
        (always(answer_html(500)), "HTTP 500"),
        (always(answer_nothing), "did not answer"),
    ],
    ids=[
        "html",
        "json-list",
        "null",
        "redirect",
        "project-without-id",
        "project-is-a-list",
        "401",
        "403",
        "404",
        "429",
        "500",
        "never-answers",
    ],
)
def test_review_export_to_a_bad_server_is_one_error_line(run, ls_env, capsys, route, needle):
    with BadServer(route) as server:
        code = main(
            ["review", "export", str(run), "--to", "label-studio", "--url", server.url, "--timeout", "1"]
        )
    err = capsys.readouterr().err
    assert_one_line_error(code, err, needle)
    assert LS_TOKEN not in err


@pytest.mark.parametrize(
    "answer, needle",
    [
        (answer_html(), "not JSON"),
        (answer_json({"tasks": []}), "a list of objects"),
        (answer_json(None), "null"),
        (answer_redirect, "redirect"),
        (answer_json([{"id": 1, "data": {}, "annotations": "none"}, 5]), "a list of objects"),
        (answer_json({"detail": "no such project"}, 404), "HTTP 404"),
        (answer_nothing, "did not answer"),
    ],
    ids=["html", "object", "null", "redirect", "list-of-non-objects", "404", "never-answers"],
)
def test_review_import_from_a_bad_server_is_one_error_line(run, ls_env, capsys, tmp_path, answer, needle):
    back = ["review", "import", str(run), "--from", "label-studio", "--project", "3", "--timeout", "1"]
    with BadServer(always(answer)) as server:
        code = main([*back, "--url", server.url, "-o", str(tmp_path / "new")])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "new").exists()


def test_review_import_of_an_annotation_of_a_strange_shape_is_one_error_line(run, ls_env, capsys, tmp_path):
    from fabricator.app.review import load_run

    task = {"id": 9, "data": {"fabricator_row": 0, "fabricator_run": load_run(run).run_id}}
    task["annotations"] = [{"id": 1, "result": [{"from_name": "label", "value": "positive"}]}]
    with BadServer(always(answer_json([task]))) as server:
        code = main(
            ["review", "import", str(run), "--from", "label-studio", "--project", "3", "--url", server.url]
        )
    assert_one_line_error(code, capsys.readouterr().err, "unexpected shape")


def test_review_reads_a_huge_answer_only_up_to_the_cap(run, ls_env, capsys, tmp_path):
    tasks = [{"id": i, "data": {"text": "x" * 1000}, "annotations": []} for i in range(BIG // 1000)]
    with BadServer(always(answer_flood(json.dumps(tasks).encode()))) as server:
        code = main(
            ["review", "import", str(run), "--from", "label-studio", "--project", "3", "--url", server.url]
        )
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "larger than 1 MB")
    assert "FABRICATOR_HTTP_MAX_MB" in err  # the fix says how to allow a larger answer
    assert not (tmp_path / "run-reviewed").exists()


def test_label_studio_credentials_in_the_url_never_reach_a_message(run, ls_env, capsys):
    with BadServer(always(answer_html())) as server:
        url = server.url.replace("http://", "http://alice:s3cretPW@")
        code = main(["review", "export", str(run), "--to", "label-studio", "--url", url])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "user and password")
    assert "s3cretPW" not in err and not server.paths


# --- a run edited by hand ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("metadata.json", "{not json", "not valid JSON"),
        ("metadata.json", "[1, 2]", "not a JSON object"),
        ("recipe.yaml", "prompt: [unclosed\n", "not valid YAML"),
        ("recipe.yaml", "- a list\n", "not a recipe mapping"),
        ("recipe.yaml", "prompt: just a string\n", "'prompt' that is not a mapping"),
        ("recipe.yaml", "prompt:\n  generate_data_for_column: [label]\n", "wrong type"),
    ],
    ids=[
        "metadata-bad-json",
        "metadata-list",
        "recipe-bad-yaml",
        "recipe-list",
        "prompt-string",
        "column-list",
    ],
)
def test_review_export_of_a_hand_edited_run_is_one_error_line(run, capsys, tmp_path, name, content, needle):
    (run / name).write_text(content)
    code = main(["review", "export", str(run), "--to", "argilla", "-o", str(tmp_path / "review")])
    assert_one_line_error(code, capsys.readouterr().err, name, needle)
    assert not (tmp_path / "review").exists()


# --- Argilla file targets ----------------------------------------------------------------------------------


def export(run: Path, target: Path, *more: str) -> int:
    return main(["review", "export", str(run), "--to", "argilla", "-o", str(target), *more])


def test_argilla_export_refuses_an_existing_file_unless_forced(run, capsys, tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("my own settings\n")
    assert_one_line_error(export(run, target), capsys.readouterr().err, "already exists")
    assert target.read_text() == "my own settings\n"
    assert export(run, target, "--force") == 0
    assert isinstance(json.loads(target.read_text()), list)


def test_argilla_export_replaces_its_own_records_of_the_same_run(run, capsys, tmp_path):
    target = tmp_path / "records.json"
    assert export(run, target, "--limit", "1") == 0
    assert export(run, target) == 0  # a re-export of the same run: the file is ours
    assert len(json.loads(target.read_text())) == 4
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"id": "0123456789abcdef-0"}]))  # records of another run
    assert_one_line_error(export(run, other), capsys.readouterr().err, "already exists")


def test_argilla_export_into_a_folder_refuses_one_with_other_files_but_takes_its_own(run, capsys, tmp_path):
    target = tmp_path / "review"
    assert export(run, target) == 0
    assert export(run, target) == 0  # the folder holds this run's export
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert_one_line_error(export(run, tmp_path / "mine"), capsys.readouterr().err, "not an empty folder")


@pytest.mark.parametrize(
    "target, needle",
    [
        ("x.json", "is a folder"),  # an existing folder named x.json
        ("file/records.json", "is a file"),  # under a regular file
        ("file/review", "is a file"),  # a folder target under a regular file
    ],
    ids=["folder-named-json", "json-under-a-file", "folder-under-a-file"],
)
def test_argilla_export_to_an_impossible_target_is_one_error_line(run, capsys, tmp_path, target, needle):
    (tmp_path / "x.json").mkdir()
    (tmp_path / "file").write_text("keep me")
    assert_one_line_error(export(run, tmp_path / target), capsys.readouterr().err, needle)
    assert (tmp_path / "file").read_text() == "keep me" and not any((tmp_path / "x.json").iterdir())
