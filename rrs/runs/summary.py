"""A training run folder's ``metrics.jsonl`` and ``config.json`` as pandas tables, and two runs side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rrs.store import RunFolder, read_json

STEP_COLUMNS = ("step", "epoch", "rep_loss", "penalty", "loss")
EPOCH_COLUMNS = ("epoch", "harmful_refusal", "benign_refusal", "separation")
#: Generation-probe columns (runs with ``gen_probe_per_label``): ASR/ORR in % with their 95% interval and n.
GENERATION_COLUMNS = ("asr", "asr_low", "asr_high", "orr", "orr_low", "orr_high", "n_harmful", "n_benign")


@dataclass
class RunSummary:
    """What a run directory holds, ready for plotting."""

    name: str
    path: Path
    config: dict[str, Any]
    steps: Any  # pandas.DataFrame with STEP_COLUMNS
    epochs: Any  # pandas.DataFrame with EPOCH_COLUMNS (refusal rates and separation in %)
    probe: list[dict[str, Any]] = field(default_factory=list)


def run_summary(run_dir: str | Path) -> RunSummary:
    """Step losses, per-epoch first-token refusal rates, config and probe records of one run."""
    run = RunFolder(run_dir)
    rows = run.read_metrics()
    steps = pd.DataFrame([{k: r.get(k) for k in STEP_COLUMNS} for r in rows if r.get("type") == "step"],
                         columns=list(STEP_COLUMNS))
    epochs = pd.DataFrame([_epoch_row(r) for r in rows if r.get("type") == "epoch"],
                          columns=[*EPOCH_COLUMNS, *GENERATION_COLUMNS])
    epochs = epochs.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    return RunSummary(run.name, run.path, run.read_config(), steps, epochs, read_json(run.probe, []))


def _epoch_row(row: dict[str, Any]) -> dict[str, Any]:
    """One epoch's rates; ``separation`` is the probe's cross-validated linear-probe accuracy in % (runs from
    before the separation score was recorded have none)."""
    out = {k: row.get(k) for k in EPOCH_COLUMNS}
    accuracy = (row.get("separation") or {}).get("probe_accuracy")
    out["separation"] = None if accuracy is None else round(100.0 * accuracy, 1)
    generated = row.get("generation") or {}
    for rate in ("asr", "orr"):
        out[rate] = generated.get(rate)
        out[f"{rate}_low"], out[f"{rate}_high"] = generated.get(f"{rate}_ci") or (None, None)
    out["n_harmful"], out["n_benign"] = generated.get("n_harmful"), generated.get("n_benign")
    return out


@dataclass
class RunComparison:
    a: RunSummary
    b: RunSummary
    config_diff: Any  # pandas.DataFrame: setting, <a>, <b> (only settings that differ)
    epochs: Any  # pandas.DataFrame: run, epoch, harmful_refusal, benign_refusal


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict | tuple) or value is None else str(value)


def compare_runs(a: str | Path, b: str | Path) -> RunComparison:
    """Two runs side by side: the settings that differ and both refusal curves (long format)."""
    sa, sb = run_summary(a), run_summary(b)
    name_a, name_b = sa.name, sb.name if sb.name != sa.name else f"{sb.name} (2)"
    keys = sorted(set(sa.config) | set(sb.config))
    diff = [{"setting": k, name_a: _show(sa.config.get(k)), name_b: _show(sb.config.get(k))}
            for k in keys if sa.config.get(k) != sb.config.get(k)]
    config_diff = pd.DataFrame(diff, columns=["setting", name_a, name_b])
    epochs = pd.concat([sa.epochs.assign(run=name_a), sb.epochs.assign(run=name_b)], ignore_index=True)
    return RunComparison(sa, sb, config_diff, epochs[["run", *EPOCH_COLUMNS]])
