"""Picking a run's executor by name: ``"local"`` (this process) or ``"ray"`` (a Ray cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import ConfigError
from ..llms.base import LLM
from ..llms.ray_support import require_ray
from ..progress import ProgressReporter
from .calls import CallBudget, CallLogger
from .engine import Engine
from .executor import LocalExecutor
from .journal import Journal
from .ray_executor import RayExecutor, RaySettings

if TYPE_CHECKING:
    from typing_extensions import Unpack

KINDS = ("local", "ray")


class RayOptions(TypedDict, total=False):
    """``RaySettings``'s fields as keywords of ``build_executor`` (Ray only)."""

    ray_actors: int | None
    ray_address: str | None
    requests_per_minute: float | None
    tokens_per_minute: float | None
    log_calls: bool | None


def check_executor(kind: str, ray_actors: int | None, ray_address: str | None) -> str:
    """``"local"`` or ``"ray"``, checked before any work is done (Ray installed, options apply)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown engine {kind!r}", hint="use engine='local' (default) or 'ray'")
    if kind == "local":
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
) -> LocalExecutor | RayExecutor:
    """The executor of ``kind`` (see ``check_executor``) for one run.

    ``budget`` is the run's ``CallBudget`` (``max_prompt_calls``; ``None``: counted, not capped).
    ``log_calls`` (Ray) says whether actors send every prompt and answer back for ``logger``
    (default: yes when a logger is given); a run without a call log passes ``False``.
    """
    kind = check_executor(kind, ray.get("ray_actors"), ray.get("ray_address"))
    if kind == "local":
        return LocalExecutor(maker, engine, logger, budget)
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
