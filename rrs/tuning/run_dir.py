"""The files of one tuning run folder (:class:`RunDir`): config, status, metrics, features, targets, probe set,
per-epoch representation snapshots and adapter checkpoints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rrs.store import RunFolder, atomic_write

__all__ = ["RunDir"]


class RunDir(RunFolder):
    """A training run's folder (its file names are :class:`rrs.store.RunFolder`'s), with the metrics log."""

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
