"""Command line: ``fabricator generate RECIPE.yaml``, ``fabricator plan RECIPE.yaml``, ``evaluate ...``.

Exit status: 0 when rows were made (a partial run says how many are missing), 1 when a run made
nothing (or on a bug: one line, ``--debug`` for the traceback), 2 for bad input (recipe, data,
output folder, a file that cannot be read, a server that answers nonsense), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import FabricatorError
from ..redact import redact_text
from . import runner
from .costing import over_budget
from .evaluate import add_evaluate_annotations_parser, add_evaluate_diversity_parser
from .evaluate_student import add_evaluate_student_parser
from .push import add_push_parser
from .recipe import load_recipe
from .review import add_review_parser
from .runner import RunChoices, RunResult, plan_recipe
from .safe_files import claim_file
from .status import add_status_parser
from .view import add_view_parser

console = Console(stderr=True, soft_wrap=True)


def _generate(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    json_out = _json_target(args)  # refused before the run, not after paying for it
    choices = RunChoices(
        on_journal_mismatch="fresh" if args.fresh else "reuse" if args.reuse else "error",
        engine=args.engine,
        ray_actors=args.ray_actors,
        ray_address=args.ray_address,
        spend_budget=args.spend_budget,
        push_anyway=args.push_anyway,
    )
    result = runner.run_recipe(recipe, output=args.output, progress=not args.quiet, choices=choices)
    _summary(result)
    if json_out is not None:
        _write_json(json_out, result.report.summary())
    if result.push_skipped:
        console.print(f"[bold yellow]warning:[/] not pushed: {escape(result.push_skipped)}")
    if result.report.interrupted:
        return 130
    return _verdict(result.report.summary(), result.report.failures)


def _plan(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    json_out = _json_target(args)
    plan = plan_recipe(recipe, output=args.output)
    budget = recipe.generation.budget
    why = over_budget(plan, budget)
    if budget.budget_tokens is None and budget.budget_usd is None:
        verdict = "none set (budget_tokens, budget_usd)"
    else:
        verdict = f"{why}: generate refuses unless --spend-budget" if why else "within the budget"
    print(f"fabricator plan of {args.recipe} (no completion call made)")
    for name, value in [*plan.lines(), ("budget", verdict)]:  # plain lines: no wrapping, easy to grep
        print(f"  {name + ':':<19}{value}")
    if json_out is not None:
        _write_json(json_out, {**plan.as_dict(), "over_budget": why})
    return 0


def _json_target(args: argparse.Namespace) -> Path | None:
    """The ``--json`` file, claimed before any work (an existing file only with ``--force``)."""
    if not args.json:
        return None
    return claim_file(args.json, force=args.force, what="--json file")


def _write_json(path: Path, figures: dict[str, Any]) -> None:
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"figures written to {escape(str(path))}")


def _verdict(s: dict[str, Any], failures: Sequence[Any]) -> int:
    """Say plainly when rows are missing; a run that made nothing fails (exit 1)."""
    missing = s["requested"] - s["rows"]
    if s["rows"] > 0 or s["requested"] <= 0:
        if missing > 0:
            console.print(
                f"[bold yellow]warning:[/] {missing} of {s['requested']} requested rows are "
                f"missing ({_why(s, failures)}; see failures.jsonl)"
            )
        return 0
    console.print(
        f"[bold red]error:[/] nothing was produced: 0 of {s['requested']} rows ({_why(s, failures)})"
    )
    console.print(
        "[bold]fix:[/] see failures.jsonl and log.jsonl in the output folder; check the "
        "model, its server and the prompt, then run again (answers already paid are journaled)"
    )
    return 1


def _why(s: dict[str, Any], failures: Sequence[Any]) -> str:
    """The most common failure kind, with one example error, or why the run stopped."""
    if s.get("stopped"):
        return f"stopped: {s['stopped']}"
    if not failures:
        return "no answer was usable"
    kinds = Counter(f.kind for f in failures)
    kind, count = kinds.most_common(1)[0]
    example = next(f.error for f in failures if f.kind == kind)
    n = len(failures)
    return escape(f"{n} failed answers; most often {kind} ({count} of {n}), e.g. {example}")


def describe_failures(s: dict) -> str:
    """Failed answers, and whether new calls made up for them (they are not lost rows then)."""
    if not s["failures"]:
        return "0"
    made_up = "all replaced by new calls" if s["rows"] >= s["requested"] else "not all replaced"
    return f"{s['failures']} ({made_up}; see failures.jsonl)"


def _summary(result: RunResult) -> None:
    s = result.report.summary()
    table = Table(title=f"fabricator: {s['mode']} run", show_header=False)
    rate = s["rows"] / s["elapsed_s"] if s["elapsed_s"] else 0.0
    cost = f"${s['cost_usd']:.4f}" if s["cost_usd"] is not None else "n/a (no prices set)"
    for name, value in [
        ("rows", f"{s['rows']} of {s['requested']} requested"),
        ("failed answers", describe_failures(s)),
        ("model calls", f"{s['requests']} sent, {s['cached']} from journal, {s['retries']} retries"),
        ("call cap", describe_calls(s)),
        (
            "tokens",
            f"{s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion"
            + (
                f" ({s['cached_tokens']:,} more spent earlier on the journaled answers)"
                if s["cached_tokens"]
                else ""
            ),
        ),
        *_confidence_rows(result),
        ("cost", cost),
        ("time", f"{s['elapsed_s']:.1f} s ({rate:.2f} rows/s)"),
        (
            "stopped",
            s["stopped"]
            or (
                "interrupted"
                if s["interrupted"]
                else "completed"
                if s["rows"] or not s["requested"]
                else "nothing produced"
            ),
        ),
        ("output", f"{result.output}/ (dataset/, data.jsonl, log.jsonl, metadata.json, README.md)"),
    ]:
        table.add_row(name, value)
    Console().print(table)
    for warning in result.report.warnings:  # e.g. journal lines set aside as unreadable
        console.print(f"[bold yellow]warning:[/] {escape(warning)}")


def _confidence_rows(result: RunResult) -> list[tuple[str, str]]:
    """Scored annotation: how sure the labels are, and what ``min_confidence``/calibration did."""
    report, s = result.report, result.report.summary()
    sure = [p["label_scores"] for p in report.provenance if "label_scores" in p]
    if not sure:
        return []
    methods = sorted({str(p.get("scoring")) for p in report.provenance if "scoring" in p})
    mean = sum(max(scores.values()) for scores in sure) / len(sure)
    rows = [("label scoring", f"{', '.join(methods)}; mean confidence {mean:.3f}")]
    flagged = sum(bool(p.get("flagged")) for p in report.provenance)
    if any("agreement" in p for p in report.provenance):
        rows.append(("votes", f"{flagged} row(s) where the prompts disagree (flagged in provenance.jsonl)"))
    if "calibration_changed" in s:
        rows.append(("calibration", f"{s['calibration_changed']} label(s) changed (label prior removed)"))
    if "pool_classifier_changed" in s:
        rows.append(("pool classifier", f"{s['pool_classifier_changed']} label(s) changed by the mix"))
    if "coverage" in s:
        rows.append(
            (
                "min_confidence",
                f"kept {s['rows']} row(s), coverage {s['coverage']:.1%}; "
                f"{s['below_min_confidence']} below it are in failures.jsonl (kind LowConfidence)",
            )
        )
    return rows


def describe_calls(s: dict[str, Any]) -> str:
    """Calls counted against ``max_prompt_calls`` (journal answers and HTTP retries are not)."""
    if s.get("call_cap") is None:
        return f"{s['calls']} counted (no cap)"
    return f"{s['calls']} of {s['call_cap']} allowed (max_prompt_calls)"


_DESCRIPTION = """\
Fabricator: generate or annotate labeled NLP datasets with a teacher LLM.

A YAML recipe says what to make (task description, label options, few-shot and
unlabeled data), with which model (embedded llama.cpp, any OpenAI-compatible
server, or the fake backend for dry runs) and where to write it."""

_EPILOG = """\
examples (one per command):
  generate             run a recipe, write the dataset to its output folder
                         fabricator generate examples/sentiment/recipe.yaml -o runs/first
  plan                 calls, tokens, cost and time of a recipe, without running it
                         fabricator plan examples/sentiment/recipe.yaml -o runs/first
  status               the batches a run (engine: batch) submitted, and what a rerun does
                         fabricator status runs/first
  view                 a run's report as one page (report.html), served on 127.0.0.1
                         fabricator view runs/first
  evaluate annotations score annotations against gold labels
                         fabricator evaluate annotations --predictions runs/first/data.jsonl --gold gold.jsonl
  evaluate student     train a small classifier on the data, score it on gold data
                         fabricator evaluate student --train runs/first/data.jsonl --test gold.jsonl
  push                 upload an output folder to a Hub dataset repo (token: HF_TOKEN or login)
                         fabricator push runs/first my-name/my-dataset --private
  review               send the least confident labels to Label Studio, take the fixes back
                         fabricator review export runs/trec --to label-studio --url http://127.0.0.1:8080

Run 'fabricator COMMAND --help' for the options of a command."""


def _version() -> str:
    try:
        return version("fabricator-data")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _add_json_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", metavar="OUT", help=f"also write {what} as JSON here")
    parser.add_argument("--force", action="store_true", help="write over an existing --json file")


def _add_generate_parser(commands: Any) -> None:
    gen = commands.add_parser("generate", help="run a YAML recipe (generation or annotation)")
    gen.add_argument("recipe", help="path of the YAML recipe")
    gen.add_argument("-o", "--output", help="output folder (default: the recipe's 'output')")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument(
        "--engine",
        choices=["local", "ray", "batch"],
        default=None,
        help="where the model calls run (default: the recipe's, else local); "
        "ray needs pip install 'fabricator-data[ray]'; batch: the provider's batch API (docs/batch.md)",
    )
    gen.add_argument(
        "--ray-actors",
        type=int,
        default=None,
        metavar="N",
        help="Ray actors (default: one per node), each with max_concurrency in flight",
    )
    gen.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join, e.g. auto or 10.0.0.1:6379 (default: RAY_ADDRESS, else a local cluster)",
    )
    group = gen.add_mutually_exclusive_group()
    group.add_argument(
        "--fresh", action="store_true", help="if the output holds a journal of another task, move it aside"
    )
    group.add_argument(
        "--reuse",
        action="store_true",
        help="if the output holds a journal of another task, reuse matching answers",
    )
    gen.add_argument(
        "--spend-budget",
        action="store_true",
        help="start even when the plan exceeds budget_tokens/budget_usd; stop when the budget is spent",
    )
    gen.add_argument(
        "--push-anyway",
        action="store_true",
        help="push to the recipe's output.hub_repo even a run with fewer rows than output.min_rows_to_push",
    )
    _add_json_options(gen, "the run's figures (as metadata.json's summary)")
    gen.set_defaults(handler=_generate)


def _add_plan_parser(commands: Any) -> None:
    plan = commands.add_parser("plan", help="what a recipe will cost: calls, tokens, dollars, time")
    plan.add_argument("recipe", help="path of the YAML recipe")
    plan.add_argument(
        "-o",
        "--output",
        help="output folder of the run (default: the recipe's); a previous run there gives measured rates",
    )
    _add_json_options(plan, "the plan's figures")
    plan.set_defaults(handler=_plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabricator",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fabricator {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (before the command)"
    )
    commands = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    _add_generate_parser(commands)
    _add_plan_parser(commands)
    evaluate = commands.add_parser("evaluate", help="measure the quality of annotations or data")
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", required=True)
    add_evaluate_annotations_parser(evaluate_commands)
    add_evaluate_diversity_parser(evaluate_commands)
    add_evaluate_student_parser(evaluate_commands)
    add_push_parser(commands)
    add_review_parser(commands)
    add_status_parser(commands)
    add_view_parser(commands)
    return parser


def _one_line(text: object) -> str:
    """A message on one line, with any URL credentials cut out: what the console may show."""
    return escape(" ".join(redact_text(str(text)).split()))


def _error(message: object, hint: object = None) -> None:
    console.print(f"[bold red]error:[/] {_one_line(message)}")
    if hint:
        console.print(f"[bold]fix:[/] {_one_line(hint)}")


def _bad_input(exc: BaseException) -> bool:
    """Errors that come from what the user gave (a path, a file's content), not from a bug."""
    return isinstance(exc, (OSError, yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError))


def _report(exc: BaseException) -> int:
    """Turn an exception into a one-line message and an exit status; never a traceback."""
    if isinstance(exc, FabricatorError):
        _error(exc.message, exc.hint)
        return 2
    if _bad_input(exc):
        name = getattr(exc, "filename", None)
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _error(f"{name}: {what}" if name else f"{type(exc).__name__}: {what}", "check the file or path named")
        return 2
    _error(
        f"unexpected {type(exc).__name__}: {exc}",
        "run with --debug for the traceback (fabricator --debug COMMAND ...), and report it",
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        _error("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report(exc)


if __name__ == "__main__":
    sys.exit(main())
