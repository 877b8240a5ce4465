"""What a judge rates rows on: ``JudgeCriterion``, and the ``judge`` option's shapes checked.

A criterion is a short rubric scored on a scale of whole numbers (default 1-5). It lives here, at
the bottom of the package, because the options model (``options.py``) holds it and may import
nothing that imports the options back (the scoring and pipeline packages do).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: the most points a scale may have (each is one answer the judge's probabilities are read over)
MAX_SCALE_POINTS = 21
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: the name a criterion given as a plain rubric gets (with ``_2``, ``_3``... in a list)
DEFAULT_NAME = "quality"


class JudgeCriterion(BaseModel):
    """One thing to rate each row on: ``rubric`` said to the judge, scored on ``scale`` (low, high).

    ``min_score``: rows whose expected score is below it are dropped (``LowJudgeScore``) and
    replaced while calls are left. ``calibrate``: divide the judge's prior over the scale (its mean
    distribution over the run's rows so far) out of each row's distribution.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = DEFAULT_NAME
    rubric: str = Field(min_length=1, max_length=2000)
    scale: tuple[int, int] = (1, 5)
    min_score: float | None = None
    calibrate: bool = False

    @model_validator(mode="after")
    def _checked(self) -> JudgeCriterion:
        if not _NAME.match(self.name):
            raise ValueError(
                f"criterion name {self.name!r} must be lower case letters, digits and _ "
                "(it names the column judge_<name>)"
            )
        low, high = self.scale
        if not 0 <= low < high or high - low + 1 > MAX_SCALE_POINTS:
            raise ValueError(
                f"scale {self.scale} must be two whole numbers 0 <= low < high, "
                f"with at most {MAX_SCALE_POINTS} points"
            )
        if self.min_score is not None and not low <= self.min_score <= high:
            raise ValueError(f"min_score {self.min_score} is outside the scale {self.scale}")
        return self

    @property
    def column(self) -> str:
        """The dataset column of this criterion's expected score."""
        return f"judge_{self.name}"

    @property
    def points(self) -> list[str]:
        """The scale's answers, as the judge writes them: ``["1", "2", ...]``."""
        return [str(s) for s in range(self.scale[0], self.scale[1] + 1)]


def criteria_of(value: Any) -> list[JudgeCriterion] | None:
    """The ``judge`` option as criteria: a rubric, a criterion (or its mapping), or a list of them.

    Rubrics given as plain strings are named ``quality``, ``quality_2``...; names must differ.
    """
    if value is None:
        return None
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    if not items:
        return None
    out = []
    for position, item in enumerate(items, start=1):
        if isinstance(item, str):
            name = DEFAULT_NAME if position == 1 else f"{DEFAULT_NAME}_{position}"
            out.append(JudgeCriterion(name=name, rubric=item))
        elif isinstance(item, JudgeCriterion):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(JudgeCriterion.model_validate(dict(item)))
        else:
            raise ValueError(f"a judge criterion is a rubric string or a mapping, not {type(item).__name__}")
    names = [c.name for c in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"judge criteria must have different names; repeated: {repeated}")
    return out


def min_scores(
    criteria: Sequence[JudgeCriterion], given: float | Mapping[str, float] | None
) -> dict[str, float | None]:
    """Each criterion's minimum: its own ``min_score``, else ``min_judge_score`` (one number for
    the criteria without their own, or ``{name: number}``). A name no criterion has, a criterion
    named with a ``min_score`` of its own, or a minimum outside the scale is a ``ValueError``."""
    by_name = given if isinstance(given, Mapping) else {}
    unknown = sorted(set(by_name) - {c.name for c in criteria})
    if unknown:
        raise ValueError(f"min_judge_score names no judge criterion: {unknown}")
    out: dict[str, float | None] = {}
    for criterion in criteria:
        other = by_name.get(criterion.name) if isinstance(given, Mapping) else given
        if criterion.name in by_name and criterion.min_score is not None:
            raise ValueError(f"criterion {criterion.name!r} has min_score and min_judge_score: give one")
        found = criterion.min_score if criterion.min_score is not None else other
        low, high = criterion.scale
        if found is not None and not low <= found <= high:
            raise ValueError(
                f"min_judge_score {found} is outside the scale {criterion.scale} of {criterion.name!r}"
            )
        out[criterion.name] = found
    return out


__all__ = ["DEFAULT_NAME", "MAX_SCALE_POINTS", "JudgeCriterion", "criteria_of", "min_scores"]
