"""Numbers behind the Pairs page's audio plots: a waveform envelope and a power spectrogram (numpy only)."""

from __future__ import annotations

import numpy as np

from rrs.models.base import SAMPLE_RATE

__all__ = ["spectrogram", "waveform_envelope"]


def waveform_envelope(
    wave: np.ndarray, sr: int = SAMPLE_RATE, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, low, high)`` for plotting a clip with at most ``max_points`` points: the minimum and maximum
    sample of each of ``max_points`` equal blocks (the samples themselves if the clip is shorter)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    n = wave.size
    if n <= max_points:
        times = np.arange(n, dtype=np.float64) / sr
        return times, wave.copy(), wave.copy()
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    low = np.minimum.reduceat(wave, edges[:-1])
    high = np.maximum.reduceat(wave, edges[:-1])
    times = (edges[:-1] + edges[1:]) / 2.0 / sr
    return times, low, high


def spectrogram(
    wave: np.ndarray,
    sr: int = SAMPLE_RATE,
    n_fft: int = 512,
    hop: int = 160,
    win_length: int = 400,
    top_db: float = 80.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram in dB: ``(times, freqs, db)`` with ``db`` of shape ``(n_fft // 2 + 1, n_frames)``.

    Frames of ``win_length`` samples (Hann window, zero-padded to ``n_fft``) every ``hop`` samples, no
    centring: ``n_frames = 1 + (max(len, win_length) - win_length) // hop`` (a clip shorter than one window
    is zero-padded to one frame). dB are relative to the loudest bin and floored at ``-top_db``.
    ``times`` are frame centres in seconds, ``freqs`` in Hz.
    """
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    if not 0 < win_length <= n_fft:
        raise ValueError("need 0 < win_length <= n_fft")
    if hop < 1:
        raise ValueError("hop must be >= 1")
    if wave.size < win_length:
        wave = np.pad(wave, (0, win_length - wave.size))
    frames = np.lib.stride_tricks.sliding_window_view(wave, win_length)[::hop]
    spectrum = np.fft.rfft(frames * np.hanning(win_length), n=n_fft, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).T
    ref = max(float(power.max()), 1e-20)
    db = 10.0 * np.log10(np.maximum(power, ref * 1e-12) / ref)
    db = np.maximum(db, -float(top_db)).astype(np.float32)
    times = (np.arange(frames.shape[0]) * hop + win_length / 2.0) / sr
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    return times, freqs, db
