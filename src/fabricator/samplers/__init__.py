"""Few-shot sampling: random, uniform (one label per prompt) and stratified (k per class)."""

from .fewshot import FewShotPool, FewShotSample, SAMPLING_STRATEGIES

__all__ = ["FewShotPool", "FewShotSample", "SAMPLING_STRATEGIES"]
