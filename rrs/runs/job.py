"""Jobs: ``python -m rrs <command> --config FOLDER/config.json --out FOLDER``, detached, one folder each.

A :class:`Job` starts such a process (it keeps running when the browser tab or the Streamlit script that
launched it goes away), tells its state from the folder's files and the process table, stops it and reads its
log. The job keeps ``status.json`` up to date itself; the UI only reads files.

Where jobs live under the runs root (``$RRS_RUNS``, default ``<project>/runs``): training runs directly in
it, the other kinds in a subfolder each (:data:`KIND_DIRS`).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from rrs.compare import read_results
from rrs.config import ConfigMixin
from rrs.paths import PROJECT_ROOT
from rrs.projection import load_projection
from rrs.runs.process import alive, launch, rrs_command
from rrs.store import FolderBusy, RunFolder, atomic_write_json, folder_in_use, read_json

RUNS_ROOT_ENV = "RRS_RUNS"
ACTIVE_STATES = ("starting", "preparing", "running")
RESUMABLE_STATES = ("stopped", "died", "failed")
#: The subfolder of the runs root for each kind of job ("" = the runs root itself).
#: A map (``project``) has its job folder inside its training run: ``RUN/projections/<method>``.
KIND_DIRS = {"train": "", "eval": "evals", "steer": "steer", "compare": "compare", "features": "features",
             "project": "projections"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def runs_root() -> Path:
    root = Path(os.environ.get(RUNS_ROOT_ENV, PROJECT_ROOT / "runs"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def kind_root(kind: str, root: str | Path | None = None) -> Path:
    """Where jobs of ``kind`` go (created)."""
    path = Path(root) if root else runs_root()
    path = path / KIND_DIRS[kind] if KIND_DIRS[kind] else path
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name) or name in KIND_DIRS.values():
        raise ValueError(f"name {name!r}: use letters, digits, '.', '_' or '-' (at most 80, not "
                         f"{', '.join(repr(d) for d in KIND_DIRS.values() if d)})")
    return name


def new_folder(kind: str, name: str, root: str | Path | None = None) -> Path:
    """``<kind root>/<name>`` for a new job; ``ValueError`` for a bad name or one that is taken."""
    folder = kind_root(kind, root) / check_name(name)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder.name!r} already exists; choose another name")
    return folder


def default_name(prefix: str) -> str:
    return time.strftime(f"{prefix}-%Y%m%d-%H%M%S")


# ---- "is it done" per kind -------------------------------------------------------------------------
def _compare_done(run: RunFolder) -> bool:
    meta = read_json(run.compare)
    if not isinstance(meta, dict):
        return False
    results = read_results(run.path, meta)
    return all(m in results.get(method, {}) for method in meta.get("methods") or []
               for m in meta.get("modalities") or [])


def _map_done(run: RunFolder) -> bool:
    cfg = run.read_config()
    emap = load_projection(cfg["run"], cfg["method"], int(cfg.get("seed", 0))) if "run" in cfg else None
    return emap is not None and emap.fresh


#: For a job whose process ended without recording ``done``: did it finish its work anyway?
#: (Folders written before the commands kept ``status.json``, or a job killed after its last write.)
DONE_CHECKS = {
    "train": lambda run: False,
    "eval": lambda run: run.results.is_file(),
    "steer": lambda run: run.steering.is_file() and run.vectors.is_file(),
    "compare": _compare_done,
    "features": lambda run: (run.path / RunFolder.SUMMARY).is_file(),
    "project": _map_done,
}


class Job:
    """One job's folder: start, state, stop and log."""

    def __init__(self, folder: str | Path, kind: str | None = None) -> None:
        self.run = RunFolder(folder)
        self.kind = kind or str(read_json(self.run.job, {}).get("kind") or "train")
        if self.kind not in KIND_DIRS:
            raise ValueError(f"unknown kind of job {self.kind!r}; one of {', '.join(KIND_DIRS)}")

    path = property(lambda self: self.run.path)
    name = property(lambda self: self.run.path.name)

    @classmethod
    def start(cls, kind: str, config: ConfigMixin, folder: str | Path, env: dict[str, str] | None = None) -> Job:
        """Write ``config`` to ``folder/config.json`` and launch ``python -m rrs <kind> --config ... --out``."""
        job = cls(folder, kind)
        job._check_free()
        job.path.mkdir(parents=True, exist_ok=True)
        config.save(job.run.config)
        job._launch(["--config", str(job.run.config)], env)
        return job

    def restart(self, env: dict[str, str] | None = None) -> Job:
        """Run the folder's job again: it continues from what it finished (a training run resumes)."""
        self._check_free()
        if self.run.config.is_file():
            args = ["--config", str(self.run.config)]
        else:  # it died before writing its config, or predates configs: the original command line
            job = read_json(self.run.job, {})
            command = [str(x) for x in job.get("command") or []]
            args = command[command.index(self.kind) + 1:] if self.kind in command else list(job.get("args") or [])
            while "--out" in args:
                cut = args.index("--out")
                del args[cut : cut + 2]
        resume = self.kind == "train" and "--resume" not in args
        return self._launch([*args, *(["--resume"] if resume else [])], env)

    def _check_free(self) -> None:
        if folder_in_use(self.path):
            raise FolderBusy(f"{self.path} is in use by a running job; stop it first or choose another folder")

    def _launch(self, args: list[str], env: dict[str, str] | None) -> Job:
        command = rrs_command(self.kind, *args, "--out", str(self.path))
        pid = launch(command, self.run.log, env)
        atomic_write_json(self.run.job, {"pid": pid, "command": command, "started": time.time(), "kind": self.kind})
        return self

    def state(self) -> dict[str, Any]:
        """The job's status, with ``state`` corrected from what the process table says.

        * a job relaunched a moment ago (``job.json`` newer than ``status.json``, process alive) is
          ``starting``, even while the old status file still says ``stopped`` or ``failed``;
        * a job whose process is gone in the middle of its work is ``died``, or ``done`` if its kind's
          results are all there (:data:`DONE_CHECKS`).
        """
        job, status = read_json(self.run.job, {}), self.run.read_status()
        merged: dict[str, Any] = {**job, **status}
        if job.get("pid") and job.get("started", 0) > status.get("updated", 0) and alive(int(job["pid"])):
            merged.update(pid=job["pid"], state="starting")
        state = merged.get("state", "starting" if "pid" in merged else "unknown")
        pid = merged.get("pid")
        if state in ACTIVE_STATES and pid and not alive(int(pid)):
            if DONE_CHECKS[self.kind](self.run):
                state, merged["message"] = "done", "finished (its results are all written)"
            else:
                state = "died"
                merged["message"] = "the job's process ended without finishing; see log.txt, then resume it"
        merged["state"] = state
        return merged

    def stop(self, force: bool = False) -> bool:
        """Ask a running job to stop (SIGINT: it records ``stopped`` and can be resumed).

        ``force`` kills the job's process group at once (SIGKILL): for a job that ignores the request. Finished
        work stays on disk and a forced job shows as ``died``, resumable like any other.
        """
        status = self.state()
        pid = status.get("pid")
        if not pid or status["state"] not in ACTIVE_STATES:
            return False
        try:
            os.killpg(os.getpgid(int(pid)), signal.SIGKILL if force else signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def log(self, tail: int = 200) -> str:
        if not self.run.log.is_file():
            return ""
        lines = self.run.log.read_text(errors="replace").replace("\r", "\n").splitlines()
        return "\n".join(line for line in lines[-tail:] if line.strip())


def _started(folder: Path) -> float:
    started = read_json(folder / RunFolder.JOB, {}).get("started")
    if started is None:
        marker = folder / RunFolder.JOB if (folder / RunFolder.JOB).is_file() else folder / RunFolder.CONFIG
        started = marker.stat().st_mtime
    return float(started)


def jobs_in(folder: Path, markers: tuple[str, ...] = (RunFolder.JOB,), skip: frozenset[str] = frozenset()
            ) -> list[Path]:
    """Subfolders of ``folder`` holding one of ``markers``, newest start first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name not in skip and any(
        (p / m).is_file() for m in markers)]
    return [p for _, _, p in sorted(((_started(p), p.name, p) for p in found), reverse=True)]


def list_jobs(kind: str, root: str | Path | None = None) -> list[Path]:
    """Folders of ``kind`` under the runs root, newest start first.

    A folder counts once it has a job record (or, for a training run, a config): a job launched a moment ago
    is listed before it has written anything. The other kinds' subfolders are not training runs.
    """
    base = Path(root) if root else runs_root()
    if kind != "train":
        return jobs_in(base / KIND_DIRS[kind])
    return jobs_in(base, (RunFolder.JOB, RunFolder.CONFIG), frozenset(KIND_DIRS.values()))


def list_runs(root: str | Path | None = None) -> list[Path]:
    """Training run folders under ``root`` (default: the runs root), newest start first."""
    return list_jobs("train", root)
