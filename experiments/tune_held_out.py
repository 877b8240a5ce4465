"""Every candidate's held-out pool answers, for studying how tuning should choose (issue 28).

The default path's tuning, except that every candidate is scored on every stage's rows (no
halving), at a larger budget; the raw label scores of each held-out row and its gold label are
written to ``results/tune_held_out_<dataset>_<budget>.json``, and the run itself is not made. The
tuning calls go through the dataset's journal (``runs/tune/<dataset>``), so the answers the
default runs already paid for cost nothing.

    python experiments/tune_held_out.py trec --budget 0.3
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import tune_annotation
from common import RESULTS

from fabricator.pipeline.tune import run as tune_run


class _Collected(Exception):
    """Raised once the held-out answers are written: the run itself is not wanted."""


def collect(dataset: str, budget: float, n: int) -> dict[str, Any]:
    out = RESULTS / f"tune_held_out_{dataset}_{budget}.json"

    def every(scored: Any, alive: list[Any], keep: int) -> list[Any]:
        return alive

    def dump(scored: Any, finalists: Any) -> Any:
        data = {"dataset": dataset, "budget": budget, "gold": scored.gold, "raw": scored.raw,
                "calls": scored.calls, "base": list(scored.plan.base),
                # each fold's held-out pool rows, in the order of ``gold`` (the rest is the pool)
                "folds": [list(f.held) for f in scored.plan.folds]}  # fmt: skip
        out.write_text(json.dumps(data))
        raise _Collected

    saved = tune_run.advancing, tune_run._pick
    tune_run.advancing, tune_run._pick = every, dump  # type: ignore[assignment]
    try:
        tune_annotation.run(dataset, f"budget-{budget}", n, 4)
    except _Collected:
        pass
    finally:
        tune_run.advancing, tune_run._pick = saved
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", choices=sorted(tune_annotation.TASKS))
    parser.add_argument("--budget", type=float, default=0.3)
    parser.add_argument("--n", type=int, default=None)
    args = parser.parse_args()
    n = args.n or tune_annotation.DEFAULT_N.get(args.dataset, 300)
    data = collect(args.dataset, args.budget, n)
    rows = {k: len(v) for k, v in data["raw"].items()}
    print(args.dataset, rows, "calls", data["calls"], "base", data["base"])


if __name__ == "__main__":
    main()
