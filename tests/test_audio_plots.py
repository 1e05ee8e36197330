"""dashboard.audio_plots: the spectrogram and waveform envelope of the Pairs page."""

from __future__ import annotations

import numpy as np

from dashboard.audio_plots import spectrogram, waveform_envelope
from rrs.models.base import SAMPLE_RATE


def test_spectrogram_and_waveform_shapes():
    wave = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    times, freqs, db = spectrogram(wave, n_fft=512, hop=160, win_length=400)
    assert db.shape == (257, 1 + (SAMPLE_RATE - 400) // 160) == (freqs.size, times.size)
    assert db.max() == 0.0 and db.min() >= -80.0
    assert abs(freqs[db.mean(axis=1).argmax()] - 1000) < SAMPLE_RATE / 512
    assert spectrogram(wave[:100])[2].shape == (257, 1)
    t, lo, hi = waveform_envelope(wave, max_points=500)
    assert t.shape == lo.shape == hi.shape == (500,) and (lo <= hi).all() and hi.max() <= 1.0
    t, lo, hi = waveform_envelope(wave[:10], max_points=500)
    assert lo.size == 10
