"""A run folder gathered into one JSON-ready dict: everything the report page shows.

Reads only what a run writes (``metadata.json``, ``data.jsonl``, ``provenance.jsonl``,
``failures.jsonl``, ``log.jsonl``, ``recipe.yaml``) and calls no model, so a page can be made of
any run, old or new, finished or interrupted; the figures come from :mod:`.figures`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError
from ...evaluation.diversity import diversity
from ..card import first_logged_call
from .figures import histogram, judge_figures, judge_scores, label_figures, number, risk_coverage_figures

__all__ = ["MAX_ROWS", "collect_run", "read_jsonl"]

#: rows (and failures) embedded in the page at most; the page says how many more the files hold
MAX_ROWS = 20_000
_NOT_A_RUN = "name the output folder of a `fabricator generate` run (its -o PATH or the recipe's 'output')"
_SUMMARY_KEYS = (
    "mode",
    "requested",
    "rows",
    "failures",
    "calls",
    "call_cap",
    "requests",
    "cached",
    "retries",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "elapsed_s",
    "interrupted",
    "stopped",
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (none when it is missing or empty); a bad line is an error
    that names the file and the line."""
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as file:
        for number_, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ConfigError(
                    f"{path}, line {number_}: not JSON ({exc})", hint="a run writes one JSON object a line"
                ) from None
            rows.append(value if isinstance(value, dict) else {"value": value})
    return rows


def _metadata(run_dir: Path) -> dict[str, Any]:
    """``metadata.json``: what makes a folder a run's; a clear error for any other folder."""
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a folder", hint=_NOT_A_RUN)
    path = run_dir / "metadata.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{run_dir} is not a run folder: it has no metadata.json", hint=_NOT_A_RUN
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}", hint=_NOT_A_RUN) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("summary"), dict):
        raise ConfigError(f"{path} is not a run's metadata (no summary)", hint=_NOT_A_RUN)
    return meta


def _recipe(run_dir: Path) -> dict[str, Any]:
    try:
        recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _label_column(columns: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The dataset's label: its ``ClassLabel`` column, else a ``label`` column."""
    found = next((c for c, kind in columns.items() if str(kind).startswith("ClassLabel")), None)
    if found is None and any("label" in r for r in rows):
        found = "label"
    return found


def _label_names(columns: Mapping[str, str], column: str | None, recipe: Mapping[str, Any]) -> list[str]:
    options = (recipe.get("prompt") or {}).get("label_options")
    if isinstance(options, list) and options:
        return [str(o) for o in options]
    kind = str(columns.get(column or "", ""))
    if "names=" in kind:  # ClassLabel(names=['a', 'b'])
        try:
            return [str(n) for n in yaml.safe_load(kind[kind.index("[") : kind.rindex("]") + 1])]
        except (ValueError, yaml.YAMLError):
            return []
    return []


def _confidence(data: Mapping[str, Any], provenance: Mapping[str, Any]) -> float | None:
    """The row's label confidence: label scoring's column, else the verifier's."""
    found = number(data.get("confidence"))
    verified = provenance.get("verified")
    if found is None and isinstance(verified, Mapping):
        found = number(verified.get("confidence"))
    return found


def _page_row(
    index: int, data: dict[str, Any], provenance: Mapping[str, Any], label: str | None, judged: Mapping
) -> dict[str, Any]:
    """One row as the page's table and filters read it: its data, label, confidence, votes, scores."""
    return {
        "i": index,
        "data": data,
        "label": None if label is None or data.get(label) is None else str(data.get(label)),
        "confidence": _confidence(data, provenance),
        "flagged": bool(provenance.get("flagged")),
        "agreement": number(provenance.get("agreement")),
        "judge": {criterion: verdict["score"] for criterion, verdict in judged.items()},
    }


def _first_call(run_dir: Path) -> dict[str, Any] | None:
    call = first_logged_call(run_dir / "log.jsonl")
    if call is None:
        return None
    shown = [m for m in call.get("messages") or [] if isinstance(m, dict)]
    return {
        "row": call.get("row"),
        "messages": [{"role": str(m.get("role", "?")), "content": str(m.get("content", ""))} for m in shown],
        "response": str(call.get("response", "")),
    }


def _diversity(meta: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], text: str | None) -> Any:
    """The run's diversity figures (``metadata.json``), else computed from the generated text
    (none for annotation: its text was given, not made)."""
    if meta.get("diversity"):
        return meta["diversity"]
    if text is None or not rows or meta["summary"].get("mode") == "annotation":
        return None
    return diversity([str(r.get(text, "")) for r in rows], embeddings=False)


def _text_column(columns: Mapping[str, str], recipe: Mapping[str, Any]) -> str | None:
    target = (recipe.get("prompt") or {}).get("generate_data_for_column")
    if isinstance(target, str) and "string" in str(columns.get(target, "")):
        return target
    return "text" if "text" in columns else None


def collect_run(run_dir: str | Path, *, gold: str | Path | None = None, max_rows: int = MAX_ROWS) -> dict:
    """The page data of ``run_dir``: summary, figures, the first call, rows and failures.

    ``gold``: a file of gold labels (as ``fabricator evaluate annotations --gold`` reads) for the
    risk–coverage curve. Raises :class:`ConfigError` for a folder that is not a run's.
    """
    folder = Path(run_dir)
    meta = _metadata(folder)
    recipe = _recipe(folder)
    data = read_jsonl(folder / "data.jsonl")
    provenance = read_jsonl(folder / "provenance.jsonl")
    failures = read_jsonl(folder / "failures.jsonl")
    columns = meta.get("columns") if isinstance(meta.get("columns"), dict) else {}
    columns = columns or {c: "" for row in data for c in row}
    label = _label_column(columns, data)
    summary = meta["summary"]
    provenance += [{}] * (len(data) - len(provenance))  # a file cut short: the rows keep their data
    judged = [judge_scores(r, p) for r, p in zip(data, provenance, strict=False)]
    rows = [_page_row(i, r, provenance[i], label, judged[i]) for i, r in enumerate(data)]
    conditioned = summary.get("mode") == "label-conditioned"
    requested = int(summary.get("requested") or 0) if conditioned else None
    confidences = [r["confidence"] for r in rows if r["confidence"] is not None]
    return {
        "title": folder.resolve().name or str(folder),
        "model": str(meta.get("model", "")),
        "started": str(meta.get("started", "")),
        "summary": {k: summary.get(k) for k in _SUMMARY_KEYS if k in summary},
        "failures_by_kind": dict(Counter(str(f.get("kind", "?")) for f in failures).most_common()),
        "columns": list(columns),
        "label_column": label,
        "labels": None
        if label is None
        else label_figures([r["label"] for r in rows], _label_names(columns, label, recipe), requested),
        "confidence": {"n": len(confidences), "histogram": histogram(confidences, 0.0, 1.0)}
        if confidences
        else None,
        "judge": judge_figures(judged, _judge_counts(meta)),
        "risk_coverage": risk_coverage_figures(folder / "data.jsonl", Path(gold) if gold else None),
        "diversity": _diversity(meta, data, _text_column(columns, recipe)),
        "votes": any("agreement" in p for p in provenance),
        "first_call": _first_call(folder),
        "rows_total": len(rows),
        "rows": rows[:max_rows],
        "failures_total": len(failures),
        "failures": [_page_failure(f) for f in failures[:max_rows]],
    }


def _judge_counts(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each judge criterion's counts: the run's summary has them (``summary.judge``), or the top level."""
    found = meta.get("judge", meta["summary"].get("judge"))
    return found if isinstance(found, dict) else None


def _page_failure(failure: Mapping[str, Any]) -> dict[str, Any]:
    return {k: failure.get(k) for k in ("index", "source", "kind", "error", "raw")}
