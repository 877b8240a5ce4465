"""``fabricator evaluate annotations``: score an annotated file against a gold file.

The main CLI owns the ``evaluate`` command and calls :func:`add_evaluate_annotations_parser` with
its sub-parsers object. The registered parser sets ``handler`` (and ``func``) to
:func:`run_evaluate_annotations`, which prints the report and returns the exit status (0, or 2
for bad input).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from fabricator.evaluation.console import add_command, command, write_json
from fabricator.evaluation.metrics.files import TASKS

__all__ = ["add_evaluate_annotations_parser", "run_evaluate_annotations"]


_HELP = "score annotations (predictions) against gold labels"
_DESCRIPTION = (
    "Compare a predictions file with a gold file (JSONL, JSON, CSV/TSV, Parquet or a "
    "save_to_disk folder, read as 'fabricator generate' reads its data). Rows are aligned "
    "by an 'id'/'idx' column when both files have one, else by order, else by the input "
    "columns both files share. The task is inferred from the gold columns (label / "
    "ner_tags / answers) unless --task is given. When classification predictions carry a "
    "confidence column (the probability of the chosen label, written by label scoring), the "
    "report adds the expected calibration error and a risk-coverage table: the accuracy of the "
    "most confident 100%%, 90%%, ... of the rows and the confidence threshold that keeps them."
)


def add_evaluate_annotations_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``annotations`` under an ``evaluate`` sub-parsers object; returns the parser."""
    parser = add_command(
        subparsers, "annotations", run_evaluate_annotations, help=_HELP, description=_DESCRIPTION
    )
    parser.add_argument("--predictions", required=True, metavar="P", help="annotated file")
    parser.add_argument("--gold", required=True, metavar="G", help="gold file")
    parser.add_argument("--task", choices=TASKS, help="default: inferred from the gold columns")
    parser.add_argument("--label-column", help="gold label column (default: label / ner_tags / answers)")
    parser.add_argument("--prediction-column", help="predicted label column (default: the label column)")
    parser.add_argument("--id-column", help="column that aligns rows (default: id or idx)")
    parser.add_argument("--split", help="split of a saved DatasetDict")
    parser.add_argument(
        "--confidence-column",
        metavar="C",
        help="confidence column of the predictions (default: confidence, when the file has it)",
    )
    parser.add_argument(
        "--plot", metavar="PNG", help="write a risk-coverage and reliability plot here (needs a confidence)"
    )
    parser.add_argument("--json", metavar="OUT", help="also write the full result as JSON here")
    return parser


@command
def run_evaluate_annotations(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Evaluate, print the report, optionally write ``--json``; 0 on success, 2 on bad input."""
    from fabricator.errors import ConfigError
    from fabricator.evaluation.metrics import evaluate_files, format_report

    result = evaluate_files(
        args.predictions,
        args.gold,
        args.task,
        label_column=args.label_column,
        prediction_column=getattr(args, "prediction_column", None),
        id_column=getattr(args, "id_column", None),
        split=getattr(args, "split", None),
        confidence_column=getattr(args, "confidence_column", None),
    )
    plot = getattr(args, "plot", None)
    if plot and not result.get("confidence", {}).get("n"):
        raise ConfigError(
            "--plot needs classification predictions with a confidence, and "
            f"{args.predictions} has none (task: {result['task']})",
            hint="annotate with label scoring so rows carry a confidence (or name its --confidence-column)",
        )
    print(format_report(result), file=stdout)
    if plot:
        from fabricator.evaluation.confidence_plot import plot_risk_coverage

        print(f"plot written to {plot_risk_coverage(result['confidence'], plot)}", file=stdout)
    return write_json(args.json, result, stdout=stdout, stderr=stderr) if args.json else 0
