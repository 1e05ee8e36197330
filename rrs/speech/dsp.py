"""Signal processing shared by the engines and audio loading: resampling to 16 kHz, silence trimming,
peak normalisation and exact 16-bit rounding (so a clip read back from a WAV is bit-identical).

scipy is imported when resampling is first used.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from rrs.models.base import SAMPLE_RATE

__all__ = ["PEAK", "SILENCE_PEAK", "finish", "from_int16", "resample", "to_int16"]

#: A clip whose absolute peak is below this is treated as silent.
SILENCE_PEAK = 1e-4
#: Peak level of synthesised speech.
PEAK = 0.9

_INT16_SCALE = 32768.0


#: Resampling filter: Kaiser-windowed sinc, ``_TAPS_PER_PHASE`` taps per polyphase branch, stopband
#: attenuation about 80 dB beginning at the output Nyquist frequency (so nothing aliases audibly).
_TAPS_PER_PHASE = 64
_KAISER_BETA = 8.0


@lru_cache(maxsize=16)
def _lowpass(up: int, down: int) -> np.ndarray:
    """Anti-aliasing FIR for resampling by ``up/down`` (designed at the upsampled rate)."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    half_len = _TAPS_PER_PHASE * max_rate // 2
    numtaps = 2 * half_len + 1
    # Kaiser design: transition width (as a fraction of the upsampled Nyquist) for the chosen beta.
    attenuation_db = _KAISER_BETA / 0.1102 + 8.7
    transition = (attenuation_db - 7.95) / (2.285 * (numtaps - 1) * math.pi)
    # Put the end of the transition band (centred on the cutoff) at the lower of the two Nyquist frequencies.
    cutoff = 1.0 / max_rate - transition / 2
    taps = firwin(numtaps, cutoff, window=("kaiser", _KAISER_BETA))
    taps.setflags(write=False)
    return taps


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a 1-D waveform from ``orig_sr`` to ``target_sr`` Hz with a polyphase windowed-sinc filter.

    The output has ``ceil(len(wave) * target_sr / orig_sr)`` samples and dtype float32.
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1:
        raise ValueError(f"resample expects a 1-D waveform, got shape {wave.shape}")
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr or wave.size == 0:
        return wave.astype(np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(orig_sr, target_sr)
    up, down = target_sr // g, orig_sr // g
    out = resample_poly(wave, up, down, window=_lowpass(up, down))
    return out.astype(np.float32)


def _trim_silence(
    wave: np.ndarray, sr: int, *, rel_threshold: float = 0.02, pad_s: float = 0.06
) -> np.ndarray:
    """Cut leading/trailing stretches quieter than ``rel_threshold`` x peak, keeping ``pad_s`` margins."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak == 0.0:
        return wave
    loud = np.flatnonzero(np.abs(wave) >= rel_threshold * peak)
    pad = round(pad_s * sr)
    start = max(int(loud[0]) - pad, 0)
    stop = min(int(loud[-1]) + 1 + pad, wave.size)
    return wave[start:stop]


def to_int16(wave: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] -> int16, rounding, with the same scale soundfile uses when reading PCM_16."""
    return np.clip(np.round(np.asarray(wave, dtype=np.float64) * _INT16_SCALE), -32768, 32767).astype(
        np.int16
    )


def from_int16(samples: np.ndarray) -> np.ndarray:
    return (samples.astype(np.float32) / np.float32(_INT16_SCALE)).astype(np.float32)


def finish(raw: np.ndarray, sr: int) -> np.ndarray:
    """Engine output at ``sr`` -> trimmed, peak-normalised, 16-bit-exact float32 at 16 kHz."""
    wave = resample(raw, sr, SAMPLE_RATE)
    wave = _trim_silence(wave, SAMPLE_RATE)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak < SILENCE_PEAK:
        raise RuntimeError("the TTS engine produced no audible audio")
    return from_int16(to_int16(wave * (PEAK / peak)))

