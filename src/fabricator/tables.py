"""Every table Fabricator reads or writes, and ``ClassLabel`` ids turned into names.

One reader serves ``fabricator generate`` (:func:`load_table`, a ``Dataset``) and ``fabricator
evaluate`` (:func:`read_records`, plain dicts), so a file is accepted or refused the same way by
both, with one :class:`ConfigError` that names the file, the line and the fix. Formats: JSON lines
(``.jsonl``/``.ndjson``), JSON (a list of objects, or JSON lines), CSV/TSV (cells are text; a
column whose every cell is a JSON list or object is parsed), Parquet, and ``save_to_disk`` folders.

Label ids: ``-1`` is the ``datasets`` convention for "no label" and becomes ``None``, never a name.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, load_from_disk

from .errors import ConfigError

__all__ = [
    "FORMATS",
    "decode_label",
    "decode_labels",
    "decoded_rows",
    "label_names",
    "load_table",
    "read_records",
    "write_jsonl",
    "write_records",
]

FORMATS = ".jsonl, .ndjson, .json, .csv, .tsv, .parquet or a folder written by save_to_disk"
_JSON_LINES = (".jsonl", ".ndjson")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}


@dataclass
class _Rows:
    """Rows parsed from a text file, with where each one starts ("line 3") for error messages."""

    rows: list[dict[str, Any]]
    places: list[str]


# --- reading --------------------------------------------------------------------------------------


def load_table(path: str | Path, limit: int | None = None, *, split: str | None = None) -> Dataset:
    """A ``Dataset`` from a file or a ``save_to_disk`` folder; ``limit`` keeps the first rows.

    Every column must hold one type (a string in one row and a number in another is refused,
    naming both rows), since a ``Dataset`` column has one type.
    """
    table = _read(Path(path), split, limit)
    if isinstance(table, Dataset):
        return table.select(range(min(limit, len(table)))) if limit is not None else table
    return _to_dataset(Path(path), table)


def read_records(path: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a table as plain dicts, ``ClassLabel`` ids as their names (for evaluation).

    The same files and the same errors as :func:`load_table`, except that a column may mix types
    (a model's raw answer string where other rows hold a list of tags).
    """
    table = _read(Path(path), split, None)
    return decoded_rows(table) if isinstance(table, Dataset) else table.rows


def _read(path: Path, split: str | None, limit: int | None) -> Dataset | _Rows:
    path = path.expanduser()
    if not path.exists():
        raise ConfigError(f"{path} not found: it does not exist", hint="check the path")
    if path.is_dir():
        return _saved_dataset(path, split)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet(path)
    if suffix not in (*_JSON_LINES, ".json", *_DELIMITERS):
        raise ConfigError(
            f"cannot read {path}: unknown format {suffix or '(no extension)'}", hint=f"use {FORMATS}"
        )
    text = _text(path)
    if suffix in _DELIMITERS:
        return _csv_rows(path, text, _DELIMITERS[suffix], limit)
    if suffix == ".json":
        return _json_rows(path, text, limit)
    return _jsonl_rows(path, text, limit)


def _saved_dataset(path: Path, split: str | None) -> Dataset:
    if not any((path / name).is_file() for name in ("state.json", "dataset_dict.json")):
        raise ConfigError(
            f"{path} is a folder but not a dataset saved with save_to_disk",
            hint=f"point to a data file ({FORMATS.rsplit(' or ', 1)[0]}) or a save_to_disk folder",
        )
    try:
        loaded = load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types here
        raise ConfigError(
            f"{path}: the saved dataset cannot be read ({exc})",
            hint="save it again with Dataset.save_to_disk",
        ) from exc
    if isinstance(loaded, DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in loaded:
            raise ConfigError(f"{path} holds the splits {splits}", hint="choose one with split=...")
        loaded = loaded[split]
    if not isinstance(loaded, Dataset):
        raise ConfigError(f"{path} holds a {type(loaded).__name__}, not a Dataset")
    return loaded


def _parquet(path: Path) -> Dataset:
    import pyarrow.parquet as pq

    try:  # no cache files: the table is read directly, its ClassLabels from the metadata
        return Dataset(pq.read_table(str(path)))
    except Exception as exc:  # pyarrow raises several types here
        raise ConfigError(
            f"{path} is not a readable Parquet file: {exc}",
            hint="write it with Dataset.to_parquet or pandas.DataFrame.to_parquet",
        ) from exc


def _text(path: Path) -> str:
    """The file as text; refused when it is not UTF-8 or holds nothing."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark (Excel's CSV) is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            hint=f"save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}",
        ) from exc
    if not text.strip():
        raise ConfigError(f"{path} is empty", hint="put at least one row in it")
    return text


def _jsonl_rows(path: Path, text: str, limit: int | None) -> _Rows:
    rows: list[dict[str, Any]] = []
    places: list[str] = []
    # split on "\n" only: str.splitlines would also cut at U+2028, which JSON strings may hold
    for number, line in enumerate(text.split("\n"), start=1):
        if limit is not None and len(rows) >= limit:
            break
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _json_error(path, number, exc, "write one JSON object per line") from exc
        rows.append(_row_object(path, value, number))
        places.append(f"line {number}")
    return _Rows(rows, places)


def _json_error(path: Path, line: int, exc: json.JSONDecodeError, hint: str) -> ConfigError:
    return ConfigError(f"{path}:{line}: not valid JSON ({exc.msg}, column {exc.colno})", hint=hint)


def _row_object(path: Path, value: Any, number: int) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    kind = "an array" if isinstance(value, list) else f"a {_kind(value)}"
    raise ConfigError(
        f"{path}:{number}: the line is {kind}, not a JSON object",
        hint='write one object per line, like {"text": "...", "label": "..."}',
    )


def _json_rows(path: Path, text: str, limit: int | None) -> _Rows:
    """A JSON list of objects; anything else is read as JSON lines (what ``to_json`` writes)."""
    if not text.lstrip().startswith("["):
        return _jsonl_rows(path, text, limit)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(path, exc.lineno, exc, "write a list of objects, or one object per line") from exc
    if not items:
        raise ConfigError(f"{path} has no rows (an empty list)", hint="put at least one row in it")
    items = items[:limit] if limit is not None else items
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(
                f"{path}: item {i} of the list is a {_kind(item)}, not a JSON object",
                hint='write a list of objects, like [{"text": "...", "label": "..."}]',
            )
    return _Rows(items, [f"item {i}" for i in range(len(items))])


def _csv_rows(path: Path, text: str, delimiter: str, limit: int | None) -> _Rows:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    places: list[str] = []
    while limit is None or len(rows) < limit:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ConfigError(
                f"{path}:{start}: {_csv_problem(str(exc))}",
                hint='close every quoted field, and write a quote inside a field as ""',
            ) from exc
        if not cells:
            continue  # a blank line
        if header is None:
            header = _header(path, cells)
            continue
        if len(cells) != len(header):
            raise ConfigError(
                f"{path}:{start}: {len(cells)} fields, but the header has {len(header)}",
                hint="quote fields that hold the delimiter; give every row every column",
            )
        rows.append(dict(zip(header, cells, strict=True)))
        places.append(f"line {start}")
    if not rows and limit != 0:
        raise ConfigError(f"{path} has a header but no rows", hint="put at least one row under the header")
    return _Rows(_parse_csv_cells(rows), places)


def _csv_problem(message: str) -> str:
    if "unexpected end of data" in message or "EOF" in message:
        return "a quoted field is never closed (unterminated quote)"
    return f"malformed CSV ({message})"


def _header(path: Path, cells: list[str]) -> list[str]:
    names = [c.strip() for c in cells]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise ConfigError(
            f"{path}:1: the header {names} has empty or repeated column names",
            hint="give every column its own name in the first line",
        )
    return names


def _parse_csv_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Empty cells become ``None``; a column whose every cell is a JSON list/object is parsed."""
    for column in rows[0]:
        cells = [r[column] for r in rows if r[column] != ""]
        parsed = [_json_cell(c) for c in cells]
        use_json = bool(cells) and all(p is not None for p in parsed)
        values = iter(parsed)
        for r in rows:
            r[column] = None if r[column] == "" else next(values) if use_json else r[column]
    return rows


def _json_cell(cell: str) -> Any:
    stripped = cell.strip()
    if stripped[:1] not in ("[", "{"):
        return None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _to_dataset(path: Path, table: _Rows) -> Dataset:
    """The rows as a ``Dataset`` with the union of their keys as columns, one type per column."""
    columns = list(dict.fromkeys(key for row in table.rows for key in row))
    data = {c: [row.get(c) for row in table.rows] for c in columns}
    for column, values in data.items():
        first: tuple[str, int] | None = None
        for i, value in enumerate(values):
            if value is None:
                continue
            kind = _kind(value)
            if first is None:
                first = (kind, i)
            elif kind != first[0]:
                raise ConfigError(
                    f"{path}: column {column!r} is a {first[0]} on {table.places[first[1]]} but a "
                    f"{kind} on {table.places[i]}",
                    hint=f'give {column!r} one type in every row (e.g. write numbers as strings "5")',
                )
    try:
        return Dataset.from_dict(data)
    except Exception as exc:  # pyarrow: nested values of different types, huge integers
        raise ConfigError(
            f"{path}: the rows do not share one type per column ({exc})",
            hint="give every column one type in every row, lists included",
        ) from exc


# --- label ids -> names ---------------------------------------------------------------------------


def label_names(feature: Any) -> list[str] | None:
    """The names of a ``ClassLabel`` feature, or of one inside a sequence (``ner_tags``); else None."""
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    inner = getattr(feature, "feature", None)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def decode_label(value: Any, names: Sequence[str], *, column: str = "label") -> Any:
    """One id (or a list of ids) as names: ``-1`` and ``None`` are "no label" and give ``None``.

    Values that are not ints (already names) pass through; an id outside the names is an error.
    """
    if isinstance(value, list):
        return [decode_label(v, names, column=column) for v in value]
    if value is None or value == -1:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(names):
            return names[value]
        raise ConfigError(
            f"label id {value} in column {column!r} is outside 0..{len(names) - 1}",
            hint=f"the labels are {list(names)}; -1 means no label",
        )
    return value


def decode_labels(dataset: Any, column: str) -> list[Any]:
    """The values of ``column`` with ``ClassLabel`` ids as names (``None`` for unlabeled rows)."""
    values = list(dataset[column])
    names = label_names(dataset.features[column])
    return values if names is None else [decode_label(v, names, column=column) for v in values]


def decoded_rows(dataset: Any) -> list[dict[str, Any]]:
    """The rows as plain dicts, every ``ClassLabel`` column (plain or in a sequence) as names."""
    return list(_decoded(dataset))


def _decoded(dataset: Any) -> Iterable[dict[str, Any]]:
    decoders = {c: n for c, f in dataset.features.items() if (n := label_names(f)) is not None}
    for row in dataset:
        for column, names in decoders.items():
            row[column] = decode_label(row.get(column), names, column=column)
        yield row


# --- writing --------------------------------------------------------------------------------------


def write_records(records: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Plain dicts as JSON lines (provenance, failures)."""
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_jsonl(dataset: Dataset, path: str | Path) -> None:
    """JSONL with class labels written as their names (``null`` for no label), readable by people
    and by :func:`load_table`."""
    write_records(_decoded(dataset), path)
