"""The human review loop: a run's least confident labels to reviewers, their corrections back.

``export_label_studio`` / ``import_label_studio`` talk to a Label Studio server; ``export_argilla``
writes Argilla records to disk. Import writes a new dataset version, never over the run.
"""

from .argilla import argilla_records, argilla_settings, export_argilla
from .cli import add_review_parser
from .client import TOKEN_ENV, LabelStudioError
from .label_studio import ExportResult, ImportResult, export_label_studio, import_label_studio, task_for
from .run import ReviewRun, load_run

__all__ = [
    "TOKEN_ENV",
    "ExportResult",
    "ImportResult",
    "LabelStudioError",
    "ReviewRun",
    "add_review_parser",
    "argilla_records",
    "argilla_settings",
    "export_argilla",
    "export_label_studio",
    "import_label_studio",
    "load_run",
    "task_for",
]
