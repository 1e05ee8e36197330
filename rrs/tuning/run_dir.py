"""The files of one tuning run folder (:class:`RunDir`): config, status, metrics, features, targets, probe set,
per-epoch representation snapshots and adapter checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rrs.store import RunFolder, append_jsonl, atomic_write

__all__ = ["RunDir"]


class RunDir(RunFolder):
    """A training run's folder (its file names are :class:`rrs.store.RunFolder`'s), with the metrics log."""

    @property
    def timings(self) -> Path:
        """``timings.jsonl``: seconds per epoch spent training and scoring the probe (kept apart from the
        metrics, which a resumed run reproduces exactly)."""
        return self.path / "timings.jsonl"

    def append_metric(self, row: dict[str, Any]) -> None:
        append_jsonl(self.metrics, [row])

    def append_timing(self, row: dict[str, Any]) -> None:
        append_jsonl(self.timings, [row])

    def read_timings(self) -> list[dict[str, Any]]:
        if not self.timings.is_file():
            return []
        rows = []
        for line in self.timings.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a kill: timings are informative only
        return rows

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep only rows of epochs <= last_epoch (used when resuming)."""
        rows = [r for r in self.read_metrics() if r["epoch"] <= last_epoch]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write(self.metrics, lambda tmp: Path(tmp).write_text(text))

