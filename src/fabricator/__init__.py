"""Fabricator: generate and annotate labeled NLP training data with teacher LLMs."""

from .dataset_generator import DatasetGenerator, GenerationReport
from .errors import FabricatorError
from .prompts import BasePrompt

__all__ = ["DatasetGenerator", "GenerationReport", "BasePrompt", "FabricatorError"]


def _installed_version() -> str:
    """The version pip installed (pyproject.toml is its only source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fabricator-data")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()
