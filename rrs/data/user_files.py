"""Users' own question files: CSV or JSONL, read into items or pairs (errors name the row and the column),
uploads read through a temporary copy, and items written back as JSONL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rrs.data.types import DEFAULT_CATEGORY, LABELS, DataError, Item, Label, Pair
from rrs.store import atomic_write

__all__ = ["load_items", "load_pairs_file", "load_pairs_upload", "write_items"]

_CSV = (".csv",)
_JSONL = (".jsonl", ".ndjson")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, row) for each record of a CSV (header + rows) or JSONL file; keys lower-cased.

    Row numbers are line numbers in the file, as a spreadsheet shows them (a CSV header is row 1).
    Blank lines are skipped.
    """
    suffix = path.suffix.lower()
    if suffix not in _CSV + _JSONL:
        raise DataError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; use .csv or .jsonl")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path.name}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if suffix in _CSV:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote is an error, not mangled
        header: list[str] | None = None
        try:
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if header is None:
                    header = [cell.strip().lower() for cell in cells]
                    continue
                if len(cells) > len(header):
                    raise DataError(
                        f"{path.name}: row {reader.line_num} has {len(cells)} cells but the header has "
                        f"{len(header)} columns"
                    )
                cells += [""] * (len(header) - len(cells))
                yield reader.line_num, dict(zip(header, cells, strict=True))
        except csv.Error as err:
            raise DataError(f"{path.name}: row {reader.line_num}: malformed CSV ({err}); quote a cell that holds "
                            'commas or quotes, and double the quotes inside it ("say ""hi""")') from None
        if header is None:
            raise DataError(f"{path.name}: the file is empty; it needs a header row")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name}: invalid JSON at line {number} (row {number}): {err.msg}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path.name}: row {number} (line {number}) is not a JSON object")
        yield number, {str(k).strip().lower(): ("" if v is None else str(v)) for k, v in record.items()}


def _fail(path: Path, number: int, column: str, problem: str) -> DataError:
    return DataError(f"{path.name}: row {number}, column '{column}': {problem}")


def _text(path: Path, number: int, row: dict[str, str], column: str) -> str:
    if column not in row:
        raise _fail(path, number, column, f"missing required column '{column}'")
    value = row[column].strip()
    if not value:
        raise _fail(path, number, column, f"empty {column}")
    return value


def _audio(path: Path, number: int, row: dict[str, str], column: str) -> str | None:
    value = row.get(column, "").strip()
    if not value:
        return None
    audio = Path(value).expanduser()
    if not audio.is_absolute():
        audio = path.parent.absolute() / audio
    audio = Path(os.path.normpath(audio))
    if not audio.is_file():
        raise _fail(path, number, column, f"audio file missing: {audio}")
    return str(audio)


def _label(path: Path, number: int, row: dict[str, str], default: Label | None) -> Label:
    value = row.get("label", "").strip().lower()
    if not value:
        if default is None:
            raise _fail(path, number, "label", "no label given and no default_label set")
        return default
    if value not in LABELS:
        raise _fail(path, number, "label", f"bad label {row['label']!r}; use 'harmful' or 'benign'")
    return value  # type: ignore[return-value]


def _check_header(path: Path, rows: list[tuple[int, dict[str, str]]], required: Sequence[str]) -> None:
    """A CSV header must name every required column; JSONL rows are checked one by one."""
    if not rows:
        raise DataError(f"{path.name}: the file has no rows")
    if path.suffix.lower() in _CSV:
        missing = [c for c in required if c not in rows[0][1]]
        if missing:
            header = list(rows[0][1])
            hint = ""
            if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
                hint = "; the header is one cell: separate the columns with commas, not ';', tabs or '|'"
            raise DataError(f"{path.name}: row 1 (header): missing required column '{missing[0]}'{hint}")


def load_items(path: str | os.PathLike, default_label: Label | None = None) -> list[Item]:
    """Read a CSV or JSONL file of questions.

    Columns: ``prompt`` (required); ``audio`` (an audio file; relative paths are resolved against the
    file's folder, and the file must exist); ``category`` (default ``"uncategorised"``); ``label``
    (``harmful``/``benign``, else ``default_label``); ``source`` (default ``user:<file name>``). Other
    columns are ignored. Raises :class:`DataError` naming the row (the line number in the file, a CSV
    header being row 1) and the column of the first problem.
    """
    path = Path(path)
    if default_label is not None and default_label not in LABELS:
        raise ValueError(f"default_label must be 'harmful', 'benign' or None, got {default_label!r}")
    rows = list(_rows(path))
    _check_header(path, rows, ["prompt"])
    items = []
    for number, row in rows:
        items.append(
            Item(
                prompt=_text(path, number, row, "prompt"),
                label=_label(path, number, row, default_label),
                category=row.get("category", "").strip() or DEFAULT_CATEGORY,
                audio_path=_audio(path, number, row, "audio"),
                source=row.get("source", "").strip() or f"user:{path.name}",
            )
        )
    return items


def load_pairs_file(path: str | os.PathLike) -> list[Pair]:
    """Read a CSV or JSONL file of pairs: columns ``harmful`` and ``benign`` (required), ``category``,
    ``harmful_audio`` and ``benign_audio`` (optional, resolved like :func:`load_items`' ``audio``)."""
    path = Path(path)
    rows = list(_rows(path))
    _check_header(path, rows, ["harmful", "benign"])
    source = f"user:{path.name}"
    pairs = []
    for number, row in rows:
        category = row.get("category", "").strip() or DEFAULT_CATEGORY
        harmful, benign = (
            Item(_text(path, number, row, label), label, category, _audio(path, number, row, f"{label}_audio"), source)
            for label in ("harmful", "benign")
        )
        pairs.append(Pair(harmful, benign, category))
    return pairs


def write_items(path: str | os.PathLike, items: Iterable[Item]) -> Path:
    """Write items as JSONL that :func:`load_items` reads back to equal items (atomically).

    Audio paths inside the output file's folder are written relative to it, others absolute.
    """
    path = Path(path)
    folder = path.parent.absolute()
    lines = []
    for item in items:
        audio = item.audio_path
        if audio is not None:
            absolute = Path(os.path.normpath(Path(audio).absolute()))
            audio = (
                absolute.relative_to(folder).as_posix() if absolute.is_relative_to(folder) else str(absolute)
            )
        record: dict[str, Any] = {
            "prompt": item.prompt,
            "label": item.label,
            "category": item.category,
            "audio": audio,
            "source": item.source,
            "uid": item.uid,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    text = "".join(line + "\n" for line in lines)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))



def load_pairs_upload(name: str, content: bytes) -> list[Pair]:
    """Pairs from an uploaded CSV/JSONL file: written to a temporary copy, read by
    :func:`rrs.data.load_pairs_file` (which raises :class:`~rrs.data.DataError` naming row and column).

    Relative audio paths in the file can't be resolved (the upload has no folder), so they are reported
    as missing; absolute paths to existing files work.
    """
    filename = Path(str(name)).name or "upload"
    if not re.fullmatch(r"[\w .()+-]{1,200}", filename):
        suffix = Path(filename).suffix.lower()
        filename = "upload" + (suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else "")
    if not content:
        raise DataError(f"{filename}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="rrs-pairs-") as folder:
        path = Path(folder) / filename
        path.write_bytes(bytes(content))
        return load_pairs_file(path)
