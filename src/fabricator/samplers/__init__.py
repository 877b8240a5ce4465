"""Few-shot sampling: random, uniform (one label per prompt), stratified (k per class) and similar
(the examples nearest to the row being annotated)."""

from .fewshot import SAMPLING_STRATEGIES, STRATEGY_HINT, FewShotPool, FewShotSample
from .similar import Embedder, Similar, SimilarIndex, embedder_of, minilm_embedder

__all__ = [
    "SAMPLING_STRATEGIES",
    "STRATEGY_HINT",
    "Embedder",
    "FewShotPool",
    "FewShotSample",
    "Similar",
    "SimilarIndex",
    "embedder_of",
    "minilm_embedder",
]
