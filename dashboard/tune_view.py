"""Form helpers and plots of the Tune page. No Streamlit here: everything is plain and testable.

The run itself is a job (``python -m rrs train --config RUN/config.json --out RUN``, see :mod:`rrs.runs`); the
page only reads its run directory. Maps come from :mod:`rrs.projection`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.style import LABEL_COLORS, MUTED_COLOR, SELECTED_COLOR, style
from rrs.config import layers_text, parse_layers
from rrs.projection import METHOD_LABELS, EpochMap
from rrs.runs.estimate import estimate_tune, format_duration
from rrs.tuning import DEMO_CONFIG, PRESETS, TuneConfig
from rrs.tuning.epoch_choice import EpochChoice, choose_epoch

#: Colours for categories (plotly's qualitative "Dark24", enough for the 14 BeaverTails categories).
CATEGORY_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)


# ---- the form ------------------------------------------------------------------------------------
#: The form's fields: TuneConfig's, with the LoRA layers as text (``rrs.config.parse_layers``).
FORM_FIELDS = ("model", "device", "method", "pairs", "modality", "top_percent", "penalty", "lora_r", "lora_alpha",
               "lora_dropout", "layers", "lr", "epochs", "batch_size", "grad_accum", "pairs_per_category",
               "pair_selection", "benign_anchors", "probe_per_label", "gen_probe_per_label", "seed")


def preset_values(name: str) -> dict[str, Any]:
    """The form's values of a preset (``rrs.tuning.PRESETS``); model and device are left as they are."""
    cfg = PRESETS[name]
    values = cfg.to_dict()
    values.update(layers=layers_text(cfg.lora_layers), pairs_per_category=cfg.pairs_per_category or 0)
    return {k: values[k] for k in FORM_FIELDS if k not in ("model", "device")}


def preset_label(name: str, model: str, runs_root: Any = None) -> str:
    """``name · ≈ time`` for the preset picker, the time from :func:`rrs.runs.estimate.estimate_tune`."""
    estimate = estimate_tune(PRESETS[name].__class__.from_dict({**PRESETS[name].to_dict(), "model": model}), runs_root)
    return f"{name} · ≈ {format_duration(estimate.seconds)}" if estimate else f"{name} · time unknown for this model"


def form_defaults() -> dict[str, Any]:
    """The form starts from the CPU demo configuration (rrs.tuning.DEMO_CONFIG)."""
    values = DEMO_CONFIG.to_dict()
    values.update(layers=layers_text(DEMO_CONFIG.lora_layers), pairs_per_category=DEMO_CONFIG.pairs_per_category or 0)
    return {name: values[name] for name in FORM_FIELDS}


def tune_config(values: dict[str, Any]) -> TuneConfig:
    """The run's config from the form's values (``ValueError`` if they are not one)."""
    v = {**form_defaults(), **values}
    fields = {k: v[k] for k in FORM_FIELDS if k != "layers"}
    fields.update(model=str(v["model"]).strip(), pairs=str(v["pairs"]).strip() or "mirror",
                  lora_layers=parse_layers(str(v["layers"])), pairs_per_category=int(v["pairs_per_category"]) or None)
    if not fields["model"]:
        raise ValueError("choose a model (embedded, a checkpoint folder, or a cached model id)")
    base = PRESETS.get(str(v.get("preset", "demo")), DEMO_CONFIG)
    return TuneConfig.from_dict({**base.to_dict(), **fields}, strict=True)


def progress_of(status: dict[str, Any]) -> tuple[float, str]:
    """Fraction done and a one-line description for the progress bar."""
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    fraction = min(1.0, step / total) if total else (1.0 if status.get("state") == "done" else 0.0)
    parts = [status.get("state", "unknown")]
    if total:
        parts.append(f"step {step}/{total}")
    if status.get("epoch") is not None:
        of = f" of {status['epochs']}" if status.get("epochs") else ""
        parts.append(f"{status['epoch']}{of} epochs done")
    if status.get("loss") is not None:
        parts.append(f"loss {status['loss']:.4g}")
    if status.get("message"):
        parts.append(str(status["message"]))
    return fraction, " · ".join(parts)


# ---- figures -------------------------------------------------------------------------------------
def _styled(fig: go.Figure, height: int) -> go.Figure:
    """``style`` plus room for the title above the horizontal legend."""
    style(fig, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=80, b=10), title=dict(y=0.98, yanchor="top"))
    return fig


def loss_figure(steps: Any) -> go.Figure:
    """Representation loss, penalty (right axis) and total loss per step."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["rep_loss"], name="rep_loss ‖f−V_tgt‖²", mode="lines",
                             line=dict(color=SELECTED_COLOR, width=4)))
    # total = rep_loss + λ·penalty, which often lies on top of rep_loss: dashed and drawn over it, so both show
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["loss"], name="total", mode="lines",
                             line=dict(color="#222222", width=1.5, dash="dash")))
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["penalty"], name="penalty ‖Δθ‖² (right)", mode="lines",
                             line=dict(color=MUTED_COLOR, dash="dot"), yaxis="y2"))
    fig.update_layout(title="Loss per step", xaxis_title="step", yaxis_title="loss",
                      yaxis2=dict(title="penalty", overlaying="y", side="right", showgrid=False))
    return _styled(fig, 360)


def refusal_figure(epochs: Any, title: str = "First-token refusal on the probe set",
                   best: int | None = None) -> go.Figure:
    """Per-epoch harmful and benign first-token refusal rates (%); ``best`` marks the chosen epoch."""
    fig = go.Figure()
    if best is not None:
        fig.add_vline(x=best, line=dict(color=MUTED_COLOR, dash="dash"), annotation_text=f"best: epoch {best}",
                      annotation_position="top")
    markers = {"harmful": dict(size=13, symbol="circle"), "benign": dict(size=7, symbol="diamond")}
    for label in ("harmful", "benign"):  # a big harmful dot under a small benign one: equal values show both
        fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs[f"{label}_refusal"], name=label,
                                 mode="lines+markers", line=dict(color=LABEL_COLORS[label]),
                                 marker=markers[label]))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="refusal %", yaxis_range=[-3, 103],
                      xaxis=dict(dtick=1))
    return _styled(fig, 360)


def best_epoch(epochs: Any, kept: Sequence[int] | None = None) -> EpochChoice | None:
    """The run's best epoch by its probe (rrs.tuning.epoch_choice) among ``kept`` checkpoints (default: every
    scored epoch); None before epoch 1 is scored."""
    rows = epochs[["epoch", "harmful_refusal", "benign_refusal"]].dropna().to_dict("records")
    try:  # choose_epoch refuses a run without an epoch-0 row or a scored epoch >= 1
        return choose_epoch(rows, [int(r["epoch"]) for r in rows] if kept is None else kept)
    except ValueError:
        return None


def has_generation(epochs: Any) -> bool:
    """Whether the run measured generation-based ASR/ORR per epoch (``gen_probe_per_label``)."""
    return "asr" in epochs and bool(epochs["asr"].notna().any())


def generation_figure(epochs: Any) -> go.Figure:
    """Per-epoch ASR (harmful answers not refused) and ORR (benign answers refused) of the generation probe,
    with their 95% intervals as error bars and n in the hover."""
    fig = go.Figure()
    rows = epochs[epochs["asr"].notna()]
    for rate, label, name in (("asr", "harmful", "ASR (harmful answered)"), ("orr", "benign", "ORR (benign refused)")):
        n = rows[f"n_{label}"]
        fig.add_trace(go.Scatter(
            x=rows["epoch"], y=rows[rate], name=name, mode="lines+markers", line=dict(color=LABEL_COLORS[label]),
            error_y=dict(type="data", symmetric=False, array=rows[f"{rate}_high"] - rows[rate],
                         arrayminus=rows[rate] - rows[f"{rate}_low"], thickness=1.2, width=4),
            customdata=np.stack([rows[f"{rate}_low"], rows[f"{rate}_high"], n], axis=-1),
            hovertemplate=f"{name}: %{{y:.1f}}%% [%{{customdata[0]:.1f}}, %{{customdata[1]:.1f}}]"
                          "<br>n = %{customdata[2]} answers<extra></extra>"))
    fig.update_layout(title="ASR and ORR of sampled answers (keyword judge, 95% CI)", xaxis_title="epoch",
                      yaxis_title="%", yaxis_range=[-3, 103], xaxis=dict(dtick=1))
    return _styled(fig, 360)


def separation_figure(epochs: Any) -> go.Figure:
    """Per-epoch separation score: cross-validated linear-probe accuracy, harmful vs benign probe states."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs["separation"], name="separation", mode="lines+markers",
                             line=dict(color=SELECTED_COLOR)))
    fig.add_hline(y=50, line=dict(color=MUTED_COLOR, dash="dot"), annotation_text="chance")
    fig.update_layout(title="Separation score", xaxis_title="epoch", yaxis_title="probe accuracy %", yaxis_range=[40, 102], xaxis=dict(dtick=1))
    return _styled(fig, 300)


def _hover(record: dict[str, Any]) -> str:
    prompt = "<br>".join(textwrap.wrap(str(record.get("prompt", "")), 70)[:4])
    return f"<b>{record.get('label', '?')}</b> · {record.get('category', '?')}<br>{prompt}"


def _groups(probe: Sequence[dict[str, Any]], n: int, color_by: str) -> list[tuple[str, np.ndarray, str]]:
    """``(name, point indices, colour)`` per trace."""
    key = "label" if color_by == "label" else "category"
    values = [str(probe[i].get(key, "?")) if i < len(probe) else "?" for i in range(n)]
    if key == "label":
        names = [x for x in ("harmful", "benign") if x in values] + sorted(set(values) - {"harmful", "benign"})
        colors = {x: LABEL_COLORS.get(x, MUTED_COLOR) for x in names}
    else:
        names = sorted(set(values))
        colors = {x: CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i, x in enumerate(names)}
    arr = np.array(values)
    return [(name, np.flatnonzero(arr == name), colors[name]) for name in names]


def map_figure(emap: EpochMap, probe: Sequence[dict[str, Any]], epoch: int | None = None,
               color_by: str = "label", height: int = 560) -> go.Figure:
    """The probe points on the map at ``epoch`` with ▶ play over all epochs (fixed axes) and hover text.

    One trace per label (or category); with category colours, harmful points are circles and benign
    ones crosses. A point's ``customdata`` is its index in ``probe.json``. The figure does not depend on
    the selection: a changed figure would reset the selection in ``st.plotly_chart``.
    """
    epochs = list(emap.epochs)
    index = epochs.index(epoch) if epoch in epochs else len(epochs) - 1
    coords = emap.coords
    n = coords.shape[1]
    groups = _groups(probe, n, color_by)
    hover = np.array([_hover(probe[i]) if i < len(probe) else str(i) for i in range(n)], dtype=object)
    is_harmful = np.array([i < len(probe) and probe[i].get("label") == "harmful" for i in range(n)])
    title = f"{METHOD_LABELS.get(emap.method, emap.method)} map of the probe set · epoch "
    data = []
    for name, idx, color in groups:
        marker: dict[str, Any] = dict(color=color, size=8, opacity=0.8, line=dict(width=0.5, color="white"))
        if color_by != "label":
            marker["symbol"] = np.where(is_harmful[idx], "circle", "x").tolist()
        data.append(go.Scatter(
            x=coords[index, idx, 0], y=coords[index, idx, 1], mode="markers", name=name, marker=marker,
            customdata=idx, hovertext=hover[idx], hovertemplate="%{hovertext}<extra></extra>"))
    frames = [go.Frame(name=str(e), data=[dict(type="scatter", x=coords[k, idx, 0], y=coords[k, idx, 1])
                                          for _, idx, _ in groups],
                       traces=list(range(len(groups))), layout=dict(title_text=f"<b>{title}{e}</b>"))
              for k, e in enumerate(epochs)]
    (x0, x1), (y0, y1) = emap.ranges()
    fig = go.Figure(data=data, frames=frames)
    play = dict(label="▶ play", method="animate",  # redraw: the title names the epoch being shown
                args=[None, dict(frame=dict(duration=700, redraw=True), fromcurrent=False,
                                 transition=dict(duration=450, easing="cubic-in-out"), mode="immediate")])
    pause = dict(label="❚❚", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
    fig.update_layout(
        title=f"{title}{epochs[index]}", xaxis=dict(range=[x0, x1], autorange=False, zeroline=False, title=None),
        yaxis=dict(range=[y0, y1], autorange=False, zeroline=False, title=None),
        updatemenus=[dict(type="buttons", direction="left", buttons=[play, pause], showactive=False,
                          x=0, y=-0.09, xanchor="left", yanchor="top", pad=dict(t=4, r=8))],
        hovermode="closest", uirevision=f"{emap.method}-{color_by}",  # no dragmode: a click selects a point
    )
    _styled(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=80, b=80))  # room below the axis labels for ▶ / ❚❚
    return fig


def selection_details(run_dir: Any, probe: Sequence[dict[str, Any]], picked: Sequence[int]) -> dict[str, Any]:
    """What the page shows for picked points: the first one's text and audio (WAV bytes or None), and a
    table of all picked items."""
    picked = [i for i in picked if 0 <= i < len(probe)]
    if not picked:
        return {}
    first = probe[picked[0]]
    audio = first.get("audio")
    path = Path(run_dir) / audio if audio else None
    return {
        "index": picked[0],
        "text": f"**{first.get('label', '?')}** · {first.get('category', '?')} — {first.get('prompt', '')}",
        "audio": path.read_bytes() if path is not None and path.is_file() else None,
        "table": [{k: probe[i].get(k) for k in ("label", "category", "prompt")} for i in picked],
    }


def selected_points(event: Any) -> list[int]:
    """Probe indices of the points picked on the map (``st.plotly_chart(..., on_select="rerun")``)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    picked = []
    for point in points or []:
        value = point.get("customdata")
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None:
            picked.append(int(value))
    return picked
