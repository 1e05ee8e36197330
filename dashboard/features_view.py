"""Plots and small helpers of the Features page (no Streamlit); the computations live in
:mod:`rrs.feature_analysis`."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from dashboard.style import LABEL_COLORS, MUTED_COLOR, style
from rrs.feature_analysis import FeatureAnalysis

#: Selected safety features push inputs towards refusal, as harmful inputs should go: the harmful colour.
SELECTED_COLOR = LABEL_COLORS["harmful"]


def contributions_figure(analysis: FeatureAnalysis, n_selected: int) -> go.Figure:
    return sorted_contributions_figure(analysis.sorted_contrib, analysis.order.numpy(), n_selected)


def recorded_contributions_figure(contrib: np.ndarray, n_selected: int) -> go.Figure:
    """The same bars from a saved ``features.safetensors`` (``contrib`` per dimension, unsorted)."""
    order = np.argsort(-contrib, kind="stable")
    return sorted_contributions_figure(contrib[order], order, n_selected)


def sorted_contributions_figure(c: np.ndarray, dims: np.ndarray, n_selected: int) -> go.Figure:
    """Contributions c_p sorted from largest to smallest, the top ``n_selected`` highlighted."""
    ranks = np.arange(1, c.size + 1)
    colors = [SELECTED_COLOR] * n_selected + [MUTED_COLOR] * (c.size - n_selected)
    fig = go.Figure(go.Bar(x=ranks, y=c, marker=dict(color=colors, line=dict(width=0)), customdata=dims,
                           hovertemplate="rank %{x}<br>dim %{customdata}<br>c_p = %{y:.4f}<extra></extra>"))
    fig.add_vline(x=n_selected + 0.5, line=dict(color=SELECTED_COLOR, dash="dash", width=1))
    fig.update_layout(title=f"Contributions c_p = w_I[p]·ΔV̄[p], sorted (top {n_selected} selected)",
                      xaxis_title="rank", yaxis_title="c_p", bargap=0)
    return style(fig, height=320)


def histogram_figure(analysis: FeatureAnalysis, n_selected: int) -> go.Figure:
    c = analysis.sorted_contrib
    lo, hi = float(c.min()), float(c.max())
    size = (hi - lo) / 60 if hi > lo else 1.0
    bins = dict(start=lo, end=hi + size, size=size)
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=c[n_selected:], xbins=bins, marker_color=MUTED_COLOR, name="not selected"))
    fig.add_trace(go.Histogram(x=c[:n_selected], xbins=bins, marker_color=SELECTED_COLOR, name="selected"))
    fig.update_layout(barmode="stack", title="Histogram of c_p", xaxis_title="c_p", yaxis_title="features")
    return _legend_right(style(fig, height=320))


def category_figure(analysis: FeatureAnalysis, top_percent: float) -> go.Figure:
    table = analysis.category_norms(top_percent)
    hover = "%{x}<br>%{y:.3f}<br>%{customdata[0]} pairs, cos to ΔV̄ %{customdata[1]:.2f}<extra></extra>"
    custom = table[["n_pairs", "cosine"]].to_numpy()
    fig = go.Figure()
    fig.add_trace(go.Bar(x=table["category"], y=table["delta_norm"], name="‖ΔV̄_c‖", marker_color=MUTED_COLOR,
                         customdata=custom, hovertemplate=hover))
    fig.add_trace(go.Bar(x=table["category"], y=table["selected_norm"], name="‖ΔV̄_c ⊙ mask‖ (selected)",
                         marker_color=SELECTED_COLOR, customdata=custom, hovertemplate=hover))
    fig.update_layout(barmode="group", title="ΔV̄ per category", yaxis_title="L2 norm")
    return _legend_right(style(fig, height=340))


def _legend_right(fig: go.Figure) -> go.Figure:
    """Legend in the top right corner, so that it never covers the (left-aligned) title."""
    fig.update_layout(legend=dict(orientation="h", x=1.0, xanchor="right", y=1.02, yanchor="bottom"))
    return fig


def percent(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}%"
