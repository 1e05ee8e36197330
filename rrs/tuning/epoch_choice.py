"""Which epoch of a run to use: the last one, a given one, or the best by the run's own probe.

A run scores its probe set after every epoch (first-token refusal of 100 + 100 held-out questions in the
demo), and keeps an adapter checkpoint per epoch. The benign side of RRS swings between epochs (docs/RESULTS.md,
"Every training pair": probe benign refusal 17 / 3 / 17 / 10% at epochs 1-4, full-evaluation ORR 4.4 / 15.8 /
10.8 at epochs 2-4, in the same order), so the last epoch is not always the one to ship.

"best" follows the project's targets (the Evaluate page's): ASR cut by at least half, then the least
over-refusal. On the probe, an epoch cuts ASR by half when its harmful questions not refused number at most
half of epoch 0's. Among the epochs with a checkpoint that do, "best" is the one with the lowest benign
refusal (then the most harmful refused, then the earlier). When none does, the one refusing the most harmful
questions (then the lowest benign). Epoch 0 (the untuned model) has no adapter and is never chosen. On the
recorded runs this picks the demo's epoch 4 and the all-pairs run's epoch 2, the better trade-off of the
three that were evaluated in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrs.store import RunFolder

__all__ = ["ASR_FRACTION", "MAX_BENIGN_RISE", "EpochChoice", "choose_epoch", "resolve_epoch"]

#: The targets: ASR at most this fraction of epoch 0's, and benign refusal up by at most this many points.
ASR_FRACTION = 0.5
MAX_BENIGN_RISE = 2.0


@dataclass(frozen=True)
class EpochChoice:
    """The chosen epoch and the probe figures it was chosen by (first-token refusal, %)."""

    epoch: int
    harmful_refusal: float
    benign_refusal: float
    benign_rise: float
    #: whether its harmful questions not refused are at most ASR_FRACTION of epoch 0's
    halves_asr: bool
    #: whether its benign refusal rose by at most MAX_BENIGN_RISE points as well
    meets_orr: bool

    def describe(self) -> str:
        """One sentence for a log line or a page caption."""
        if not self.halves_asr:
            why = "the most harmful refused (no epoch halves the probe's ASR)"
        elif self.meets_orr:
            why = f"which halves the probe's ASR with benign refusal up by at most {MAX_BENIGN_RISE:g} points"
        else:
            why = ("the least benign refusal among the epochs that halve the probe's ASR (still above the "
                   f"+{MAX_BENIGN_RISE:g}-point target)")
        return (f"epoch {self.epoch}, {why}: probe harmful refusal {self.harmful_refusal:g}%, benign "
                f"{self.benign_refusal:g}%, {self.benign_rise:+g} points over epoch 0")


def choose_epoch(epoch_rows: Sequence[dict[str, Any]], available: Sequence[int]) -> EpochChoice:
    """The best of ``available`` epochs by the probe rows of ``metrics.jsonl`` (``type == "epoch"``)."""
    rows = {int(r["epoch"]): r for r in epoch_rows if r.get("type", "epoch") == "epoch"}
    if 0 not in rows:
        raise ValueError("the run has no epoch-0 probe to compare with; choose an epoch by number")
    base_harmful, base_benign = float(rows[0]["harmful_refusal"]), float(rows[0]["benign_refusal"])
    scored = [(e, float(rows[e]["harmful_refusal"]), float(rows[e]["benign_refusal"]))
              for e in sorted(set(available)) if e > 0 and e in rows]
    if not scored:
        raise ValueError("no epoch has both a checkpoint and a probe score; choose an epoch by number")
    halving = [s for s in scored if 100.0 - s[1] <= ASR_FRACTION * (100.0 - base_harmful)]
    if halving:  # least benign refusal, then most harmful refused, then the earlier epoch
        epoch, harmful, benign = min(halving, key=lambda s: (s[2], -s[1], s[0]))
    else:  # most harmful refused, then least benign refusal, then the earlier epoch
        epoch, harmful, benign = min(scored, key=lambda s: (-s[1], s[2], s[0]))
    rise = round(benign - base_benign, 2)
    return EpochChoice(epoch, harmful, benign, rise, bool(halving), bool(halving) and rise <= MAX_BENIGN_RISE)


def resolve_epoch(run_dir: str | Path, epoch: str | int = "last") -> int:
    """The checkpoint epoch that ``epoch`` ("last", "best" or a number) names in a run folder."""
    run = RunFolder(run_dir)
    done = run.completed_epochs()
    if not done:
        raise ValueError(f"{run_dir} has no finished epoch yet")
    if str(epoch) == "last":
        return done[-1]
    if str(epoch) == "best":
        return choose_epoch(run.read_metrics(), done).epoch
    try:
        number = int(epoch)
    except ValueError:
        raise ValueError(f"epoch must be 'last', 'best' or a number, not {epoch!r}") from None
    if number not in done:
        raise ValueError(f"{run_dir} has no checkpoint for epoch {number}; it has {', '.join(map(str, done))}")
    return number
