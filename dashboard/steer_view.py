"""Helpers and plots of the Steer page. No Streamlit here: plain and testable.

Vectors come from ``python -m rrs steer --out FOLDER`` (``steering.json`` + ``vectors.safetensors``, see
:class:`rrs.steering.SteeringVectors`); the page starts new ones as jobs in ``<runs root>/steer/<name>``
(:mod:`rrs.runs`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from dashboard.style import LABEL_COLORS, style
from rrs.config import layers_text, parse_layers
from rrs.data import mirror_pairs, named_pairs, split_pairs
from rrs.evaluation.judges import KeywordJudge
from rrs.models.base import GenerationSettings
from rrs.runs.configs import SteerJob
from rrs.runs.estimate import estimate_steer, format_duration
from rrs.steering import CONFIG_FILE, REFUSAL_PROMPT_VARIANTS, WEIGHTS_FILE, first_token_refusal_prob, steer

MAX_NEW_TOKENS = 32
GRID_STEPS = 9
#: The form's fields (SteerJob's extraction settings, the layers as text).
FORM_FIELDS = ("model", "device", "pairs", "n_pairs", "k", "layers", "lam", "alpha", "modality", "refusal_prompt",
               "seed")
#: The refusal prompts the form offers (``python -m rrs steer --refusal-prompt`` also takes free text).
REFUSAL_PROMPTS = ("default", *REFUSAL_PROMPT_VARIANTS)


# ---- vector folders and jobs ---------------------------------------------------------------------
def _newest_first(paths: Sequence[Path], marker: str) -> list[Path]:
    return sorted(paths, key=lambda p: ((p / marker).stat().st_mtime, p.name), reverse=True)


def find_vectors(root: Path) -> list[Path]:
    """Folders (one or two levels under ``root``) holding saved SARSteer vectors, newest first."""
    found = {p.parent for p in [*root.glob(f"*/{CONFIG_FILE}"), *root.glob(f"*/*/{CONFIG_FILE}")]
             if (p.parent / WEIGHTS_FILE).is_file()}
    return _newest_first(list(found), CONFIG_FILE)


def vector_label(root: Path, folder: Path) -> str:
    """``steer/demo · 24 layers · k 10 · embedded`` from ``steering.json``."""
    try:
        info = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return f"{folder.relative_to(root)} · unreadable"
    model = info.get("meta", {}).get("model", "?")
    return f"{folder.relative_to(root)} · {len(info.get('layers', []))} layers · k {info.get('k', '?')} · {model}"


def form_defaults() -> dict[str, Any]:
    """SteerJob's defaults, trained on the Mirror pairs (the page's validation clips are Mirror's too)."""
    values = {**SteerJob.defaults(), "layers": layers_text(SteerJob().layers), "pairs": "mirror"}
    return {k: values[k] for k in FORM_FIELDS}


def steer_config(values: Mapping[str, Any]) -> SteerJob:
    """The vector job's config from the form's values; ``ValueError`` if they are not one."""
    v = {**form_defaults(), **values}
    return SteerJob.from_dict({**{k: v[k] for k in FORM_FIELDS if k != "layers"},
                               "model": str(v["model"]).strip(), "pairs": str(v["pairs"]).strip() or "mirror",
                               "layers": parse_layers(str(v["layers"]))}, strict=True)


def steer_estimate(values: Mapping[str, Any]) -> str:
    """The form's time estimate as a caption line (the vectors only: the page's job runs no sweep)."""
    model, pairs = str(values.get("model") or "").strip(), str(values.get("pairs") or "").strip()
    n_pairs = int(values.get("n_pairs") or 0)
    if pairs in ("", "mirror"):
        available = len(named_pairs("mirror", int(values.get("seed") or 0), "train"))
        n_pairs = min(n_pairs, available) if n_pairs else available
    seconds = estimate_steer(model, n_pairs) if n_pairs else None
    if seconds is None:
        return "Estimated time: no reference figures for this model or pairs file; the job shows its progress."
    return (f"Estimated time: ≈ {format_duration(seconds)} for {n_pairs} pairs on a 2-core CPU, scaled from the "
            "100-pair vectors of the 1.5B comparison (6 min, clips synthesised on the way; less when they are "
            "cached, much less on a GPU).")


# ---- the loaded vectors --------------------------------------------------------------------------
def check_fit(vectors: Any, model: Any) -> str | None:
    """Why ``vectors`` cannot steer ``model`` (hidden size or layers), or ``None``."""
    if vectors.hidden_size != model.hidden_size:
        return (f"These vectors have hidden size {vectors.hidden_size}, the loaded model {model.hidden_size}: "
                f"they were computed on another model ({vectors.meta.get('model', 'unknown')}).")
    beyond = [i for i in vectors.layers if i >= model.n_layers]
    if beyond:
        return f"These vectors steer layers {beyond}, but the loaded model has {model.n_layers} decoder layers."
    return None


def slider_max(alpha: float) -> float:
    """Upper end of the α slider: five times the vectors' default α, at least 1."""
    return float(max(1.0, round(5 * abs(alpha), 2)))


def alpha_grid(top: float, steps: int = GRID_STEPS) -> list[float]:
    """0, then ``steps - 1`` α values doubling up to ``2 * top`` (useful α often sits far below the top)."""
    return [0.0] + [round(2 * top / 2 ** (steps - 2 - i), 6) for i in range(steps - 1)]


# ---- clips ---------------------------------------------------------------------------------------
@cache
def _validation() -> tuple[Any, ...]:
    return tuple(split_pairs(mirror_pairs(), 0.2, 0)[1])


def validation_pairs() -> list[Any]:
    """The Mirror validation split (never trained on by RRS or SARSteer jobs with seed 0)."""
    return list(_validation())


def pair_label(pair: Any) -> str:
    text = pair.harmful.prompt
    return f"{pair.category} · {text[:90]}{'…' if len(text) > 90 else ''}"


# ---- model work ----------------------------------------------------------------------------------
def _instruction(vectors: Any, modality: str) -> str | None:
    return vectors.config.instruction if modality == "audio-text" else None


def generate_both(model: Any, vectors: Any, queries: Sequence[Any], modality: str, alpha: float,
                  layers: Sequence[int], ablated: bool, max_new_tokens: int = MAX_NEW_TOKENS) -> dict[str, list]:
    """Greedy answers to ``queries`` without and with steering: ``{"plain": [...], "steered": [...]}``."""
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=False, seed=0)
    instruction = _instruction(vectors, modality)
    plain = model.generate(list(queries), modality, instruction, settings)
    with steer(model, vectors, alpha=alpha, layers=layers, ablated=ablated):
        steered = model.generate(list(queries), modality, instruction, settings)
    return {"plain": [r[0] for r in plain], "steered": [r[0] for r in steered]}


def is_refusal(text: str) -> bool:
    return KeywordJudge().is_refusal(text)


def refusal_curve(model: Any, vectors: Any, queries: Mapping[str, Any], modality: str, alphas: Sequence[float],
                  layers: Sequence[int], ablated: bool) -> dict[str, list[float]]:
    """First-token refusal probability per α for each labelled query: ``{"alpha": [...], label: [...]}``."""
    curve: dict[str, list[float]] = {"alpha": [float(a) for a in alphas]}
    for label, query in queries.items():
        curve[label] = [first_token_refusal_prob(model, [query], vectors, alpha=a, layers=layers, ablated=ablated,
                                                 modality=modality, instruction=_instruction(vectors, modality))
                        for a in alphas]
    return curve


def curve_figure(curve: Mapping[str, list[float]], alpha: float) -> go.Figure:
    """Refusal probability (%) of the harmful and benign clip against α, a dashed line at the current α."""
    fig = go.Figure()
    for label in ("harmful", "benign"):
        if label in curve:
            fig.add_trace(go.Scatter(x=curve["alpha"], y=[100 * p for p in curve[label]], name=f"{label} clip",
                                     mode="lines+markers", line=dict(color=LABEL_COLORS[label])))
    fig.add_vline(x=alpha, line_dash="dash", line_color="#444444", annotation_text=f"α = {alpha:g}")
    fig.update_layout(title="First-token refusal probability vs α", xaxis_title="α",
                      yaxis_title="P(refusal opener) %", yaxis_range=[-3, 103])
    style(fig, height=380)
    fig.update_layout(margin=dict(l=10, r=10, t=80, b=10), title=dict(y=0.98, yanchor="top"))
    return fig
