"""Prompt templates: the paper's text layout, and its rendering as chat messages."""

from .base import BasePrompt

__all__ = ["BasePrompt"]
