"""Form helpers, tables and plots of the Evaluate page. No Streamlit here: plain and testable.

Jobs and result files: :mod:`rrs.runs` and :mod:`rrs.runs.results`; the Table 3 numbers: :mod:`rrs.evaluation.report`.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.style import METHOD_COLORS, style
from rrs.data import EVAL_SETS as BUILTIN_SETS
from rrs.evaluation.judges import JUDGES  # noqa: F401 - the page's judge choices
from rrs.evaluation.report import write_report
from rrs.models.base import MODALITIES
from rrs.runs.configs import EvalJob
from rrs.tuning.epoch_choice import ASR_FRACTION, MAX_BENIGN_RISE

HARMFUL_SETS = tuple(k for k in BUILTIN_SETS if "harmful" in k or k == "harmbench")
BENIGN_SETS = tuple(k for k in BUILTIN_SETS if k not in HARMFUL_SETS)
#: The set choice that means "use the file path typed next to it".
FILE_OPTION = "a CSV/JSONL file…"
NO_ADAPTER = "— none (vanilla model) —"
#: Colours for methods without a fixed one in ``METHOD_COLORS``.
EXTRA_COLORS = ("#637939", "#7B4173", "#E7BA52", "#5254A3", "#843C39", "#6B6ECF", "#8CA252")


def method_colors(methods: list[str]) -> dict[str, str]:
    colors, extra = {}, iter(EXTRA_COLORS * 10)
    for method in methods:
        key = method.lower()
        # The exact name first, then the longest known prefix ("rrs-m51" is an RRS run; "rrs+sarsteer" is not RRS).
        prefixes = sorted((n for n in METHOD_COLORS if key.startswith(n)), key=len, reverse=True)
        known = METHOD_COLORS.get(key) or (METHOD_COLORS[prefixes[0]] if prefixes else None)
        colors[method] = known or next(extra)
    return colors


def job_name(method: str, modality: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", method).strip("-") or "eval"
    return f"{safe}-{modality}-{time.strftime('%Y%m%d-%H%M%S')}"


#: Which checkpoint of a run the form offers (EvalJob.epoch): a number is for the command line.
EPOCH_CHOICES = ("last", "best")
#: The form's fields beyond EvalJob's own: the adapter is a run's name, "method" is EvalJob's ``name``.
FORM_FIELDS = ("model", "adapter", "epoch", "method", "harmful", "benign", "modality", "samples", "limit", "max_new_tokens",
               "judge", "device", "seed")


def form_defaults() -> dict[str, Any]:
    """EvalJob's defaults, with 20 items per set (0 = all) for a first run that finishes in minutes."""
    values = {**EvalJob.defaults(), "adapter": NO_ADAPTER, "method": "", "limit": 20}
    values.update(harmful=HARMFUL_SETS[0], benign=BENIGN_SETS[0], harmful_file="", benign_file="", name="")
    return {k: v for k, v in values.items() if k in (*FORM_FIELDS, "harmful_file", "benign_file", "name")}


def eval_config(values: Mapping[str, Any]) -> EvalJob:
    """The evaluation's config from the form's values; ``ValueError`` if they are not one.

    ``values``: model, adapter (a run directory or ""), epoch (of the run: "last", "best" or a number), method (name in the table; "" = vanilla or the run's
    name), harmful, benign (built-in set names or file paths), modality, samples, limit (0 = all),
    max_new_tokens, judge, device, seed.
    """
    v = dict(values)
    harmful, benign = str(v.get("harmful") or "").strip(), str(v.get("benign") or "").strip()
    if not harmful or not benign:
        raise ValueError("choose a harmful and a benign set")
    adapter = str(v.get("adapter") or "").strip() or None
    return EvalJob.from_dict({
        **{k: v[k] for k in ("modality", "samples", "max_new_tokens", "judge", "device", "seed") if k in v},
        "model": str(v.get("model", "")).strip(), "adapter": adapter,
        "epoch": str(v.get("epoch") or "last") if adapter else "last",
        "name": str(v.get("method") or "").strip() or None, "harmful": harmful, "benign": benign,
        "limit": int(v.get("limit") or 0) or None}, strict=True)


# ---- tables --------------------------------------------------------------------------------------
def table3_frame(rows: list[dict[str, Any]], baseline: str = "vanilla") -> Any:
    """Table 3 rows (``report.table_rows``) as a DataFrame with the paper's column names and cells:
    two decimals, ``N/A`` where a modality was not evaluated, ``-`` for the baseline's own NSI."""
    columns = {"method": "Method"}
    for m in MODALITIES:
        col = m.replace("-", "_")
        columns[f"asr_{col}"] = f"ASR {m} ↓"
        columns[f"nsi_{col}"] = f"NSI {m} ↑"
    columns["orr"] = "ORR ↓"
    columns["avg_nsi"] = "Avg. NSI ↑"
    cells = []
    for row in rows:
        out = {"Method": row["method"]}
        for key, title in list(columns.items())[1:]:
            value = row.get(key)
            if value is not None:
                out[title] = f"{value:.2f}"
            elif (key.startswith("nsi_") and row.get("asr_" + key[4:]) is not None) or key == "avg_nsi":
                out[title] = "-"
            else:
                out[title] = "N/A"
        cells.append(out)
    return pd.DataFrame(cells, columns=list(columns.values()))


def _interval(ci: Any) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci and len(ci) == 2 else "—"


def entries_frame(entries: list[Any]) -> Any:
    """One row per result: rates with their 95% intervals (bootstrapped over queries) and their n."""
    return pd.DataFrame([{
        "method": e.method, "modality": e.modality, "ASR %": e.asr, "ASR 95% CI": _interval(e.asr_ci),
        "ORR %": e.orr, "ORR 95% CI": _interval(e.orr_ci), "harmful": e.n_harmful,
        "benign": e.n_benign, "samples": e.samples, "judge": e.judge, "model": e.model, "file": e.name,
    } for e in entries])


def category_figure(rows: list[dict[str, Any]], metric: str, modality: str) -> go.Figure:
    """Grouped bars: ``metric`` (``asr`` or ``orr``) per category, one bar per method."""
    rows = [r for r in rows if r["modality"] == modality and r.get(metric) is not None]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    colors = method_colors(methods)
    fig = go.Figure()
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        count = "n_harmful" if metric == "asr" else "n_benign"
        fig.add_trace(go.Bar(x=[r["category"] for r in mine], y=[r[metric] for r in mine], name=method,
                             marker_color=colors[method], customdata=[r.get(count, 0) for r in mine],
                             hovertemplate=f"%{{x}}<br>{method}: %{{y:.1f}}%<br>%{{customdata}} queries<extra></extra>"))
    what = "ASR (harmful answered)" if metric == "asr" else "ORR (benign refused)"
    fig.update_layout(barmode="group", title=f"{what} per category · {modality}", yaxis_title="%",
                      yaxis_range=[0, 102], xaxis_tickangle=-30)
    style(fig, height=400)
    fig.update_layout(margin=dict(l=10, r=10, t=80, b=10), title=dict(y=0.98, yanchor="top"))
    return fig


#: What "RRS visibly works" means in this project (issue targets, not the paper's).
TARGET_ASR_FRACTION, TARGET_ORR_RISE = ASR_FRACTION, MAX_BENIGN_RISE  # one definition: rrs.tuning.epoch_choice
TARGET_TEXT = f"ASR at most half the baseline's and ORR at most {TARGET_ORR_RISE:g} points higher"


def _rated(results: Mapping[str, Mapping[str, Any]], modality: str) -> dict[str, Any]:
    """``{method: result}`` of the methods with both an ASR and an ORR in ``modality``."""
    return {m: r for m, per in results.items()
            if (r := per.get(modality)) is not None and r.asr is not None and r.orr is not None}


def target_box(base: Any) -> tuple[float, float]:
    """``(highest ORR, highest ASR)`` a result may have to meet both targets against ``base``."""
    return base.orr + TARGET_ORR_RISE, base.asr * TARGET_ASR_FRACTION


def meeting_targets(results: Mapping[str, Mapping[str, Any]], modality: str, baseline: str) -> list[str]:
    """The methods whose ``modality`` result meets both targets against ``baseline`` (point estimates)."""
    rated = _rated(results, modality)
    if baseline not in rated:
        return []
    orr_max, asr_max = target_box(rated[baseline])
    return [m for m, r in rated.items() if m != baseline and r.asr <= asr_max and r.orr <= orr_max]


def tradeoff_figure(results: Mapping[str, Mapping[str, Any]], modality: str, baseline: str) -> go.Figure:
    """ASR against ORR with their 95% intervals, one labelled point per method in ``modality``; the green box is
    where a method meets both targets against ``baseline`` (``target_box``)."""
    per = _rated(results, modality)
    colors = method_colors(list(per))
    fig = go.Figure()
    base = per.get(baseline)
    if base is not None:
        orr_max, asr_max = target_box(base)
        fig.add_shape(type="rect", x0=0, x1=orr_max, y0=0, y1=asr_max, line=dict(color="#2CA02C", dash="dot"),
                      fillcolor="rgba(44,160,44,0.10)", layer="below")
        # beside the box's middle, away from the points that crowd its top edge
        fig.add_annotation(x=orr_max, y=asr_max / 2, xanchor="left", xshift=4, showarrow=False, align="left",
                           text=f"target<br>ASR ≤ {asr_max:.1f}<br>ORR ≤ {orr_max:.1f}", font=dict(color="#2CA02C"))
    widest = base.orr + TARGET_ORR_RISE if base is not None else 0.0
    for method, r in per.items():
        asr_lo, asr_hi = (r.asr_ci or [r.asr, r.asr])[:2]
        orr_lo, orr_hi = (r.orr_ci or [r.orr, r.orr])[:2]
        fig.add_trace(go.Scatter(
            x=[r.orr], y=[r.asr], name=method, mode="markers",
            error_x=dict(type="data", symmetric=False, array=[orr_hi - r.orr], arrayminus=[r.orr - orr_lo]),
            error_y=dict(type="data", symmetric=False, array=[asr_hi - r.asr], arrayminus=[r.asr - asr_lo]),
            marker=dict(color=colors[method], size=14 if method == baseline else 11,
                        line=dict(color="#000000", width=2 if method == baseline else 0.5)),
            hovertemplate=(f"<b>{method}</b><br>ASR %{{y:.1f}}% [{asr_lo:.1f}, {asr_hi:.1f}] · n {r.n_harmful}"
                           f"<br>ORR %{{x:.1f}}% [{orr_lo:.1f}, {orr_hi:.1f}] · n {r.n_benign}<extra></extra>")))
        # a label right of its point on a white ground, readable over the interval bars
        fig.add_annotation(x=r.orr, y=r.asr, text=method, showarrow=False, xanchor="left", xshift=9,
                           bgcolor="rgba(255,255,255,0.85)", font=dict(color=colors[method]))
        widest = max(widest, orr_hi)
    fig.update_layout(title=f"Where each result lands · {modality} (bars: 95% intervals)",
                      xaxis_title="ORR % (benign refused) ↓", yaxis_title="ASR % (harmful answered) ↓",
                      yaxis_range=[-2, 102], xaxis_range=[-0.04 * widest - 0.1, 1.12 * widest + 1], showlegend=False)
    style(fig, height=440)
    return fig


def report_files(results: Any, baseline: str) -> dict[str, bytes]:
    """``write_report`` into a temporary folder; the files' bytes by kind (csv, latex, markdown, ...)."""
    with tempfile.TemporaryDirectory(prefix="rrs-report-") as tmp:
        paths = write_report(results, tmp, baseline=baseline)
        return {kind: Path(path).read_bytes() for kind, path in paths.items()}
