"""Users' audio: loading files (any rate, any channels) into 16 kHz mono waveforms, validating
waveforms, and saving 16-bit WAVs. soundfile is imported when used.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rrs.models.base import SAMPLE_RATE
from rrs.speech.dsp import SILENCE_PEAK, resample, to_int16
from rrs.store import atomic_write

__all__ = ["MAX_SECONDS", "AudioError", "AudioSource", "load_audio", "save_wav", "validate_waveform"]

#: Longest clip :func:`load_audio` accepts, in seconds.
MAX_SECONDS = 30.0


class AudioError(ValueError):
    """An audio input can't be used; the message says what is wrong and what to do about it."""


AudioSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO
_FORMATS_HINT = "Use a WAV, FLAC or OGG file (e.g. `ffmpeg -i input.mp3 -ac 1 -ar 16000 out.wav`)."


def validate_waveform(wave: np.ndarray, sr: int, *, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Check a mono waveform is usable; return it as contiguous float32 or raise :class:`AudioError`.

    Integer arrays are scaled to [-1, 1]. Rejected: a non-1-D array, 0 samples, NaN/inf values, clips
    longer than ``max_seconds``, and silent clips (peak below :data:`SILENCE_PEAK`).
    """
    wave = np.asarray(wave)
    if int(sr) <= 0:
        raise AudioError(f"Invalid sample rate {sr}: it must be a positive number of Hz.")
    if wave.ndim != 1:
        raise AudioError(
            f"Expected a mono 1-D waveform, got an array of shape {wave.shape}. "
            "Average the channels first (wave.mean(axis=1)) or use load_audio, which does."
        )
    if np.issubdtype(wave.dtype, np.integer):
        wave = wave.astype(np.float32) / np.float32(np.iinfo(wave.dtype).max)
    elif not np.issubdtype(wave.dtype, np.floating):
        raise AudioError(f"Expected numeric audio samples, got dtype {wave.dtype}.")
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if wave.size == 0:
        raise AudioError("The audio is empty (0 samples). Record or choose a clip that contains speech.")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise AudioError(
            f"The audio contains {int(bad.sum())} NaN or infinite sample(s); the file is damaged. "
            "Re-export it from the recording software."
        )
    seconds = wave.size / float(sr)
    if seconds > max_seconds:
        raise AudioError(
            f"The audio is {seconds:.1f} s long; the limit is {max_seconds:g} s. "
            "Trim it to the spoken question and try again."
        )
    peak = float(np.max(np.abs(wave)))
    if peak < SILENCE_PEAK:
        raise AudioError(
            f"The audio is silent (peak level {peak:.1e}). Check the microphone or choose a clip with speech."
        )
    return wave


def _wav_shortfall(content: bytes) -> tuple[int, int] | None:
    """``(announced, present)`` sample bytes when a RIFF/WAVE file ends before its ``data`` chunk does.

    libsndfile reads such a file without complaint and returns only the samples present, so a clip cut off
    by a failed copy would otherwise be used as if it were whole."""
    if len(content) < 12 or content[:4] != b"RIFF" or content[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(content):
        chunk, size = content[offset : offset + 4], int.from_bytes(content[offset + 4 : offset + 8], "little")
        if chunk == b"data":
            present = len(content) - offset - 8
            return (size, present) if size != 0xFFFFFFFF and present < size else None
        offset += 8 + size + (size & 1)
    return None


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    name = getattr(source, "name", None)
    return f"'{name}'" if isinstance(name, str) else "the uploaded audio"


def load_audio(source: AudioSource, *, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Read an audio file (path, bytes, or binary file object) into a 16 kHz mono float32 waveform.

    Any sample rate is resampled and any number of channels averaged to mono. Formats: whatever
    libsndfile reads (WAV, FLAC, OGG, ...). Raises :class:`AudioError`, with a message saying what is
    wrong and what to do, for a missing, empty, unreadable, silent, too long or NaN/inf-containing file.
    """
    import soundfile as sf

    what = _describe(source)
    handle: Any
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"Audio file not found: '{path}'. Check the path and that the file exists.")
        if not path.is_file():
            raise AudioError(f"'{path}' is not a file. Give the path of an audio file.")
        if path.stat().st_size == 0:
            raise AudioError(
                f"The audio file '{path}' is empty (0 bytes). Choose a file that contains a recording."
            )
        handle = str(path)
        with open(path, "rb") as f:
            content_head = f.read()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise AudioError(
                "The uploaded audio is empty (0 bytes). Upload a file that contains a recording."
            )
        content_head = bytes(source)
        handle = io.BytesIO(content_head)
    elif hasattr(source, "read"):
        content = source.read()
        if not content:
            raise AudioError(
                f"{what[0].upper()}{what[1:]} is empty (0 bytes). Choose a file with a recording."
            )
        content_head = bytes(content)
        handle = io.BytesIO(content_head)
    else:
        raise TypeError(
            f"load_audio takes a path, bytes or a binary file object, not {type(source).__name__}"
        )

    shortfall = _wav_shortfall(content_head)
    if shortfall is not None:
        raise AudioError(
            f"The WAV file {what} is truncated: its header announces {shortfall[0]:,} bytes of samples but only "
            f"{shortfall[1]:,} are there (an interrupted copy or download). Copy or export it again."
        )
    try:
        with sf.SoundFile(handle) as f:
            sr, frames = int(f.samplerate), int(f.frames)
            if sr > 0 and frames / sr > max_seconds:  # reject long files before decoding them
                raise AudioError(
                    f"The audio {what} is {frames / sr:.1f} s long; the limit is {max_seconds:g} s. "
                    "Trim it to the spoken question and try again."
                )
            frames_by_channel = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as err:
        reason = getattr(err, "error_string", None) or str(err)
        raise AudioError(
            f"Could not read {what} as audio: it is corrupt or not a supported format ({reason}). "
            f"{_FORMATS_HINT}"
        ) from err

    channels = frames_by_channel.shape[1]
    wave = frames_by_channel.mean(axis=1) if channels > 1 else frames_by_channel[:, 0]
    try:
        wave = validate_waveform(wave, sr, max_seconds=max_seconds)
    except AudioError as err:
        raise AudioError(f"{what[0].upper()}{what[1:]}: {err}") from None
    if sr != SAMPLE_RATE:
        wave = resample(wave, sr, SAMPLE_RATE)
    return wave


def save_wav(path: str | os.PathLike, wave: np.ndarray) -> Path:
    """Write a 16 kHz mono waveform atomically as 16-bit PCM WAV (samples clipped to [-1, 1])."""
    import soundfile as sf

    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise AudioError(f"save_wav expects a mono 1-D waveform, got shape {wave.shape}.")
    if not np.all(np.isfinite(wave)):
        raise AudioError("Refusing to save audio with NaN or infinite samples.")
    samples = to_int16(wave)
    return atomic_write(path, lambda tmp: sf.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
