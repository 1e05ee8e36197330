"""Finished evaluations on disk: ``<runs root>/evals/<name>/results.json`` (and loose ``*.json`` files there)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rrs.evaluation.metrics import load_result
from rrs.runs.job import Job, jobs_in, kind_root
from rrs.runs.recorded import recorded
from rrs.store import RunFolder

RESULTS = RunFolder.RESULTS


def evals_root(root: str | Path | None = None) -> Path:
    """``<runs root>/evals`` (created); ``root`` names the evals folder itself."""
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
        return Path(root)
    return kind_root("eval")


#: The headline numbers of a results file, with their types (``ResultEntry.method``, ``.asr``, ...).
HEADLINE = {"method": str, "modality": str, "judge": str, "asr": float, "orr": float, "n_harmful": int,
            "n_benign": int, "samples": int, "model": str, "asr_ci": list, "orr_ci": list}


@dataclass(frozen=True)
class ResultEntry:
    """One finished evaluation on disk: its file, when it was written, and its headline numbers."""

    path: Path
    mtime: float
    headline: dict[str, Any]
    #: For a recorded result (committed with the project): the command that reproduces it; else "".
    command: str = ""

    def __getattr__(self, name: str) -> Any:
        if name in HEADLINE:
            return self.headline.get(name)
        raise AttributeError(name)

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path.name == RESULTS else self.path.stem

    def label(self) -> str:
        return f"{self.method} · {self.modality} ({self.name}{' · recorded' if self.command else ''})"


def read_entry(path: str | Path) -> ResultEntry | None:
    """A results JSON's headline numbers, or ``None`` if it is not one."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        headline = {"method": str(payload.get("method") or path.stem), "modality": str(payload["modality"])}
        for key, kind in HEADLINE.items():
            value = payload.get(key)
            if key not in headline:
                headline[key] = value if value is None and kind is float else kind(value or kind())
        return ResultEntry(path, path.stat().st_mtime, headline)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def list_results(root: str | Path | None = None) -> list[ResultEntry]:
    """Finished results under the evals root, newest first: ``<name>/results.json`` and loose ``*.json``."""
    root = evals_root(root)
    paths = [p / RESULTS for p in root.iterdir() if p.is_dir() and (p / RESULTS).is_file()]
    paths += [p for p in root.glob("*.json") if p.is_file()]
    entries = [e for e in map(read_entry, paths) if e is not None]
    return sorted(entries, key=lambda e: e.mtime, reverse=True)


def recorded_results() -> list[ResultEntry]:
    """The recorded evaluation results that ship with the project (:mod:`rrs.runs.recorded`)."""
    entries = []
    for rec in recorded("eval"):
        entry = read_entry(rec.path / RESULTS)
        if entry is not None:
            entries.append(replace(entry, command=rec.command))
    return entries


def list_eval_jobs(root: str | Path | None = None) -> list[Path]:
    """Evaluation job folders (with a ``job.json``), newest first."""
    return jobs_in(evals_root(root))


def eval_job(folder: str | Path) -> Job:
    return Job(folder, "eval")


def group_results(entries: Sequence[ResultEntry], baseline: str = "vanilla") -> tuple[dict[str, dict[str, Any]],
                                                                                       list[ResultEntry]]:
    """``{method: {modality: EvalResult}}`` for ``rrs.evaluation.report`` (baseline first), and the entries
    left out because a newer one has the same method and modality."""
    chosen: dict[tuple[str, str], ResultEntry] = {}
    skipped = []
    for entry in sorted(entries, key=lambda e: e.mtime, reverse=True):
        key = (entry.method, entry.modality)
        if key in chosen:
            skipped.append(entry)
        else:
            chosen[key] = entry
    methods = sorted({m for m, _ in chosen}, key=lambda m: (m != baseline, m))
    results: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for (method, modality), entry in sorted(chosen.items(), key=lambda kv: kv[0][1]):
        results[method][modality] = load_result(entry.path)
    return results, skipped
