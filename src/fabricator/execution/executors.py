"""Picking a run's executor by name: ``"local"`` (this process), ``"ray"`` (a Ray cluster) or
``"batch"`` (the provider's batch API, ``batch_executor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import ConfigError
from ..llms.base import LLM
from ..llms.ray_support import require_ray
from ..progress import ProgressReporter
from .batch_executor import BatchExecutor
from .batch_queue import BatchSettings
from .calls import CallBudget, CallLogger
from .engine import Engine
from .executor import LocalExecutor
from .journal import Journal
from .ray_executor import RayExecutor, RaySettings

if TYPE_CHECKING:
    from typing_extensions import Unpack

KINDS = ("local", "ray", "batch")


class RayOptions(TypedDict, total=False):
    """``RaySettings``'s fields as keywords of ``build_executor`` (Ray only)."""

    ray_actors: int | None
    ray_address: str | None
    requests_per_minute: float | None
    tokens_per_minute: float | None
    log_calls: bool | None
    batch: BatchSettings | None  # engine="batch" only


def check_executor(kind: str, ray_actors: int | None, ray_address: str | None) -> str:
    """``"local"`` or ``"ray"``, checked before any work is done (Ray installed, options apply)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown engine {kind!r}", hint="use engine='local' (default), 'ray' or 'batch'")
    if kind in ("local", "batch"):
        if ray_actors is not None or ray_address is not None:
            raise ConfigError(
                "ray_actors and ray_address only apply to engine='ray'",
                hint="pass engine='ray', or leave ray_actors and ray_address unset",
            )
        return kind
    if ray_actors is not None and ray_actors < 1:
        raise ConfigError(
            f"ray_actors must be at least 1, not {ray_actors!r}",
            hint="pass ray_actors=None (one actor per node) or a count >= 1",
        )
    require_ray()
    return kind


def build_executor(
    kind: str,
    *,
    llm: LLM,
    maker: Any,
    engine: Engine,
    logger: CallLogger,
    progress: ProgressReporter,
    journal: Journal | None,
    budget: CallBudget | None = None,
    **ray: Unpack[RayOptions],
) -> LocalExecutor | RayExecutor | BatchExecutor:
    """The executor of ``kind`` (see ``check_executor``) for one run.

    ``budget`` is the run's ``CallBudget`` (``max_prompt_calls``; ``None``: counted, not capped).
    ``log_calls`` (Ray) says whether actors send every prompt and answer back for ``logger``
    (default: yes when a logger is given); a run without a call log passes ``False``.
    """
    kind = check_executor(kind, ray.get("ray_actors"), ray.get("ray_address"))
    if kind == "local":
        return LocalExecutor(maker, engine, logger, budget)
    if kind == "batch":
        return BatchExecutor(maker, engine, logger, budget, ray.get("batch"), journal)
    settings = RaySettings(
        actors=ray.get("ray_actors"),
        address=ray.get("ray_address"),
        requests_per_minute=ray.get("requests_per_minute"),
        tokens_per_minute=ray.get("tokens_per_minute"),
        log_calls=ray.get("log_calls"),
    )
    return RayExecutor(
        llm, maker, engine, settings, journal=journal, logger=logger, progress=progress, budget=budget
    )


__all__ = ["KINDS", "RayOptions", "build_executor", "check_executor"]
