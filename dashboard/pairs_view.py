"""Plain helpers of the Pairs page: the clips' figures, which pairs a source holds, reading uploaded clips.

No Streamlit here (see :mod:`dashboard`); the computations live in :mod:`rrs.data.pairs` and
:mod:`dashboard.audio_plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.audio_plots import spectrogram, waveform_envelope
from dashboard.style import style
from rrs.data import Pair
from rrs.data.pairs import mirror_train_pairs
from rrs.models.base import SAMPLE_RATE
from rrs.speech import AudioError, load_audio

SOURCES = ("All pairs", "Mirror (train split)", "My pairs")
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]


# ---- plots ----------------------------------------------------------------------------------------
def waveform_figure(wave: np.ndarray, color: str, title: str) -> go.Figure:
    times, low, high = waveform_envelope(wave, SAMPLE_RATE)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=times, y=high, mode="lines", line=dict(color=color, width=1), name="max",
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=times, y=low, mode="lines", line=dict(color=color, width=1), fill="tonexty",
                             name="min", hoverinfo="skip", showlegend=False))
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title="amplitude", yaxis_range=[-1, 1])
    return style(fig, height=220)


def spectrogram_figure(wave: np.ndarray, color: str, title: str) -> go.Figure:
    times, freqs, db = spectrogram(wave, SAMPLE_RATE)
    fig = go.Figure(go.Heatmap(x=times, y=freqs, z=db, colorscale=[[0.0, "#FFFFFF"], [1.0, color]],
                               colorbar=dict(title="dB"), zmin=-80, zmax=0))
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title="frequency (Hz)")
    return style(fig, height=260)


# ---- pairs ---------------------------------------------------------------------------------------
def source_pairs(source: str, user: Sequence[Pair]) -> list[Pair]:
    """The pairs a source shows: the Mirror training split, the user's own, or both."""
    mirror = mirror_train_pairs()
    if source == "Mirror (train split)":
        return mirror
    if source == "My pairs":
        return list(user)
    return mirror + list(user)


def read_upload(upload: Any, what: str) -> tuple[np.ndarray | None, str | None]:
    """(waveform, None) or (None, error message) for an optional uploaded clip."""
    if upload is None:
        return None, None
    try:
        return load_audio(upload.getvalue()), None
    except AudioError as err:
        return None, f"{what} audio ({upload.name}): {err}"


def typed_pair_problems(harmful: str, benign: str) -> list[str]:
    problems = []
    if not harmful.strip():
        problems.append("Write the harmful question.")
    if not benign.strip():
        problems.append("Write the benign question.")
    return problems
