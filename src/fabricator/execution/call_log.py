"""The call log (``log_path``): every prompt and answer of a run as JSONL, and a sample in the logger."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..llms.base import Request
from .work import WorkItem

log = logging.getLogger("fabricator")


class CallLog:
    """JSONL log of every prompt and response (``log_path``), plus a sample in the logger.

    One line a call: a row's (``row`` its index) or an attribute proposal's (``row`` null,
    ``proposal`` the attribute's name)."""

    def __init__(self, path: str | Path | None, every: int) -> None:
        self.every = every
        self.count = 0
        self.file = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run, see close()

    def write(self, item: WorkItem, request: Request, response: str) -> None:
        self.count += 1
        if self.every and self.count % self.every == 0:
            log.info(
                "call %d, row %d\nprompt: %s\nresponse: %s",
                self.count,
                item.index,
                item.prompt_text,
                response,
            )
        self._append(
            {
                "row": item.index,
                "source": item.source,
                "label": item.label,
                "fewshot_ids": list(item.fewshot_ids),
                "seed": request.seed,
                "messages": list(request.messages),
                "response": response,
            }
        )

    def write_proposal(self, attribute: str, label: str | None, request: Request, response: str) -> None:
        """A call that proposed the values of ``attribute``: no row's, so ``row`` is null."""
        self._append(
            {
                "row": None,
                "proposal": attribute,
                "label": label,
                "seed": request.seed,
                "messages": list(request.messages),
                "response": response,
            }
        )

    def _append(self, entry: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


__all__ = ["CallLog"]
