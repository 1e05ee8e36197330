"""t-SNE and UMAP maps of a training run, computed as a job: ``python -m rrs project --config ... --out FOLDER``.

They take a minute on a small CPU, so the dashboard starts them in the background and reads the cached map
(:func:`rrs.projection.cached_projection`, ``RUN/projections/<method>.npz``) once it is there. The job's own
folder is ``RUN/projections/<method>/`` (config, status, log), one per map.
"""

from __future__ import annotations

import time
from pathlib import Path

from rrs.projection import cached_projection, threads
from rrs.runs.configs import ProjectionJob
from rrs.runs.job import ACTIVE_STATES, Job
from rrs.store import RunFolder


def projection_job(run_dir: str | Path, method: str) -> Job:
    """The job that computes ``method``'s map of the run (whether it ever ran or not)."""
    return Job(RunFolder(run_dir).projections / method, "project")


def projection_log(run_dir: str | Path, method: str) -> Path:
    """The output of the background computations of this map."""
    return projection_job(run_dir, method).run.log


def projection_pending(run_dir: str | Path, method: str) -> bool:
    """Whether a background computation of this map is under way."""
    return projection_job(run_dir, method).state()["state"] in ACTIVE_STATES


def start_projection(run_dir: str | Path, method: str, seed: int = 0) -> Job | None:
    """Compute the map in a detached process; its job, or ``None`` if one is running already."""
    if projection_pending(run_dir, method):
        return None
    cfg = ProjectionJob(run=str(run_dir), method=method, seed=seed)
    return Job.start("project", cfg, projection_job(run_dir, method).path, env={"OMP_NUM_THREADS": str(threads())})


def project(cfg: ProjectionJob) -> str:
    """The job's body: compute (or read) the cached map; a one-line report."""
    started = time.perf_counter()
    result = cached_projection(cfg.run, cfg.method, cfg.seed)
    if result is None:
        return f"{cfg.run} has no snapshots yet"
    return (f"{cfg.method}: {len(result.epochs)} epochs x {result.coords.shape[1]} points "
            f"in {time.perf_counter() - started:.1f}s")
