"""t-SNE and UMAP maps of a run computed in the background: ``python -m rrs project --out RUN --method M``.

They take a minute on a small CPU, so the dashboard starts them as a detached process and reads the cached
map (:func:`rrs.projection.cached_projection`) when it is there. While one runs, ``projections/<method>.pending.json``
holds its pid; its output goes to ``projections/<method>.log``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rrs.projection import cached_projection, threads
from rrs.runs.process import alive, launch, rrs_command
from rrs.store import RunFolder, atomic_write_json, read_json

PENDING, LOG = ".pending.json", ".log"


def projection_log(run_dir: str | Path, method: str) -> Path:
    """The output of the background computations of this map."""
    return RunFolder(run_dir).projection(method, LOG)


def projection_pending(run_dir: str | Path, method: str) -> bool:
    """Whether a background computation of this map is under way."""
    pid = read_json(RunFolder(run_dir).projection(method, PENDING), {}).get("pid")
    return isinstance(pid, int) and alive(pid)


def start_projection(run_dir: str | Path, method: str, seed: int = 0) -> int | None:
    """Compute the map in a detached process; its pid, or ``None`` if one is running already."""
    if projection_pending(run_dir, method):
        return None
    command = rrs_command("project", "--out", str(run_dir), "--method", method, "--seed", str(seed))
    pid = launch(command, projection_log(run_dir, method), env={"OMP_NUM_THREADS": str(threads())})
    atomic_write_json(RunFolder(run_dir).projection(method, PENDING), {"pid": pid, "started": time.time()})
    return pid


def project(run_dir: str | Path, method: str, seed: int = 0) -> str:
    """The job's body: compute (or read) the cached map, then clear the pending marker; a one-line report."""
    started = time.perf_counter()
    pending = RunFolder(run_dir).projection(method, PENDING)
    try:
        result = cached_projection(run_dir, method, seed)
    finally:
        if read_json(pending, {}).get("pid") == os.getpid():
            pending.unlink(missing_ok=True)
    if result is None:
        return f"{run_dir} has no snapshots yet"
    return (f"{method}: {len(result.epochs)} epochs x {result.coords.shape[1]} points "
            f"in {time.perf_counter() - started:.1f}s")
