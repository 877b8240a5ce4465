"""Label scoring: each label's probability for a row, calibrated, with votes (docs/annotation.md)."""

from .calibration import calibrate, label_prior
from .label_scores import LabelScores, combine, score_by_logprobs, score_by_samples
from .matcher import LabelMatcher

__all__ = [
    "LabelMatcher",
    "LabelScores",
    "calibrate",
    "combine",
    "label_prior",
    "score_by_logprobs",
    "score_by_samples",
]
