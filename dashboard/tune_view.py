"""Form helpers and plots of the Tune page. No Streamlit here: everything is plain and testable.

The run itself is a job (``python -m rrs train ... --out RUN``, see :mod:`rrs.jobs`); the page only reads
its run directory. Maps come from :mod:`rrs.projection`.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.style import LABEL_COLORS, MUTED_COLOR, SELECTED_COLOR, style
from rrs.jobs import ACTIVE_STATES  # noqa: F401 - the pages read it from here
from rrs.projection import METHOD_LABELS, EpochMap
from rrs.tuning import DEMO_CONFIG

RESUMABLE_STATES = ("stopped", "died", "failed")
STATE_ICONS = {"starting": "⏳", "preparing": "⏳", "running": "▶️", "done": "✅", "failed": "❌",
               "stopped": "⏸️", "died": "💀", "unknown": "❔"}
MODALITIES = ("audio-text", "text-only", "audio-only")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
#: Colours for categories (plotly's qualitative "Dark24", enough for the 14 BeaverTails categories).
CATEGORY_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)


# ---- job status ----------------------------------------------------------------------------------
def current_status(run_dir: Any) -> dict[str, Any]:
    from rrs.jobs import job_state

    return job_state(run_dir)


def stop_run(run_dir: Any) -> bool:
    from rrs.jobs import stop_job

    return stop_job(run_dir)


# ---- the form ------------------------------------------------------------------------------------
def layers_text(layers: Sequence[int] | None) -> str:
    """``(16, ..., 23)`` -> ``"16-23"``; ``None`` -> ``"all"``."""
    if not layers:
        return "all"
    layers = sorted(int(x) for x in layers)
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))


def check_layers(text: str) -> str:
    """The layers string normalised for ``--lora-layers``; ``ValueError`` if it is not one."""
    text = text.replace(" ", "").lower()
    if text == "all":
        return text
    if re.fullmatch(r"\d+-\d+", text):
        lo, hi = (int(x) for x in text.split("-"))
        if lo > hi:
            raise ValueError(f"layer range {text!r} runs backwards")
        return text
    if re.fullmatch(r"\d+(,\d+)*", text):
        return text
    raise ValueError(f"layers {text!r}: write 'all', a range like '16-23' or a list like '20,21,22'")


def default_run_name() -> str:
    return time.strftime("rrs-%Y%m%d-%H%M%S")


def check_run_name(name: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name) or name == "evals":
        raise ValueError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 80, not 'evals')")
    return name


def new_job_folder(parent: Path, name: str) -> Path:
    """``parent/<name>`` for a new job; ``ValueError`` for a bad name or one that is taken."""
    folder = parent / check_run_name(name)
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder.name!r} already exists; choose another name")
    return folder


#: Form defaults: the CPU demo configuration (rrs.tuning.DEMO_CONFIG).
FORM_DEFAULTS: dict[str, Any] = {
    "model": "embedded",
    "device": "auto",
    "method": DEMO_CONFIG.method,
    "pairs": DEMO_CONFIG.pairs,
    "modality": DEMO_CONFIG.modality,
    "top_percent": DEMO_CONFIG.top_percent,
    "penalty": DEMO_CONFIG.penalty,
    "lora_r": DEMO_CONFIG.lora_r,
    "lora_alpha": DEMO_CONFIG.lora_alpha,
    "lora_dropout": DEMO_CONFIG.lora_dropout,
    "layers": layers_text(DEMO_CONFIG.lora_layers),
    "lr": DEMO_CONFIG.lr,
    "epochs": DEMO_CONFIG.epochs,
    "batch_size": DEMO_CONFIG.batch_size,
    "grad_accum": DEMO_CONFIG.grad_accum,
    "pairs_per_category": DEMO_CONFIG.pairs_per_category or 0,
    "probe_per_label": DEMO_CONFIG.probe_per_label,
    "seed": DEMO_CONFIG.seed,
}


def train_args(values: dict[str, Any]) -> list[str]:
    """``python -m rrs train`` arguments (without ``--out``) for the form's values; ``ValueError`` if bad."""
    v = {**FORM_DEFAULTS, **values}
    model = str(v["model"]).strip()
    if not model:
        raise ValueError("choose a model (embedded, a checkpoint folder, or a cached model id)")
    args = [
        "train", "--model", model, "--device", str(v["device"]), "--method", str(v["method"]), "--pairs", str(v["pairs"]).strip() or "mirror",
        "--modality", str(v["modality"]), "--top", f"{float(v['top_percent']):g}",
        "--penalty", f"{float(v['penalty']):g}", "--lora-r", str(int(v["lora_r"])),
        "--lora-alpha", str(int(v["lora_alpha"])), "--lora-dropout", f"{float(v['lora_dropout']):g}",
        "--lora-layers", check_layers(str(v["layers"])), "--lr", f"{float(v['lr']):g}",
        "--epochs", str(int(v["epochs"])), "--batch-size", str(int(v["batch_size"])),
        "--grad-accum", str(int(v["grad_accum"])), "--probe-per-label", str(int(v["probe_per_label"])),
        "--seed", str(int(v["seed"])),
    ]
    if int(v["pairs_per_category"]) > 0:
        args += ["--pairs-per-category", str(int(v["pairs_per_category"]))]
    if not 0 < float(v["top_percent"]) <= 100:
        raise ValueError("top-m% must lie in (0, 100]")
    return args


def resume_args(status: dict[str, Any]) -> list[str]:
    """Arguments that resume a run: its original ``train`` arguments plus ``--resume``.

    ``python -m rrs train --resume`` reads the saved ``config.json``; the original arguments matter only
    for a run that died before writing it.
    """
    command = [str(x) for x in status.get("command") or []]
    if "train" in command:
        args = command[command.index("train"):]
        if "--out" in args:  # start_job appends --out itself
            cut = args.index("--out")
            args = args[:cut] + args[cut + 2:]
    else:
        args = ["train"]
    return args if "--resume" in args else [*args, "--resume"]


def progress_of(status: dict[str, Any]) -> tuple[float, str]:
    """Fraction done and a one-line description for the progress bar."""
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    fraction = min(1.0, step / total) if total else (1.0 if status.get("state") == "done" else 0.0)
    parts = [status.get("state", "unknown")]
    if total:
        parts.append(f"step {step}/{total}")
    if status.get("epoch") is not None:
        parts.append(f"epoch {status['epoch']}")
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
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["loss"], name="total", mode="lines",
                             line=dict(color="#222222", width=2)))
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["rep_loss"], name="rep_loss ‖f−V_tgt‖²", mode="lines",
                             line=dict(color=SELECTED_COLOR)))
    fig.add_trace(go.Scatter(x=steps["step"], y=steps["penalty"], name="penalty ‖Δθ‖² (right)", mode="lines",
                             line=dict(color=MUTED_COLOR, dash="dot"), yaxis="y2"))
    fig.update_layout(title="Loss per step", xaxis_title="step", yaxis_title="loss",
                      yaxis2=dict(title="penalty", overlaying="y", side="right", showgrid=False))
    return _styled(fig, 360)


def refusal_figure(epochs: Any, title: str = "First-token refusal on the probe set") -> go.Figure:
    """Per-epoch harmful and benign first-token refusal rates (%)."""
    fig = go.Figure()
    for label in ("harmful", "benign"):
        fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs[f"{label}_refusal"], name=label,
                                 mode="lines+markers", line=dict(color=LABEL_COLORS[label])))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="refusal %", yaxis_range=[-3, 103],
                      xaxis=dict(dtick=1))
    return _styled(fig, 360)


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
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=700, redraw=False), fromcurrent=False,
                                 transition=dict(duration=450, easing="cubic-in-out"), mode="immediate")])
    pause = dict(label="❚❚", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
    fig.update_layout(
        title=f"{title}{epochs[index]}", xaxis=dict(range=[x0, x1], autorange=False, zeroline=False, title=None),
        yaxis=dict(range=[y0, y1], autorange=False, zeroline=False, title=None),
        updatemenus=[dict(type="buttons", direction="left", buttons=[play, pause], showactive=False,
                          x=0, y=-0.04, xanchor="left", yanchor="top", pad=dict(t=4, r=8))],
        hovermode="closest", uirevision=f"{emap.method}-{color_by}",  # no dragmode: a click selects a point
    )
    _styled(fig, height)
    fig.update_layout(margin=dict(l=10, r=10, t=80, b=50))
    return fig


def selection_details(run_dir: Any, probe: Sequence[dict[str, Any]], picked: Sequence[int]) -> dict[str, Any]:
    """What the page shows for picked points: the first one's text and audio (WAV bytes or None), and a
    table of all picked items."""
    from pathlib import Path

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
