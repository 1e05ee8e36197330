"""Start, watch and stop long jobs (tuning, evaluation) as separate processes that write a run directory.

A job is ``python -m rrs <subcommand> ... --out RUN`` started in its own session, so it keeps running
when the browser tab or the Streamlit script that launched it goes away. Its output goes to
``RUN/log.txt``; the job itself keeps ``RUN/status.json`` up to date, and the UI only reads files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrs.paths import PROJECT_ROOT
from rrs.store import atomic_write_json

RUNS_ROOT_ENV = "RRS_RUNS"
ACTIVE_STATES = ("starting", "preparing", "running")


def runs_root() -> Path:
    root = Path(os.environ.get(RUNS_ROOT_ENV, PROJECT_ROOT / "runs"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class JobInfo:
    run_dir: Path
    pid: int
    command: list[str]


def start_job(args: list[str], run_dir: str | Path, env: dict[str, str] | None = None) -> JobInfo:
    """Launch ``python -m rrs *args --out run_dir`` detached; return at once."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rrs", *args, "--out", str(run_dir)]
    log = open(run_dir / "log.txt", "ab")
    proc = subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    atomic_write_json(run_dir / "job.json", {"pid": proc.pid, "command": command, "started": time.time()})
    return JobInfo(run_dir, proc.pid, command)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child that nobody waited for is a zombie: not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def job_state(run_dir: str | Path) -> dict[str, Any]:
    """The job's status, with ``state`` corrected from what the process table says.

    * a job relaunched a moment ago (``job.json`` newer than ``status.json``, process alive) is
      ``starting``, even while the old status file still says ``stopped`` or ``failed``;
    * a job whose process is gone in the middle of a run is ``died``.
    """
    run_dir = Path(run_dir)
    job, status = _read_json(run_dir / "job.json"), _read_json(run_dir / "status.json")
    merged: dict[str, Any] = {**job, **status}
    if job.get("pid") and job.get("started", 0) > status.get("updated", 0) and _alive(int(job["pid"])):
        merged.update(pid=job["pid"], state="starting")
    state = merged.get("state", "starting" if "pid" in merged else "unknown")
    pid = merged.get("pid")
    if state in ACTIVE_STATES and pid and not _alive(int(pid)):
        state = "died"
        merged["message"] = "the job's process ended without finishing; see log.txt, then resume it"
    merged["state"] = state
    return merged


def stop_job(run_dir: str | Path, force: bool = False) -> bool:
    """Ask a running job to stop (SIGINT: it records ``stopped`` and can be resumed).

    ``force`` kills the job's process group at once (SIGKILL): for a job that ignores the request. Finished
    epochs stay on disk and a forced job shows as ``died``, resumable like any other.
    """
    status = job_state(run_dir)
    pid = status.get("pid")
    if not pid or status["state"] not in ACTIVE_STATES:
        return False
    try:
        os.killpg(os.getpgid(int(pid)), signal.SIGKILL if force else signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def read_log(run_dir: str | Path, tail: int = 200) -> str:
    path = Path(run_dir) / "log.txt"
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").replace("\r", "\n").splitlines()
    return "\n".join(line for line in lines[-tail:] if line.strip())


def list_runs(root: str | Path | None = None) -> list[Path]:
    """Training run directories under ``root`` (default: the runs root), newest start first.

    A run counts once it has a job record or a config, so a job launched a moment ago is listed before
    it has written its config. The ``evals`` folder (evaluation jobs) is not a training run.
    """
    root = Path(root) if root else runs_root()
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        if not path.is_dir() or path.name == "evals":
            continue
        job, config = path / "job.json", path / "config.json"
        if not (job.is_file() or config.is_file()):
            continue
        started = _read_json(job).get("started") if job.is_file() else None
        if started is None:
            started = (config if config.is_file() else job).stat().st_mtime
        runs.append((float(started), path.name, path))
    return [p for _, _, p in sorted(runs, key=lambda t: (t[0], t[1]), reverse=True)]
