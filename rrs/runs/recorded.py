"""Recorded results: finished runs committed with the project (``examples/``, ``docs/results/``), shown beside
the user's own runs so that a first-time user sees a method work before training anything.

A bundle of recorded results is a folder with a ``recorded.json``::

    {"title": "RRS demo on the embedded model",
     "recorded": "2026-12-02 · 2-core x86 CPU, bf16 autocast",
     "entries": [
        {"path": ".", "kind": "train", "title": "rrs-demo", "command": "python -m rrs train --demo --out runs/rrs-demo"},
        {"path": "evals/rrs-audio-text", "kind": "eval", "title": "RRS · audio-text", "command": "python -m rrs eval ..."}
     ]}

``kind`` is a job kind of :data:`rrs.runs.job.KIND_DIRS` (``train``, ``eval``, ``compare``, ``steer``); ``path`` is
relative to the bundle. Recorded folders are read-only: the dashboard offers no Stop, Resume or Delete for them,
and everything they need to be shown (maps included) is committed.

Where bundles are looked for: ``$RRS_RECORDED`` (folders separated by ``os.pathsep``; empty for none), by
default ``<project>/examples`` and ``<project>/docs/results``, two levels deep.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rrs.paths import PROJECT_ROOT

__all__ = ["RECORD_FILE", "RECORDED_ENV", "Recorded", "is_recorded", "recorded", "recorded_roots", "reproduce_command"]

RECORD_FILE = "recorded.json"
RECORDED_ENV = "RRS_RECORDED"


@dataclass(frozen=True)
class Recorded:
    """One recorded result: where it is, what kind of job made it, and the command that reproduces it."""

    path: Path
    kind: str
    title: str
    command: str
    bundle: str = ""
    when: str = ""

    def label(self) -> str:
        return f"{self.title} · recorded"


def recorded_roots() -> list[Path]:
    raw = os.environ.get(RECORDED_ENV)
    if raw is None:
        return [PROJECT_ROOT / "examples", PROJECT_ROOT / "docs" / "results"]
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def _bundles() -> list[Path]:
    found: list[Path] = []
    for root in recorded_roots():
        if root.is_dir():
            found += sorted(root.glob(f"*/{RECORD_FILE}")) + sorted(root.glob(f"*/*/{RECORD_FILE}"))
    return found


def recorded(kind: str | None = None) -> list[Recorded]:
    """The recorded results of ``kind`` (all kinds with ``None``), in bundle order. A malformed
    ``recorded.json`` or an entry whose folder is missing is skipped, not raised: it must not break a page."""
    out = []
    for record in _bundles():
        try:
            meta = json.loads(record.read_text())
            entries = list(meta.get("entries", []))
        except (OSError, ValueError, AttributeError):
            continue
        for entry in entries:
            if not isinstance(entry, dict) or (kind is not None and entry.get("kind") != kind):
                continue
            path = (record.parent / str(entry.get("path", "."))).resolve()
            if path.is_dir() and path.is_relative_to(record.parent.resolve()):
                out.append(Recorded(path, str(entry.get("kind")), str(entry.get("title") or path.name),
                                    str(entry.get("command", "")), str(meta.get("title", "")),
                                    str(meta.get("recorded", ""))))
    return out


def reproduce_command(folder: str | Path) -> str | None:
    """The command that makes the recorded result in ``folder`` again (``None`` if it is not recorded)."""
    folder = Path(folder).resolve()
    return next((r.command for r in recorded() if r.path == folder and r.command), None)


def is_recorded(folder: str | Path) -> bool:
    """Whether ``folder`` is (inside) a recorded bundle: read-only in the dashboard."""
    folder = Path(folder).resolve()
    return any(folder.is_relative_to(r.parent.resolve()) for r in _bundles())
