"""Evaluation jobs: ``python -m rrs eval`` as a detached job with a folder of its own, and its results.

``rrs.jobs.start_job`` appends ``--out RUN`` (a folder) to the command, but ``eval --out`` names a results
JSON file. An evaluation job therefore gets a folder ``<runs root>/evals/<name>/`` holding

* ``results.json`` (the ``eval --out`` file) and ``results.records.jsonl`` (per-item records: a stopped job
  resumes where it was),
* ``log.txt``, ``job.json`` and ``status.json``, the same files as a training run, so ``rrs.jobs.job_state``,
  ``stop_job`` and ``read_log`` work on it unchanged.

The job runs ``python -m rrs.eval_jobs <eval arguments> --out <folder>/results.json``: a thin wrapper around
``rrs.cli.main(["eval", ...])`` that writes ``status.json`` (``running`` -> ``done`` / ``failed`` / ``stopped``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrs.jobs import JobInfo, runs_root
from rrs.paths import PROJECT_ROOT
from rrs.store import atomic_write_json

RESULTS = "results.json"


def evals_root(root: str | Path | None = None) -> Path:
    """``<runs root>/evals`` (created)."""
    path = Path(root) if root else runs_root() / "evals"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _strip_out(args: Sequence[str]) -> list[str]:
    args = [str(a) for a in args]
    while "--out" in args:
        cut = args.index("--out")
        del args[cut : cut + 2]
    if args and args[0] == "eval":
        args = args[1:]
    return args


def start_eval(args: Sequence[str], folder: str | Path, env: dict[str, str] | None = None) -> JobInfo:
    """Launch ``python -m rrs eval *args --out folder/results.json`` detached, in its own session.

    ``args`` are the ``eval`` arguments (a leading ``"eval"`` and any ``--out`` are dropped). Returns at once;
    follow it with ``rrs.jobs.job_state(folder)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    eval_args = _strip_out(args)
    command = [sys.executable, "-m", "rrs.eval_jobs", *eval_args, "--out", str(folder / RESULTS)]
    with open(folder / "log.txt", "ab") as log:
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    atomic_write_json(folder / "job.json", {"pid": proc.pid, "command": command, "args": eval_args,
                                           "started": time.time(), "kind": "eval"})
    return JobInfo(folder, proc.pid, command)


def _status(folder: Path, **fields: Any) -> None:
    try:
        status = json.loads((folder / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        status = {}
    status.update(fields, updated=time.time())
    atomic_write_json(folder / "status.json", status)


def run(argv: Sequence[str]) -> int:
    """The job's body: ``rrs.cli.main(["eval", *argv])`` with ``status.json`` kept beside the results."""
    from rrs.cli import main as cli_main

    argv = [str(a) for a in argv]
    if "--out" not in argv:
        print("error: --out <folder>/results.json is required", file=sys.stderr)
        return 2
    out = Path(argv[argv.index("--out") + 1])
    folder = out.parent
    folder.mkdir(parents=True, exist_ok=True)
    _status(folder, state="running", pid=os.getpid(), message="evaluating", started=time.time())
    try:
        code = cli_main(["eval", *argv])
    except KeyboardInterrupt:
        code = 130
    except BaseException as err:
        _status(folder, state="failed", message=f"{type(err).__name__}: {err}")
        raise
    if code == 0 and out.is_file():
        _status(folder, state="done", message="finished")
    elif code == 130:
        _status(folder, state="stopped", message="interrupted; resume continues from the recorded items")
    else:
        _status(folder, state="failed", message=f"exit code {code}; see the log")
    return code


# ---- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResultEntry:
    """One finished evaluation on disk."""

    path: Path
    method: str
    modality: str
    judge: str
    asr: float | None
    orr: float | None
    n_harmful: int
    n_benign: int
    samples: int
    model: str
    mtime: float

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path.name == RESULTS else self.path.stem

    def label(self) -> str:
        return f"{self.method} · {self.modality} ({self.name})"


def read_entry(path: str | Path) -> ResultEntry | None:
    """A results JSON's headline numbers, or ``None`` if it is not one."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
        return ResultEntry(
            path=path, method=str(payload.get("method") or path.stem), modality=str(payload["modality"]),
            judge=str(payload.get("judge", "")), asr=payload.get("asr"), orr=payload.get("orr"),
            n_harmful=int(payload.get("n_harmful", 0)), n_benign=int(payload.get("n_benign", 0)),
            samples=int(payload.get("samples", 0)), model=str(payload.get("model", "")),
            mtime=path.stat().st_mtime,
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def list_results(root: str | Path | None = None) -> list[ResultEntry]:
    """Finished results under the evals root, newest first: ``<name>/results.json`` and loose ``*.json``."""
    root = evals_root(root)
    paths = [p / RESULTS for p in root.iterdir() if p.is_dir() and (p / RESULTS).is_file()]
    paths += [p for p in root.glob("*.json") if p.is_file()]
    entries = [e for e in map(read_entry, paths) if e is not None]
    return sorted(entries, key=lambda e: e.mtime, reverse=True)


def list_eval_jobs(root: str | Path | None = None) -> list[Path]:
    """Evaluation job folders (with a ``job.json``), newest first."""
    root = evals_root(root)
    jobs = []
    for folder in root.iterdir():
        job = folder / "job.json"
        if folder.is_dir() and job.is_file():
            try:
                started = float(json.loads(job.read_text()).get("started", 0))
            except (OSError, json.JSONDecodeError, TypeError, ValueError):
                started = job.stat().st_mtime
            jobs.append((started, folder))
    return [f for _, f in sorted(jobs, key=lambda t: t[0], reverse=True)]


def group_results(entries: Sequence[ResultEntry], baseline: str = "vanilla") -> tuple[dict[str, dict[str, Any]],
                                                                                       list[ResultEntry]]:
    """``{method: {modality: EvalResult}}`` for ``rrs.evaluation.report`` (baseline first), and the entries
    left out because a newer one has the same method and modality."""
    from rrs.evaluation.metrics import load_result

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


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
