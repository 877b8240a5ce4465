"""Command line: ``fabricator generate RECIPE.yaml`` and ``fabricator evaluate ...`` (thin)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import FabricatorError

console = Console(stderr=True, soft_wrap=True)


def _generate(args: argparse.Namespace) -> int:
    from .recipe import load_recipe
    from .runner import run_recipe

    recipe = load_recipe(args.recipe)
    mismatch = "fresh" if args.fresh else "reuse" if args.reuse else "error"
    result = run_recipe(recipe, output=args.output, on_journal_mismatch=mismatch,
                        progress=not args.quiet, engine=args.engine, ray_actors=args.ray_actors,
                        ray_address=args.ray_address)
    _summary(result)
    return 130 if result.report.interrupted else 0


def _failures(s: dict) -> str:
    """Failed answers, and whether new calls made up for them (they are not lost rows then)."""
    if not s["failures"]:
        return "0"
    made_up = "all replaced by new calls" if s["rows"] >= s["requested"] else "not all replaced"
    return f"{s['failures']} ({made_up}; see failures.jsonl)"


def _summary(result) -> None:  # type: ignore[no-untyped-def]
    s = result.report.summary()
    table = Table(title=f"fabricator: {s['mode']} run", show_header=False)
    rate = s["rows"] / s["elapsed_s"] if s["elapsed_s"] else 0.0
    cost = f"${s['cost_usd']:.4f}" if s["cost_usd"] is not None else "n/a (no prices set)"
    for name, value in [
        ("rows", f"{s['rows']} of {s['requested']} requested"),
        ("failed answers", _failures(s)),
        ("model calls", f"{s['requests']} sent, {s['cached']} from journal, {s['retries']} retries"),
        ("tokens", f"{s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion"
                   + (f" ({s['cached_tokens']:,} more spent earlier on the journaled answers)"
                      if s["cached_tokens"] else "")),
        ("cost", cost),
        ("time", f"{s['elapsed_s']:.1f} s ({rate:.2f} rows/s)"),
        ("stopped", s["stopped"] or ("interrupted" if s["interrupted"] else "completed")),
        ("output", f"{result.output}/ (dataset/, data.jsonl, log.jsonl, metadata.json)"),
    ]:
        table.add_row(name, value)
    Console().print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fabricator", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="run a YAML recipe (generation or annotation)")
    gen.add_argument("recipe", help="path of the YAML recipe")
    gen.add_argument("-o", "--output", help="output folder (default: the recipe's 'output')")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.add_argument("--engine", choices=["local", "ray"], default=None,
                     help="where the model calls run (default: the recipe's, else local); "
                          "ray needs pip install 'fabricator-data[ray]'")
    gen.add_argument("--ray-actors", type=int, default=None, metavar="N",
                     help="Ray actors (default: one per node), each with max_concurrency in flight")
    gen.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="Ray cluster to join, e.g. auto or 10.0.0.1:6379 (default: RAY_ADDRESS, "
                          "else a local cluster)")
    group = gen.add_mutually_exclusive_group()
    group.add_argument("--fresh", action="store_true",
                       help="if the output holds a journal of another task, move it aside")
    group.add_argument("--reuse", action="store_true",
                       help="if the output holds a journal of another task, reuse matching answers")
    gen.set_defaults(handler=_generate)
    evaluate = commands.add_parser("evaluate", help="measure the quality of annotations or data")
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", required=True)
    from .evaluation.cli import add_evaluate_annotations_parser

    add_evaluate_annotations_parser(evaluate_commands)
    from .evaluation.student_cli import add_evaluate_student_parser

    add_evaluate_student_parser(evaluate_commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except FabricatorError as exc:
        console.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            console.print(f"[bold]fix:[/] {escape(exc.hint)}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
