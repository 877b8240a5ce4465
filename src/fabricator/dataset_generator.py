"""Kept for imports written before the split: the generator is ``fabricator.generator`` now.

Planning is ``fabricator.planning``, the report and the dataset ``fabricator.report``, the options
``fabricator.options``.
"""

from .generator import DatasetGenerator
from .options import SYSTEM_PROMPT
from .report import GenerationReport

__all__ = ["SYSTEM_PROMPT", "DatasetGenerator", "GenerationReport"]
