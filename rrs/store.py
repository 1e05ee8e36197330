"""Files on disk: atomic writes (a killed process never leaves a half-written file behind), tolerant reads,
and :class:`RunFolder`, the names of the files in a run folder."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class FolderBusy(RuntimeError):
    """Another job holds this run folder: two jobs never write one folder at once."""


def _lock_for(folder: Path) -> Any:
    from filelock import FileLock

    return FileLock(str(folder / LOCK_FILE), timeout=0)


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock while a job writes it; ``FolderBusy`` if another process holds it.

    The lock is an OS file lock, so a killed job releases it: a folder is never left locked by a dead process."""
    from filelock import Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = _lock_for(folder)
    try:
        lock.acquire()
    except Timeout:
        holder = read_json(folder / "job.json", {}).get("pid")
        raise FolderBusy(f"{folder} is in use by another job{f' (pid {holder})' if holder else ''}; wait for it "
                         "to finish or stop it, or choose another folder") from None
    try:
        yield folder
    finally:
        lock.release()


def folder_in_use(folder: str | os.PathLike) -> bool:
    """Whether a job holds ``folder``'s lock right now."""
    folder = Path(folder)
    if not (folder / LOCK_FILE).exists():
        return False
    try:
        with folder_lock(folder):
            return False
    except FolderBusy:
        return True


#: Fault injection for the kill-anywhere tests (tests/test_kill_anywhere.py); unset in normal use.
#: ``RRS_FAULT_LOG=FILE`` appends one line per write point reached; ``RRS_FAULT_KILL_AT=N`` sends SIGKILL to
#: this process at the N-th write point: after a temporary file is written but before it is renamed, or
#: half-way through an appended line. Writes into the caches are not counted.
FAULT_LOG_ENV, FAULT_KILL_ENV = "RRS_FAULT_LOG", "RRS_FAULT_KILL_AT"
_write_points = 0


def _write_point(where: Path) -> None:
    global _write_points
    log, kill_at = os.environ.get(FAULT_LOG_ENV), os.environ.get(FAULT_KILL_ENV)
    if not log and not kill_at:
        return
    from rrs.paths import cache_dir

    if Path(where).resolve().is_relative_to(cache_dir().resolve()):
        return  # caches fill once, so their writes would shift the count between runs
    _write_points += 1
    if log:
        with open(log, "a") as handle:
            handle.write(f"{_write_points}\t{where}\n")
    if kill_at and _write_points == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)


def append_jsonl(path: str | os.PathLike, rows: Sequence[Any]) -> None:
    """Append JSON lines durably, starting on a fresh line if a previous write was cut off (a killed job),
    so that a torn line never swallows the next one; readers skip the torn line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows).encode()
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                text = b"\n" + text
        half = len(text) // 2
        handle.write(text[:half])
        handle.flush()
        _write_point(path)
        handle.write(text[half:])
        handle.flush()
        os.fsync(handle.fileno())


class DiskFull(OSError):
    """A write failed for lack of space; the file it was replacing is intact."""


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` in one step.

    If the write fails (a full disk, a kill) the previous ``path`` is left as it was and the temporary file
    is removed; a full disk raises :class:`DiskFull` naming the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        _write_point(path)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC and not isinstance(err, DiskFull):
            raise DiskFull(errno.ENOSPC, f"no space left on the device while writing {path}; the previous "
                           "version is intact. Free some space and run the same command again (finished work "
                           "is kept)") from err
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """The JSON in ``path``, or ``default`` if it is missing or unreadable (e.g. being written)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The rows of a JSON-lines file up to the first torn line (a killed writer); ``[]`` if missing."""
    rows = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


#: Committed weights are kept in parts below the repository's 5 MiB file limit and joined on first use.
PART_BYTES = 4 << 20


def split_file(path: str | os.PathLike, part_bytes: int = PART_BYTES) -> Path:
    """Write ``path`` as ``<name>.partNN`` files plus ``<name>.parts.json`` (size and sha256); returns the latter."""
    path = Path(path)
    data = path.read_bytes()
    names = []
    for i, start in enumerate(range(0, len(data), part_bytes), 1):
        name = f"{path.name}.part{i:02d}"
        atomic_write(path.parent / name, lambda tmp, chunk=data[start : start + part_bytes]: Path(tmp).write_bytes(chunk))
        names.append(name)
    manifest = path.parent / f"{path.name}.parts.json"
    atomic_write_json(manifest, {"bytes": len(data), "sha256": sha256_file(path), "parts": names})
    return manifest


def join_parts(path: str | os.PathLike) -> Path:
    """Make ``path`` from its parts if it is missing or differs from ``<name>.parts.json``; checked by sha256."""
    path = Path(path)
    manifest = read_json(path.parent / f"{path.name}.parts.json", None)
    if manifest is None or (path.is_file() and sha256_file(path) == manifest["sha256"]):
        return path
    missing = [n for n in manifest["parts"] if not (path.parent / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} cannot be joined: missing {', '.join(missing)} (restore them with git checkout)")
    data = b"".join((path.parent / n).read_bytes() for n in manifest["parts"])
    if len(data) != manifest["bytes"] or hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise ValueError(f"the parts of {path} do not match {path.name}.parts.json (corrupt or edited); "
                         "restore them with git checkout")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


class RunFolder:
    """The files of one run folder, for every kind of run (train, eval, steer, compare, features, project).

    Every folder a job writes has ``config.json`` (the job's config), ``job.json`` (pid and command, by the
    launcher), ``status.json`` (kept by the job) and ``log.txt``. Beside them each kind writes its own:

    * train: ``metrics.jsonl``, ``probe.json``, ``features/``, ``targets.safetensors``,
      ``snapshots/epoch_NNN.safetensors``, ``checkpoints/epoch_NNN/`` and the maps' ``projections/<method>.npz``
      (each computed by a ``project`` job whose own folder is ``projections/<method>/``);
    * eval: ``results.json`` and ``results.records.jsonl``;
    * steer: ``steering.json`` + ``vectors.safetensors``, ``sweep.json``, ``first_token.json``;
    * compare: ``compare.json``, ``cells/``, ``runs/``, ``steer/``, ``table/``;
    * features: ``summary.json``, ``features.json`` + ``features.safetensors``.
    """

    CONFIG, STATUS, JOB, LOG = "config.json", "status.json", "job.json", "log.txt"
    RESULTS, RECORDS = "results.json", "results.records.jsonl"
    STEERING, VECTORS = "steering.json", "vectors.safetensors"
    COMPARE, SUMMARY = "compare.json", "summary.json"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    name = property(lambda self: self.path.name)
    config = property(lambda self: self.path / self.CONFIG)
    status = property(lambda self: self.path / self.STATUS)
    job = property(lambda self: self.path / self.JOB)
    log = property(lambda self: self.path / self.LOG)
    metrics = property(lambda self: self.path / "metrics.jsonl")
    features = property(lambda self: self.path / "features")
    targets = property(lambda self: self.path / "targets.safetensors")
    probe = property(lambda self: self.path / "probe.json")
    snapshots = property(lambda self: self.path / "snapshots")
    checkpoints = property(lambda self: self.path / "checkpoints")
    projections = property(lambda self: self.path / "projections")
    results = property(lambda self: self.path / self.RESULTS)
    records = property(lambda self: self.path / self.RECORDS)
    compare = property(lambda self: self.path / self.COMPARE)
    steering = property(lambda self: self.path / self.STEERING)
    vectors = property(lambda self: self.path / self.VECTORS)

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots / f"epoch_{epoch:03d}.safetensors"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:03d}"

    def snapshot_files(self) -> list[tuple[int, Path]]:
        """``(epoch, path)`` of the representation snapshots, by epoch."""
        return _numbered(self.snapshots, r"epoch_(\d+)\.safetensors")

    def completed_epochs(self) -> list[int]:
        return [e for e, folder in _numbered(self.checkpoints, r"epoch_(\d+)") if (folder / "COMPLETE").is_file()]

    def epochs_seconds(self) -> float:
        """Wall time of a training run's epochs (training and each epoch's probe, not the epoch-0 probe).

        From ``timings.jsonl``, which a recorded bundle keeps whole, else from the checkpoints' markers."""
        timings = read_jsonl(self.path / "timings.jsonl")
        if timings:
            return round(sum(float(t.get("train_seconds", 0.0)) + float(t.get("probe_seconds", 0.0))
                             for t in timings if int(t.get("epoch", 0)) > 0), 1)
        return round(sum(float((self.checkpoint(e) / "COMPLETE").read_text() or 0)
                         for e in self.completed_epochs()), 1)

    def projection(self, method: str, suffix: str = ".npz") -> Path:
        """``projections/<method>.npz`` (the cached map); other suffixes for its log and pending marker."""
        return self.projections / f"{method}{suffix}"

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics)

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status, {})

    def read_config(self) -> dict[str, Any]:
        return read_json(self.config, {})

    def write_status(self, **fields: Any) -> None:
        """Merge ``fields`` into ``status.json`` (stamped with ``updated``)."""
        status = self.read_status()
        status.update(fields, updated=time.time())
        atomic_write_json(self.status, status)


def _numbered(folder: Path, pattern: str) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := re.fullmatch(pattern, p.name))]
    return sorted(found)
