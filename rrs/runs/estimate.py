"""How long a tuning run will take, before it starts: from per-unit costs measured on this machine.

A run's time is modelled as

    load + (epochs · steps_per_epoch · batch) · s_sample_step          (training)
         + (epochs + 1) · (2 · probe_per_label · s_probe_item            (probe representations)
                           + 2 · gen_probe_per_label · gen_probe_samples · s_answer)   (generation probe)
         + 3 · n_train_pairs · s_probe_item                              (features and frozen targets)

The unit costs start from reference figures measured for the embedded models on a 2-core x86 CPU with bf16
autocast (docs/RESULTS.md). Once a run has finished an epoch on this machine, its ``timings.jsonl`` rescales
them: the estimate then says "measured here". Clips heard for the first time (speech synthesis and the
audio front-end) cost extra once; the estimate counts them as cached, and says so.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rrs.data.builtin import mirror_pairs
from rrs.data.splits import pairs_per_category, split_pairs
from rrs.tuning.config import TuneConfig

__all__ = ["REFERENCE_COSTS", "RunEstimate", "describe", "estimate_eval", "estimate_steer", "estimate_tune",
           "format_duration"]

#: Seconds per unit, measured for the embedded models on a 2-core Intel Xeon (AMX) with bf16 autocast, 2026-12-02:
#: a training step's share per sample (batch 8), a probe item's representation, one sampled answer of
#: ``gen_probe_tokens`` = 16 tokens, and loading the model. See docs/RESULTS.md ("Demo run").
REFERENCE_COSTS: dict[str, dict[str, float]] = {
    "embedded": {"sample_step": 0.53, "probe_item": 0.14, "answer": 0.85, "load": 30.0, "query": 1.0,
                 "answer_token": 0.019},
    "embedded-small": {"sample_step": 0.19, "probe_item": 0.05, "answer": 0.3, "load": 12.0, "query": 0.35,
                       "answer_token": 0.007},
    "embedded-smol": {"sample_step": 0.06, "probe_item": 0.02, "answer": 0.1, "load": 5.0, "query": 0.1,
                      "answer_token": 0.002},
}
#: ``query`` (prompt and audio front end) and ``answer_token`` come from the 1.5B demo's evaluation:
#: 4.0 s per query with 5 sampled answers of 32 tokens, bf16 (docs/RESULTS.md).


@dataclass(frozen=True)
class RunEstimate:
    seconds: float
    train_seconds: float
    probe_seconds: float
    steps: int
    basis: str  # where the unit costs came from

    def text(self) -> str:
        return (f"≈ {format_duration(self.seconds)} ({self.steps} steps; training {format_duration(self.train_seconds)}, "
                f"probe scoring {format_duration(self.probe_seconds)}) · {self.basis}")


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _train_samples(cfg: TuneConfig) -> tuple[int, int]:
    """Training pairs and benign anchors of ``cfg`` on Mirror; (0, 0) for a pairs file."""
    if cfg.pairs != "mirror":
        return 0, 0
    train, _ = split_pairs(mirror_pairs(), cfg.val_fraction, cfg.seed)
    chosen = pairs_per_category(train, cfg.pairs_per_category)
    left = Counter(p.category for p in train)
    left.subtract(p.category for p in chosen)
    return len(chosen), sum(min(cfg.benign_anchors, n) for n in left.values())


def _measured_scale(cfg: TuneConfig, runs_root: Path | None, base: dict[str, float]) -> float | None:
    """Median ratio of measured to modelled epoch time over finished epochs of runs of the same model."""
    if runs_root is None or not runs_root.is_dir():
        return None
    ratios = []
    for timings in runs_root.glob("*/timings.jsonl"):
        try:
            config = json.loads((timings.parent / "config.json").read_text())
            status = json.loads((timings.parent / "status.json").read_text())
            rows = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            continue
        if config.get("model") != cfg.model or not status.get("total_steps") or not config.get("epochs"):
            continue
        steps = status["total_steps"] / config["epochs"]
        per_step = config.get("batch_size", 1) * config.get("grad_accum", 1)
        for row in rows:
            if "train_seconds" in row and steps:
                ratios.append(row["train_seconds"] / (steps * per_step * base["sample_step"]))
    return statistics.median(ratios) if ratios else None


def estimate_tune(cfg: TuneConfig, runs_root: str | Path | None = None) -> RunEstimate | None:
    """The predicted wall time of ``cfg`` on this machine, or ``None`` for a model with no reference figures
    and no finished run here to learn from."""
    base = REFERENCE_COSTS.get(cfg.model)
    if base is None:
        return None
    scale = _measured_scale(cfg, Path(runs_root) if runs_root else None, base)
    costs = {k: v * (scale or 1.0) for k, v in base.items()}
    n_pairs, n_anchors = _train_samples(cfg)
    n_pairs = n_pairs or 100
    samples = 2 * n_pairs + n_anchors
    per_step = cfg.batch_size * cfg.grad_accum
    steps = cfg.epochs * -(-samples // per_step)
    train = steps * per_step * costs["sample_step"]
    per_probe = 2 * cfg.probe_per_label * costs["probe_item"]
    per_probe += 2 * cfg.gen_probe_per_label * cfg.gen_probe_samples * costs["answer"] * cfg.gen_probe_tokens / 16
    probe = (cfg.epochs + 1) * per_probe + 3 * n_pairs * costs["probe_item"]
    basis = ("scaled by runs measured on this machine" if scale is not None
             else "reference figures of a 2-core CPU; clips already heard")
    return RunEstimate(round(costs["load"] + train + probe, 1), round(train, 1), round(probe, 1), steps, basis)


def estimate_eval(model: str, queries: int, samples: int, max_new_tokens: int, cells: int = 1) -> float | None:
    """Seconds for ``cells`` evaluations of ``queries`` queries each (harmful + benign) on this kind of CPU,
    or ``None`` for a model without reference figures. The first run also synthesises the clips."""
    base = REFERENCE_COSTS.get(model)
    if base is None:
        return None
    per_query = base["query"] + samples * max_new_tokens * base["answer_token"]
    return base["load"] + cells * queries * per_query


#: Seconds a SARSteer training pair costs the 1.5B ``embedded`` (three prompt passes with every layer's state
#: kept, the pair's two clips synthesised and heard for the first time): the comparison's vectors from 100
#: Mirror pairs took 6 min on a 2-core AMD EPYC (docs/RESULTS.md). Other models scale by their probe cost.
STEER_PAIR_SECONDS = 3.3


def estimate_steer(model: str, n_pairs: int) -> float | None:
    """Seconds to compute SARSteer vectors from ``n_pairs`` pairs whose clips are new (cached clips cost less);
    ``None`` for a model without reference figures."""
    base = REFERENCE_COSTS.get(model)
    if base is None:
        return None
    scale = base["probe_item"] / REFERENCE_COSTS["embedded"]["probe_item"]
    return base["load"] + n_pairs * STEER_PAIR_SECONDS * scale


def describe(estimate: RunEstimate | None) -> str:
    """The estimate as one line, or why there is none."""
    return estimate.text() if estimate is not None else "no estimate for this model until a run of it finishes here"
