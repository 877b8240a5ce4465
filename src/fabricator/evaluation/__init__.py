"""Evaluation: how good are generated annotations and data.

``metrics`` scores annotations against gold labels (labels, entities, QA, files; the old
``annotation_metrics`` re-exports it), ``student`` trains a small classifier on the data,
``report`` and ``diagnostics`` describe it; ``cli`` / ``student_cli`` are the ``fabricator
evaluate`` commands and ``console`` their shared plain-text output.

Submodules are imported on demand, so importing this package stays cheap.
"""
