"""Few-shot sampling: random, uniform (one label per prompt) and stratified (k per class)."""

from .fewshot import SAMPLING_STRATEGIES, FewShotPool, FewShotSample

__all__ = ["SAMPLING_STRATEGIES", "FewShotPool", "FewShotSample"]
