"""How good are LLM annotations? Metrics against gold labels, and a file-level evaluator.

* labels (classification, :mod:`.labels`): accuracy, macro/weighted F1, per-class
  precision/recall/F1/support and the confusion matrix, computed with scikit-learn (same numbers
  as its functions).
* entities (NER, BIO tags, :mod:`.entities`): entity-level precision/recall/F1, micro and per type
  plus macro and weighted averages, with seqeval's default conventions (chunking by
  :func:`fabricator.parsing.tags_to_chunks`, an entity counts only when type, start and end all
  match), and token accuracy.
* extractive QA (:mod:`.qa`): exact match and token F1 with SQuAD normalization (lowercase, drop
  punctuation and the articles a/an/the, collapse whitespace), maximised over the gold answers.
  Two empty answers match (the SQuAD 2.0 rule, for unanswerable questions).
* confidence (:mod:`.confidence`): risk–coverage (accuracy of the most confident rows, AURC) and
  expected calibration error of the per-row confidences label scoring writes.
* files (:mod:`.files`): read a predictions and a gold file, join their rows (:mod:`.alignment`),
  pick each row's values (:mod:`.values`), score them; :mod:`.formatting` prints the result.

All scores are fractions in [0, 1]. A prediction that failed (``None``, or a row whose ``error``
column is set) is *missing*: it counts as wrong for labels and QA, and as "no entities" for NER,
so it lowers recall and never vanishes from the denominator.
"""

from __future__ import annotations

from fabricator.evaluation.metrics.confidence import expected_calibration_error, risk_coverage
from fabricator.evaluation.metrics.entities import ner_metrics
from fabricator.evaluation.metrics.files import TASKS, evaluate_files, infer_task, read_records
from fabricator.evaluation.metrics.formatting import format_report
from fabricator.evaluation.metrics.labels import classification_metrics
from fabricator.evaluation.metrics.qa import exact_match, normalize_answer, qa_metrics, token_f1

__all__ = [
    "TASKS",
    "classification_metrics",
    "evaluate_files",
    "exact_match",
    "expected_calibration_error",
    "format_report",
    "infer_task",
    "ner_metrics",
    "normalize_answer",
    "qa_metrics",
    "read_records",
    "risk_coverage",
    "token_f1",
]
