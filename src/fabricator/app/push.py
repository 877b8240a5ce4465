"""Push a run's output folder to a Hugging Face Hub dataset repo.

The repo gets the data (``data.jsonl``; parquet from ``dataset/`` when a folder has no JSONL), the
dataset card ``README.md`` (its ``dataset_info`` features and ``configs`` entry make
``load_dataset(repo_id)`` read the data with the run's features), ``provenance.jsonl``,
``failures.jsonl``, ``metadata.json`` and ``recipe.yaml``. The token comes only from ``HF_TOKEN`` or
the ``huggingface_hub`` login, never from a recipe, and never appears in a message: a Hub error is
reported with the token masked.

Every request to the Hub has connect and read timeouts (``--timeout``, ``FABRICATOR_HTTP_TIMEOUT``),
a bounded answer (``FABRICATOR_HTTP_MAX_MB``) and no redirect followed, so a server that hangs,
drips, floods or sends something that is not a Hub answer ends in a one-line ``PushError``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import yaml

from ..errors import ConfigError, FabricatorError
from ..redact import redact_url
from .card import CARD
from .http_limits import TIMEOUT_ENV, HttpLimits, http_limits, one_line
from .hub_client import limited
from .output_folder import MARKER

__all__ = ["PUSHED_FILES", "PushError", "add_push_parser", "hub_token", "push_output"]

log = logging.getLogger(__name__)

#: the files of an output folder that become files of the dataset repo (when present)
PUSHED_FILES = (
    "data.jsonl",
    CARD,
    "provenance.jsonl",
    "failures.jsonl",
    "metadata.json",
    "recipe.yaml",
    "report.html",
    "student_loop.png",  # the student loop's accuracy per round, which the card shows
)
_PARQUET = "data/train.parquet"
_LOGIN = "set HF_TOKEN to a Hugging Face token with write access, or run `huggingface-cli login`"


class PushError(FabricatorError):
    """The Hub refused or failed the push (auth, permissions, network)."""


def hub_token() -> str:
    """The token ``huggingface_hub`` uses (``HF_TOKEN``, else the stored login); ConfigError if none."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise ConfigError("no Hugging Face token found to push with", hint=_LOGIN)
    return token


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder", hint="give the output folder of a run (-o PATH)")
    if not (folder / MARKER).exists():
        raise ConfigError(
            f"{folder} is not a Fabricator output folder (no {MARKER} marker)",
            hint="push the folder a `fabricator generate` run wrote",
        )
    if not (folder / "data.jsonl").is_file() and not (folder / "dataset").is_dir():
        raise ConfigError(f"{folder} holds no data (data.jsonl or dataset/)", hint="run the recipe again")


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ConfigError(
            f"{repo_id!r} is not a valid Hub repo id: {exc}", hint="write it as NAMESPACE/NAME"
        ) from None


def _stage(folder: Path, stage: Path) -> None:
    """Write into ``stage`` the files to upload: links to the folder's, parquet when there is no JSONL."""
    for name in PUSHED_FILES:
        if (folder / name).is_file():
            (stage / name).symlink_to((folder / name).resolve())
    if (folder / "data.jsonl").is_file():
        return
    from datasets import load_from_disk

    (stage / "data").mkdir()
    load_from_disk(str(folder / "dataset")).to_parquet(str(stage / _PARQUET))
    card = stage / CARD
    if card.exists():  # point the card's configs at the parquet file instead of data.jsonl
        text = card.resolve().read_text(encoding="utf-8")
        _, header, body = text.split("---\n", 2)
        meta = yaml.safe_load(header) or {}
        meta["configs"] = [{"config_name": "default", "data_files": [{"split": "train", "path": _PARQUET}]}]
        card.unlink()
        card.write_text(f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{body}", encoding="utf-8")


def _masked(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return redact_url(str(constants.ENDPOINT))


def _status_hint(status: int | None) -> str:
    if status in (401, 403):
        return _LOGIN
    if status == 429:
        return "the Hub limits your requests: wait a few minutes, then push again"
    if status is not None and status >= 500:
        return "the Hub failed on its side: push again later"
    return "check the repo id, your rights on it and HF_ENDPOINT"


def _upload(folder: Path, repo_id: str, private: bool, token: str) -> str:
    """Create the repo if missing and commit the staged files to it; the repo's URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fabricator-push-") as tmp:
        _stage_checked(folder, Path(tmp))
        api.upload_folder(
            repo_id=url.repo_id,
            repo_type="dataset",
            folder_path=tmp,
            commit_message=f"Fabricator output {folder.name}",
        )
    return str(url)


def _stage_checked(folder: Path, stage: Path) -> None:
    """``_stage``, with a hand-edited card or an unreadable dataset as a one-line ConfigError."""
    try:
        _stage(folder, stage)
    except FabricatorError:
        raise
    except (ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot prepare {folder} for the Hub: {one_line(str(exc)) or type(exc).__name__}",
            hint=f"check {CARD} and dataset/ in the folder, or run the recipe again",
        ) from None


def push_output(
    folder: str | Path, repo_id: str, *, private: bool = False, timeout: float | None = None
) -> str:
    """Upload the output ``folder`` to the dataset repo ``repo_id`` (created if missing); its URL.

    ``timeout``: seconds to wait for each answer of the Hub (default ``FABRICATOR_HTTP_TIMEOUT``,
    else 60); an answer is also capped in size, so a bad endpoint is an error, never a hang.
    """
    folder = Path(folder).expanduser()
    _check_folder(folder)
    _check_repo_id(repo_id)
    limits = http_limits(timeout)
    token = hub_token()
    with limited(limits):
        url = _push_mapped(folder, repo_id, private, token, limits)
    log.info("pushed %s to %s", folder, url)
    return url


def _push_mapped(folder: Path, repo_id: str, private: bool, token: str, limits: HttpLimits) -> str:
    """``_upload`` with every failure of the Hub or the network as a one-line PushError."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    where = _hub_endpoint()
    failed = f"pushing to {repo_id} at {where} failed"
    try:
        return _upload(folder, repo_id, private, token)
    except FabricatorError:
        raise
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise PushError(
            f"{failed}: {_masked(one_line(str(exc)), token)}", hint=_status_hint(status)
        ) from None
    except httpx2.TimeoutException:
        raise PushError(
            f"{failed}: no answer within {limits.timeout:g} s",
            hint=f"check HF_ENDPOINT and the network, or wait longer with --timeout or {TIMEOUT_ENV}",
        ) from None
    except (OSError, httpx2.TransportError) as exc:  # the network (refused, DNS) or a local file
        raise PushError(
            f"{failed}: {_masked(one_line(str(exc)), token) or type(exc).__name__}",
            hint="check the network and HF_ENDPOINT",
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise PushError(
            f"{failed}: its answer is not a Hub answer ({type(exc).__name__}: "
            f"{_masked(one_line(str(exc), 120), token)})",
            hint="check that HF_ENDPOINT is a Hugging Face Hub",
        ) from None


def add_push_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fabricator push RUN_DIR REPO_ID [--private]``."""
    push = commands.add_parser("push", help="upload an output folder to a Hugging Face Hub dataset repo")
    push.add_argument("output", metavar="RUN_DIR", help="the output folder of a run")
    push.add_argument(
        "repo_id", metavar="REPO_ID", help="the dataset repo, NAMESPACE/NAME (created if missing)"
    )
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"wait at most this long for each answer of the Hub (default: {TIMEOUT_ENV}, else 60)",
    )
    push.set_defaults(handler=_push_command)


def _push_command(args: argparse.Namespace) -> int:
    url = push_output(args.output, args.repo_id, private=args.private, timeout=args.timeout)
    print(f"pushed {args.output} to {url}")
    return 0
