"""``fabricator review export|import``: the human review loop on the command line."""

from __future__ import annotations

import argparse
import os

from ...errors import ConfigError
from ..http_limits import TIMEOUT_ENV, http_limits
from .argilla import export_argilla
from .label_studio import export_label_studio, import_label_studio

__all__ = ["add_review_parser"]

_URL_ENV = "LABEL_STUDIO_URL"


def add_review_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``fabricator review export ...`` and ``fabricator review import ...``."""
    review = commands.add_parser(
        "review", help="send a run's labels to human reviewers (Label Studio, Argilla) and take them back"
    )
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="rows as review tasks with the model's labels as pre-annotations, least confident first",
    )
    export.add_argument("output", metavar="RUN_DIR", help="the output folder of a run")
    export.add_argument("--to", required=True, choices=["label-studio", "argilla"], help="the review tool")
    _url(export)
    export.add_argument(
        "--project", metavar="NAME|ID", help="Label Studio project: an id, or a title (made if missing)"
    )
    export.add_argument(
        "--limit", type=int, metavar="N", help="send only the N least confident rows not sent yet"
    )
    export.add_argument(
        "-o",
        "--output",
        "--records",
        dest="records",
        metavar="OUT",
        help="argilla: the output folder of the export (settings and records), or a .json file for "
        "the records alone",
    )
    export.add_argument("--force", action="store_true", help="argilla: replace an existing file of -o")
    export.set_defaults(handler=_export)
    back = actions.add_parser("import", help="reviewers' labels into a new dataset version (a new folder)")
    back.add_argument("output", metavar="RUN_DIR", help="the output folder of the run that was exported")
    back.add_argument(
        "--from", dest="source", required=True, choices=["label-studio"], help="the review tool"
    )
    _url(back)
    back.add_argument("--project", required=True, type=int, metavar="ID", help="the Label Studio project id")
    back.add_argument(
        "-o",
        "--output",
        "--new-version",
        dest="new_version",
        metavar="NEW_DIR",
        help="output folder of the new version (default: RUN_DIR-reviewed)",
    )
    back.set_defaults(handler=_import)


def _url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(_URL_ENV),
        help=f"Label Studio address, e.g. http://127.0.0.1:8080 (default: {_URL_ENV}); "
        "token: LABEL_STUDIO_API_KEY",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"wait at most this long for each answer of Label Studio (default: {TIMEOUT_ENV}, else 60)",
    )


def _need_url(args: argparse.Namespace) -> str:
    if not args.url:
        raise ConfigError("no Label Studio address", hint=f"give --url http://HOST:PORT or set {_URL_ENV}")
    return str(args.url)


def _export(args: argparse.Namespace) -> int:
    if args.to == "argilla":
        if not args.records:
            raise ConfigError(
                "an Argilla export needs a place for the records",
                hint="add -o review/ (a folder) or -o records.json",
            )
        path = export_argilla(args.output, args.records, limit=args.limit, force=args.force)
        print(f"wrote Argilla records of {args.output} to {path}")
        return 0
    result = export_label_studio(
        args.output,
        url=_need_url(args),
        project=args.project,
        limit=args.limit,
        limits=http_limits(args.timeout),
    )
    made = "created" if result.created else "filled"
    print(
        f"{made} Label Studio project {result.project_id}: {result.sent} task(s) sent, least confident first"
        + (f" ({result.already} sent before)" if result.already else "")
    )
    print(
        f"review at {result.project_url}; then: fabricator review import {args.output} "
        f"--from label-studio --project {result.project_id}"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    result = import_label_studio(
        args.output,
        url=_need_url(args),
        project=args.project,
        output=args.new_version,
        limits=http_limits(args.timeout),
    )
    share = f" ({100 * result.changed / result.reviewed:.1f} %)" if result.reviewed else ""
    print(
        f"reviewers changed the model's label in {result.changed} of {result.reviewed} reviewed row(s){share}"
    )
    print(f"new dataset version: {result.folder} (provenance: labeled_by human or model)")
    return 0
