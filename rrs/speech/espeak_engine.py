"""eSpeak NG 1.52 from ``espeakng-loader`` (its bundled ``libespeak-ng.so`` and data), driven via ``ctypes``
in synchronous mode. Voice variants give clearly different male and female voices.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

import numpy as np

from rrs.speech.dsp import from_int16
from rrs.speech.voices import Voice

__all__ = ["espeak_info", "synthesize_espeak"]

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


def synthesize_espeak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
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
    return from_int16(np.concatenate(chunks)), rate
