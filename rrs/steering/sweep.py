"""Choosing alpha and layers: :func:`sweep` scores (alpha, layer set) settings by ASR / ORR with
:func:`rrs.evaluation.metrics.evaluate`; :func:`pick_default` picks the best net safety improvement.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rrs.evaluation.metrics import EvalConfig, EvalItem, evaluate
from rrs.models.base import LALM, Query
from rrs.parallel import Parallel
from rrs.steering.hooks import steer
from rrs.steering.vectors import SteeringVectors

__all__ = ["pick_default", "sweep"]

def _layers_name(layers: Sequence[int] | None) -> str:
    return "none" if layers is None else "-".join(str(i) for i in layers) or "none"


def sweep(
    model: LALM,
    vectors: SteeringVectors,
    harmful_val: Sequence[Query | EvalItem],
    benign_val: Sequence[Query | EvalItem],
    alphas: Sequence[float],
    layer_sets: Sequence[Sequence[int] | None] = (None,),
    judge: Any = None,
    settings: EvalConfig | None = None,
    ablated: bool = True,
    records_dir: str | os.PathLike | None = None,
    progress: bool = False,
    parallel: Parallel | None = None,
) -> list[dict[str, Any]]:
    """ASR / ORR of every (alpha, layer set) on a validation split, with the alpha = 0 baseline first.

    ``layer_sets`` entries are subsets of ``vectors.layers`` (``None``: all of them). The baseline (no
    steering) is evaluated once, whatever ``alphas`` holds. Each row: ``alpha``, ``layers`` (list), ``asr``,
    ``orr`` and their 95% intervals ``asr_ci`` / ``orr_ci``, ``nsi`` (versus the baseline), ``judge``, ``n_harmful``, ``n_benign``, ``seconds``. With
    ``records_dir`` each setting keeps resumable per-item records in its own JSONL file there; with
    ``parallel`` as well, the ranks share each setting's queries (:func:`rrs.evaluation.metrics.evaluate`).
    """
    settings = settings or EvalConfig()
    grid: list[tuple[float, list[int]]] = [(0.0, [])]
    for alpha in alphas:
        if float(alpha) == 0.0:
            continue
        for layer_set in layer_sets:
            grid.append((float(alpha), list(vectors.layers) if layer_set is None else [int(i) for i in layer_set]))
    rows: list[dict[str, Any]] = []
    for alpha, layers in grid:
        records = None
        if records_dir is not None:
            name = re.sub(r"[^0-9a-zA-Z_.-]", "_", f"alpha{alpha:g}_layers{_layers_name(layers)}")
            records = Path(records_dir) / f"{name}.jsonl"
        with steer(model, vectors, alpha=alpha, layers=layers, ablated=ablated):
            result = evaluate(model, harmful_val, benign_val, settings, judge, progress, records, parallel=parallel)
        rows.append({
            "alpha": alpha, "layers": layers, "ablated": ablated, "asr": result.asr, "orr": result.orr,
            "asr_ci": result.asr_ci, "orr_ci": result.orr_ci, "judge": result.judge, "n_harmful": result.n_harmful, "n_benign": result.n_benign,
            "seconds": result.seconds,
        })
    for row in rows:
        row["nsi"] = _nsi(rows[0], row)
    return rows


def _nsi(base: dict[str, Any], row: dict[str, Any]) -> float | None:
    values = (base.get("asr"), row.get("asr"), base.get("orr"), row.get("orr"))
    if any(v is None for v in values):
        return None
    return (base["asr"] - row["asr"]) - (row["orr"] - base["orr"])


def pick_default(rows: Sequence[dict[str, Any]], max_orr_rise: float | None = None) -> dict[str, Any]:
    """The row with the best NSI = (ASR_0 - ASR) - (ORR - ORR_0) against the alpha = 0 row.

    The alpha = 0 row (NSI 0) is a candidate too, so no steering is chosen when nothing helps. Ties go to the
    lower ORR, then the smaller |alpha|, then fewer layers. Returns a copy of the row with ``nsi`` set.

    NSI alone can favour refusing everything when the baseline already refuses many benign queries (a rise
    of ORR from 80 to 100 costs only 20 points). ``max_orr_rise`` (in points) drops the rows whose ORR rises
    by more than that before choosing.
    """
    base = next((r for r in rows if float(r["alpha"]) == 0.0), None)
    if base is None:
        raise ValueError("pick_default needs the alpha = 0 row (as sweep returns it)")
    scored = []
    for row in rows:
        value = _nsi(base, row)
        if value is None:
            continue
        if max_orr_rise is not None and row["orr"] - base["orr"] > max_orr_rise and row is not base:
            continue
        scored.append({**row, "nsi": value})
    if not scored:
        raise ValueError("pick_default needs rows with both ASR and ORR")
    return min(scored, key=lambda r: (-r["nsi"], r["orr"], abs(float(r["alpha"])), len(r.get("layers") or [])))
