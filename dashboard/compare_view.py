"""Reader, tables and plots of the Compare page. No Streamlit here: plain and testable.

A comparison folder is what ``python -m rrs compare --out DIR`` writes: ``DIR/compare.json`` =
``{"model", "settings", "methods", "modalities", "cells": {method: {modality: "relative/result.json"}},
"wall_s": {method: {"train": s | None, "eval": {modality: s}}}, "updated"}``; each cell file is an
``EvalResult.to_dict()`` JSON. Cells appear one by one while the comparison runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.eval_view import method_colors
from dashboard.style import style
from rrs.compare import TRAINED, CompareConfig, read_results
from rrs.evaluation.metrics import EvalResult
from rrs.models.base import MODALITIES
from rrs.runs.estimate import estimate_eval, estimate_steer, estimate_tune, format_duration
from rrs.store import RunFolder, read_json
from rrs.tuning import DEMO_CONFIG, TuneConfig

COMPARE_FILE = RunFolder.COMPARE
SYMBOLS = {"audio-text": "circle", "text-only": "square", "audio-only": "diamond"}
FORM_FIELDS = ("model", "limit", "samples", "modalities")


# ---- reading -------------------------------------------------------------------------------------
def find_comparisons(root: Path) -> list[Path]:
    """Folders one or two levels under ``root`` holding ``compare.json``, newest first."""
    found = [p.parent for p in [*root.glob(f"*/{COMPARE_FILE}"), *root.glob(f"*/*/{COMPARE_FILE}")]]
    return sorted(found, key=lambda p: ((p / COMPARE_FILE).stat().st_mtime, p.name), reverse=True)


def _cell_path(folder: Path, meta: dict[str, Any], method: str, modality: str) -> Path | None:
    rel = (meta.get("cells") or {}).get(method, {}).get(modality)
    return folder / rel if rel else None


def read_comparison(folder: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, EvalResult]]]:
    """``compare.json`` and the results that exist: ``{method: {modality: EvalResult}}``.

    Cells not written yet, unreadable, or holding another modality's result are left out (see
    :func:`cell_states`). ``ValueError`` if ``compare.json`` itself cannot be read.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / COMPARE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {folder / COMPARE_FILE}: {err}") from err
    return meta, read_results(folder, meta)


def cell_states(folder: Path, meta: dict[str, Any], results: dict[str, dict[str, EvalResult]]) -> dict:
    """``{(method, modality): "done" | "pending" | "unreadable"}`` over the declared grid."""
    states = {}
    for method in meta.get("methods") or []:
        for modality in meta.get("modalities") or []:
            path = _cell_path(folder, meta, method, modality)
            if modality in results.get(method, {}):
                states[(method, modality)] = "done"
            else:
                states[(method, modality)] = "unreadable" if path is not None and path.is_file() else "pending"
    return states


def precision_note(folder: Path, meta: dict[str, Any], states: dict) -> str | None:
    """Which cells ran under which generation precision, when they differ (None when all agree). Cells from
    before the comparison recorded its precision ran in fp32."""
    by: dict[str, list[str]] = {}
    for (method, modality), state in states.items():
        path = _cell_path(folder, meta, method, modality)
        if state == "done" and path is not None:
            precision = read_json(path, {}).get("precision") or "fp32"
            by.setdefault(precision, []).append(f"{method} · {modality}")
    if len(by) < 2:
        return None
    return "Cells ran under more than one precision: " + "; ".join(
        f"**{p}** ({len(cells)}): {', '.join(cells)}" for p, cells in sorted(by.items())) + "."


def ordered(meta: dict[str, Any], results: dict[str, dict[str, EvalResult]]) -> dict[str, dict[str, EvalResult]]:
    """``results`` with the methods in ``compare.json``'s order (methods with no result left out)."""
    methods = [m for m in meta.get("methods") or [] if m in results]
    return {m: results[m] for m in [*methods, *[m for m in results if m not in methods]]}


def baseline_of(methods: list[str]) -> str:
    return "vanilla" if "vanilla" in methods else methods[0]


# ---- the form ------------------------------------------------------------------------------------
def form_defaults() -> dict[str, Any]:
    """CompareConfig's model and modalities, with 20 items per set and 1 sample: a first run in minutes."""
    defaults = CompareConfig.defaults()
    return {"model": defaults["model"], "limit": 20, "samples": 1, "modalities": list(defaults["modalities"])}


def compare_config(values: dict[str, Any]) -> CompareConfig:
    """The comparison's config from the form's values; ``ValueError`` if they are not one."""
    v = {**form_defaults(), **values}
    model = str(v["model"]).strip()
    if not model:
        raise ValueError("choose a model")
    modalities = tuple(m for m in MODALITIES if m in (v["modalities"] or []))
    if not modalities:
        raise ValueError("choose at least one modality")
    return CompareConfig(model=model, limit=int(v["limit"]), samples=int(v["samples"]), modalities=modalities)


# ---- tables --------------------------------------------------------------------------------------
def wall_frame(meta: dict[str, Any]) -> Any:
    """Seconds per method: training, evaluation per modality, total (``—`` where not recorded)."""
    modalities = meta.get("modalities") or list(MODALITIES)
    rows = []
    for method in meta.get("methods") or list(meta.get("wall_s") or {}):
        wall = (meta.get("wall_s") or {}).get(method) or {}
        evals = wall.get("eval") or {}
        row = {"Method": method, "Train s": _seconds(wall.get("train"))}
        row.update({f"Eval {m} s": _seconds(evals.get(m)) for m in modalities})
        known = [v for v in [wall.get("train"), *evals.values()] if v is not None]
        row["Total s"] = _seconds(sum(known) if known else None)
        rows.append(row)
    return pd.DataFrame(rows, columns=["Method", "Train s", *[f"Eval {m} s" for m in modalities], "Total s"])


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{float(value):,.1f}"


def settings_text(meta: dict[str, Any]) -> str:
    """One readable line: model, sets, sizes, decoding and judge (the full settings are in compare.json)."""
    s = meta.get("settings") or {}
    updated = meta.get("updated")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if updated else "unknown"
    parts = [f"Model **{meta.get('model', '?')}**"]
    if s.get("harmful") or s.get("benign"):
        parts.append(f"harmful `{s.get('harmful', '?')}` · benign `{s.get('benign', '?')}`")
    if s:
        limit = s.get("limit")
        parts.append(f"{'all' if limit is None else limit} items per set × {s.get('samples', '?')} sampled answers")
        parts.append(f"{s.get('max_new_tokens', '?')} new tokens · {s.get('judge', '?')} judge")
        epochs = (s.get("train_overrides") or {}).get("epochs")
        if epochs:
            parts.append(f"tuned methods trained {epochs} epochs")
    else:
        parts.append("no settings recorded")
    parts.append(f"updated {when}")
    return " · ".join(parts)


def compare_estimate(values: dict[str, Any]) -> str:
    """The form's comparison time on a 2-core CPU: training each tuned method with the demo configuration,
    the SARSteer vectors and sweep, and every evaluation cell (rrs.runs.estimate)."""
    try:
        cfg = compare_config(values)
    except (ValueError, KeyError):
        return "—"
    trained = [m for m in cfg.methods if m in TRAINED]
    tune = estimate_tune(TuneConfig.from_dict({**DEMO_CONFIG.to_dict(), "model": cfg.model, **cfg.train_overrides}))
    cells = estimate_eval(cfg.model, 2 * (cfg.limit or 100), cfg.samples, cfg.max_new_tokens,
                          len(cfg.methods) * len(cfg.modalities))
    vectors = estimate_steer(cfg.model, cfg.steer_pairs)
    if tune is None or cells is None or vectors is None:
        return "no estimate for this model (reference figures exist for the embedded models)"
    steering = 0.0
    if any("steer" in m for m in cfg.methods):  # the vectors, then the α sweep (one answer a query) unless fixed
        sweep = 0.0 if cfg.steer_alpha is not None else estimate_eval(
            cfg.model, 2 * cfg.sweep_limit, 1, cfg.max_new_tokens, len(cfg.sweep_alphas) + 1) or 0.0
        steering = vectors + sweep
    total = len(trained) * tune.seconds + cells + steering
    return (f"≈ {format_duration(total)} on a 2-core CPU: {len(trained)} trained methods × "
            f"{format_duration(tune.seconds)}, {len(cfg.methods) * len(cfg.modalities)} evaluation cells "
            f"{format_duration(cells)}, SARSteer vectors and α sweep {format_duration(steering)}. A finished cell "
            "is kept if you stop it.")


def settings_table(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Every recorded setting as a row (``setting``, ``value``), lists joined, for a tidy table."""
    rows = []
    for key, value in sorted((meta.get("settings") or {}).items()):
        if isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} = {v}" for k, v in value.items()) or "—"
        else:
            shown = "—" if value is None else str(value)
        rows.append({"setting": key.replace("_", " "), "value": shown})
    return rows


# ---- figures -------------------------------------------------------------------------------------
def scatter_figure(results: dict[str, dict[str, EvalResult]], baseline: str = "vanilla") -> go.Figure:
    """ASR against ORR: one point per method and modality; colour = method, symbol = modality."""
    colors = method_colors(list(results))
    fig = go.Figure()
    for method, per in results.items():
        points = [(m, r) for m in MODALITIES if (r := per.get(m)) and r.asr is not None and r.orr is not None]
        if not points:
            continue
        base = method == baseline
        fig.add_trace(go.Scatter(
            x=[r.orr for _, r in points], y=[r.asr for _, r in points], name=method, mode="markers+text",
            text=[method if base else "" for _ in points], textposition="top center",
            customdata=[m for m, _ in points],
            marker=dict(color=colors[method], symbol=[SYMBOLS[m] for m, _ in points], size=18 if base else 12,
                        line=dict(color="#000000", width=2.5 if base else 0.5)),
            hovertemplate=f"<b>{method}</b> · %{{customdata}}<br>ASR %{{y:.1f}}%<br>ORR %{{x:.1f}}%<extra></extra>"))
    for modality in MODALITIES:  # legend entries for the symbols
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=modality, legendgroup="modality",
                                 marker=dict(color="#B0B0B0", symbol=SYMBOLS[modality], size=10)))
    fig.add_annotation(x=0, y=0, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False,
                       text="↙ better: fewer harmful answered, fewer benign refused", font=dict(color="#2CA02C"))
    fig.update_layout(title="ASR vs ORR per method and modality", xaxis_title="ORR % (benign refused) ↓",
                      yaxis_title="ASR % (harmful answered) ↓", xaxis_range=[-3, 103], yaxis_range=[-3, 103])
    style(fig, height=460)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="v", x=1.02, y=1, yanchor="top"))
    return fig
