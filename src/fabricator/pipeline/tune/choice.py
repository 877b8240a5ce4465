"""What tuning chose, and the table it chose from (for the run's summary, the card and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .candidates import Candidate
from .scorer import margin

if TYPE_CHECKING:
    from .pool_mix import PoolMix

#: held-out rows that fit a temperature close to the one the run's own gold labels would give (SST-2:
#: 104 rows fitted 0.45 against 0.42; 34 rows fitted 0.72, which the cross-fit rejected)
TEMPERATURE_ROWS = 100
#: an ECE at or below this needs no temperature
CALIBRATED_ECE = 0.05


def confidence_note(rows: int, temperature: float, ece: float, ece_before: float) -> str:
    """How far the run's confidences can be trusted, and how to do better where a temperature
    was wanted (the held-out ECE is high) but the held-out rows did not support one. Three
    decimals: an ECE of 0.052 must not read as the 0.05 it misses."""
    if temperature != 1.0:
        return f"ECE {ece:.3f} after temperature {temperature:.2f} (before: {ece_before:.3f})"
    if ece_before <= CALIBRATED_ECE:
        return f"ECE {ece:.3f}, no temperature needed"
    more = (
        f"; about {TEMPERATURE_ROWS} fit one: raise tune_budget to hold out more"
        if rows < TEMPERATURE_ROWS
        else ""
    )
    why = f"{rows} held-out rows did not support a temperature"
    return f"ECE {ece:.3f}, confidences not rescaled: {why}{more}"


class Tuned(Protocol):
    """What a run keeps of tuning's choice: the temperature of its confidences, and the summary
    for the report and the card (``Choice``; NER's ``SpanChoice``)."""

    @property
    def temperature(self) -> float: ...

    @property
    def pool(self) -> PoolMix | None: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Outcome:
    """One row of the candidates table: a candidate read with one calibration."""

    name: str
    calibration: str
    accuracy: float | None  # None: the candidate could not run (``error``)
    prompts_per_row: int
    error: str | None = None
    rows: int = 0  # held-out rows it was scored on (fewer for one dropped at an early stage)

    @property
    def label(self) -> str:
        return f"{self.name}-calibrated" if self.calibration == "batch" else self.name


@dataclass(frozen=True)
class Choice:
    """The chosen candidate and calibration, its held-out accuracy, and the fitted temperature."""

    candidate: Candidate
    calibration: str
    table: tuple[Outcome, ...]
    accuracy: float
    rows: int  # held-out pool rows each candidate was scored on
    temperature: float  # applied to the run's confidences
    ece: float  # on the held-out rows, each fold's temperature fitted on the other folds
    ece_before: float  # the same rows without the temperature
    calls: int  # model calls tuning made (journaled answers are free)
    pool: PoolMix | None = None  # the pool classifier's mix (weight 0: the teacher alone)
    pool_error: str | None = None  # why no pool classifier could be fitted (its extra missing)

    @property
    def name(self) -> str:
        return f"{self.candidate.name}-calibrated" if self.calibration == "batch" else self.candidate.name

    @property
    def margin(self) -> float:
        return margin(self.accuracy, self.rows)

    def sentence(self) -> str:
        """``tuning chose shared-calibrated: 0.91 ± 0.03 on 120 pool rows (ECE 0.031 after ...)``."""
        note = confidence_note(self.rows, self.temperature, self.ece, self.ece_before)
        pool = f" {self.pool.phrase()}" if self.pool is not None else ""
        return (
            f"tuning chose {self.name}{pool}: {self.accuracy:.2f} ± {self.margin:.2f} on {self.rows} pool "
            f"rows ({note}; {self.calls} tuning calls)"
        )

    def options(self) -> dict[str, Any]:
        """The flat options the run takes from the choice (votes, few-shot counts, calibration)."""
        return {**self.candidate.options, "calibration": self.calibration}

    def summary(self) -> dict[str, Any]:
        """The choice for the run's summary and card (JSON-ready)."""
        return {
            "chosen": self.name,
            "accuracy": round(self.accuracy, 4),
            "margin": round(self.margin, 4),
            "rows": self.rows,
            "temperature": round(self.temperature, 4),
            "ece": round(self.ece, 4),
            "ece_before": round(self.ece_before, 4),
            "calls": self.calls,
            **({"pool_classifier": self.pool.summary()} if self.pool is not None else {}),
            **({"pool_classifier_error": self.pool_error} if self.pool_error else {}),
            "candidates": [
                {
                    "setting": o.label,
                    "accuracy": None if o.accuracy is None else round(o.accuracy, 4),
                    "prompts_per_row": o.prompts_per_row,
                    "rows": o.rows,
                    **({"error": o.error} if o.error else {}),
                }
                for o in self.table
            ],
        }


__all__ = ["CALIBRATED_ECE", "TEMPERATURE_ROWS", "Choice", "Outcome", "Tuned", "confidence_note"]
