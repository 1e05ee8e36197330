"""The files of one tuning run folder (:class:`RunDir`): config, status, metrics, features, targets, probe set,
per-epoch representation snapshots and adapter checkpoints.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from rrs.store import atomic_write, atomic_write_json

__all__ = ["RunDir"]


class RunDir:
    """Paths and small helpers for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    status = property(lambda self: self.path / "status.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    features = property(lambda self: self.path / "features")
    targets = property(lambda self: self.path / "targets.safetensors")
    probe = property(lambda self: self.path / "probe.json")
    snapshots = property(lambda self: self.path / "snapshots")
    checkpoints = property(lambda self: self.path / "checkpoints")
    log = property(lambda self: self.path / "log.txt")

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots / f"epoch_{epoch:03d}.safetensors"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:03d}"

    def completed_epochs(self) -> list[int]:
        if not self.checkpoints.exists():
            return []
        done = []
        for folder in self.checkpoints.iterdir():
            match = re.fullmatch(r"epoch_(\d+)", folder.name)
            if match and (folder / "COMPLETE").is_file():
                done.append(int(match.group(1)))
        return sorted(done)

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        rows = []
        for line in self.metrics.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a killed process
        return rows

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_status(self, **fields: Any) -> None:
        status = self.read_status()
        status.update(fields, updated=time.time())
        atomic_write_json(self.status, status)

    def append_metric(self, row: dict[str, Any]) -> None:
        with open(self.metrics, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep only rows of epochs <= last_epoch (used when resuming)."""
        rows = [r for r in self.read_metrics() if r["epoch"] <= last_epoch]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write(self.metrics, lambda tmp: Path(tmp).write_text(text))
