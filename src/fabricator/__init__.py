"""Fabricator: generate and annotate labeled NLP training data with teacher LLMs."""

from .dataset_generator import DatasetGenerator, GenerationReport
from .errors import FabricatorError
from .prompts import BasePrompt

__all__ = ["DatasetGenerator", "GenerationReport", "BasePrompt", "FabricatorError"]
__version__ = "0.1.0"
