"""The former home of the annotation metrics, kept so that existing imports keep working.

The code lives in :mod:`fabricator.evaluation.metrics`, one module per job (labels, entities, QA,
file evaluation, its report); this module re-exports the same public names.
"""

from __future__ import annotations

from fabricator.evaluation import metrics as _metrics
from fabricator.evaluation.metrics import *  # noqa: F403  (the public names, listed in __all__)

__all__ = list(_metrics.__all__)
