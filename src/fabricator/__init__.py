"""Fabricator: generate and annotate labeled NLP training data with teacher LLMs."""

from .errors import ConfigError, FabricatorError
from .formats import OutputFormat
from .generator import DatasetGenerator
from .judge_criteria import JudgeCriterion
from .options import SYSTEM_PROMPT, GenerationOptions
from .pipeline.plan import plan_prompts
from .prompts import BasePrompt
from .report import GenerationReport

__all__ = [
    "SYSTEM_PROMPT",
    "BasePrompt",
    "ConfigError",
    "DatasetGenerator",
    "FabricatorError",
    "GenerationOptions",
    "GenerationReport",
    "JudgeCriterion",
    "OutputFormat",
    "plan_prompts",
]


def _installed_version() -> str:
    """The version pip installed (pyproject.toml is its only source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fabricator-data")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()
