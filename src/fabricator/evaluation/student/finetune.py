"""``method="finetune"``: fine-tune a transformer with a fresh classification head.

A plain PyTorch loop (AdamW, seeded batches); by default on the bundled MiniLM encoder. Meant for
GPU users: it is slow on a CPU.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fabricator.errors import ConfigError

from .embeddings import EXTRA_HINT, default_model_path, quiet_transformers

if TYPE_CHECKING:
    from .options import Settings

__all__ = ["fit_finetune"]


def fit_finetune(
    train_texts: list[str],
    train_labels: list[str],
    test_texts: list[str],
    classes: list[str],
    *,
    seed: int,
    settings: Settings,
) -> tuple[list[str], dict[str, float], str]:
    """Predicted test labels, timings (seconds) and a description of the fine-tuned student."""
    try:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:
        raise ConfigError(
            "method='finetune' needs torch and transformers, which are not installed",
            hint=EXTRA_HINT,
        ) from exc
    batch_size, max_length = settings.batch_size, settings.max_length
    path = settings.model or default_model_path()
    local = Path(path).is_dir()
    device = settings.device
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.perf_counter()
    torch.manual_seed(seed)
    random.seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    label_ids = {name: i for i, name in enumerate(classes)}
    with quiet_transformers():  # the new classification head is expected, not news
        net = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(classes),
            id2label=dict(enumerate(classes)),
            label2id=label_ids,
            local_files_only=local,
        ).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.learning_rate)
    targets = torch.tensor([label_ids[label] for label in train_labels])
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(train_texts), generator=generator).tolist()
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = tokenizer(
                [train_texts[j] for j in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            loss = net(**batch, labels=targets[idx].to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    fitted = time.perf_counter()
    net.eval()
    predicted: list[int] = []
    with torch.no_grad():
        for i in range(0, len(test_texts), batch_size * 2):
            batch = tokenizer(
                test_texts[i : i + batch_size * 2],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            predicted += net(**batch).logits.argmax(-1).tolist()
    done = time.perf_counter()
    timings = {"fit_s": fitted - start, "predict_s": done - fitted}
    return (
        [classes[p] for p in predicted],
        timings,
        f"fine-tuned {path} ({settings.epochs} epochs, lr {settings.learning_rate}, {device})",
    )
