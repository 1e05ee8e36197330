"""Offline speech: text -> 16 kHz speech with two local TTS engines, and loading users' audio files.

Synthesis uses only engines installed from PyPI, so it runs with no network and no system packages:
Piper (a neural US-English voice) and eSpeak NG (clearly different male and female voices).

Modules, one concept each:

* :mod:`~rrs.speech.voices` -- :class:`Voice`, the registered :data:`VOICES` and :func:`voice_for`.
* :mod:`~rrs.speech.dsp` -- resampling, trimming, normalising, 16-bit rounding.
* :mod:`~rrs.speech.piper_engine` / :mod:`~rrs.speech.espeak_engine` -- the two engines.
* :mod:`~rrs.speech.synthesis` -- :func:`synthesize` and the WAV cache (:func:`synthesize_cached`).
* :mod:`~rrs.speech.audio_io` -- :func:`load_audio`, :func:`validate_waveform`, :func:`save_wav`.

Heavy modules (scipy, soundfile, piper/onnxruntime, tqdm) are imported inside the functions that use
them; importing this package costs only numpy.
"""

from rrs.models.base import SAMPLE_RATE
from rrs.speech.audio_io import MAX_SECONDS, AudioError, load_audio, save_wav, validate_waveform
from rrs.speech.dsp import PEAK, SILENCE_PEAK, resample
from rrs.speech.espeak_engine import espeak_info
from rrs.speech.synthesis import (
    engine_version,
    speech_cache_dir,
    synthesize,
    synthesize_cached,
    synthesize_many,
)
from rrs.speech.voices import ENGINES, VOICES, Engine, Voice, voice_for

__all__ = [
    "ENGINES",
    "MAX_SECONDS",
    "PEAK",
    "SAMPLE_RATE",
    "SILENCE_PEAK",
    "VOICES",
    "AudioError",
    "Engine",
    "Voice",
    "engine_version",
    "espeak_info",
    "load_audio",
    "resample",
    "save_wav",
    "speech_cache_dir",
    "synthesize",
    "synthesize_cached",
    "synthesize_many",
    "validate_waveform",
    "voice_for",
]
