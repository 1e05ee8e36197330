"""The one detached-process launcher, and whether a process is still alive."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rrs.paths import PROJECT_ROOT


def rrs_command(*args: str) -> list[str]:
    """``python -m rrs *args`` with this interpreter."""
    return [sys.executable, "-m", "rrs", *map(str, args)]


def launch(command: Sequence[str], log: str | Path, env: dict[str, str] | None = None) -> int:
    """Start ``command`` in its own session (it outlives the caller), output appended to ``log``; its pid."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        proc = subprocess.Popen(
            list(command), cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    return proc.pid


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs; a finished child that nobody waited for (a zombie) does not."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
