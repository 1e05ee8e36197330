"""Per-item evaluation records on disk: one JSON line per answered query, a header naming the model and the
generation settings, and the per-rank files of a data-parallel evaluation merged into one.

See :mod:`rrs.evaluation.metrics` for how records are written and resumed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from rrs.store import atomic_write

__all__ = ["ItemRecord", "Label", "merge_records", "read_all_records", "read_records", "shard_path"]

Label = Literal["harmful", "benign"]


@dataclass
class ItemRecord:
    """One query's responses and the judge's verdicts (``True`` = refusal)."""

    key: str
    label: Label
    index: int
    prompt: str
    category: str
    responses: list[str]
    refusals: list[bool]
    judge: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def read_records(path: Path, header: dict[str, Any]) -> tuple[dict[str, ItemRecord], bool]:
    """Records already in ``path`` (later lines win) and whether it has a header; half-written lines are skipped."""
    done: dict[str, ItemRecord] = {}
    if not path.exists():
        return done, False
    seen_header = False
    for line in path.read_text().splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        if data.get("type") == "header":
            if {k: data.get(k) for k in ("model", "generation")} != {k: header[k] for k in ("model", "generation")}:
                raise ValueError(
                    f"the records in {path} were made with another model or generation config "
                    f"({data.get('model')}, {data.get('generation')}); use another records_path or remove it"
                )
            seen_header = True
        elif data.get("type") == "item" and seen_header:
            record = ItemRecord.from_dict(data)
            done[record.key] = record
    return done, seen_header


def shard_path(path: Path, rank: int) -> Path:
    return path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


def read_all_records(path: Path, header: dict[str, Any]) -> dict[str, ItemRecord]:
    """Records of ``path`` and of every rank's shard beside it (a data-parallel run stopped before merging)."""
    done: dict[str, ItemRecord] = {}
    for file in [path, *sorted(path.parent.glob(f"{path.stem}.rank*{path.suffix}"))]:
        done.update(read_records(file, header)[0])
    return done


def merge_records(path: Path, header: dict[str, Any], order: Sequence[str]) -> None:
    """Rewrite ``path`` (atomically) as the header and every recorded item in ``order``; drop the shards."""
    done = read_all_records(path, header)
    lines = [header, *({"type": "item", **done[k].to_dict()} for k in order if k in done)]
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    for shard in path.parent.glob(f"{path.stem}.rank*{path.suffix}"):
        shard.unlink()
