"""rrs.speech.dsp and rrs.speech.audio_io: resampling, loading users' audio files and validating waveforms."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rrs import speech
from rrs.speech import SAMPLE_RATE, AudioError


def _dominant_hz(wave: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.argmax(spectrum) * sr / wave.size)


def _tone(seconds: float, sr: int, hz: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_resample_keeps_band_and_blocks_aliasing() -> None:
    sr = 44_100
    kept = speech.resample(_tone(1.0, sr, hz=1000.0), sr)
    assert kept.dtype == np.float32 and kept.size == SAMPLE_RATE
    assert _dominant_hz(kept, SAMPLE_RATE) == pytest.approx(1000.0, abs=2.0)
    assert np.sqrt(np.mean(kept[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    # 10 kHz is above the new Nyquist: it must be removed, not folded down to 6 kHz.
    aliased = speech.resample(_tone(1.0, sr, hz=10_000.0), sr)
    assert np.max(np.abs(aliased[1000:-1000])) < 1e-3
    assert speech.resample(kept, SAMPLE_RATE).size == kept.size


def test_load_stereo_44k_file(tmp_path: Path) -> None:
    sr, seconds = 44_100, 1.5
    left = _tone(seconds, sr, hz=440.0, amp=0.6)
    right = _tone(seconds, sr, hz=440.0, amp=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), sr, subtype="PCM_16")
    wave = speech.load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - seconds * SAMPLE_RATE) <= 1
    assert _dominant_hz(wave, SAMPLE_RATE) == pytest.approx(440.0, abs=2.0)
    assert np.max(np.abs(wave[1000:-1000])) == pytest.approx(0.4, abs=0.01)  # mean of the channels
    # The same file as bytes, as a file object, and as FLAC give the same samples.
    np.testing.assert_allclose(speech.load_audio(path.read_bytes()), wave, atol=1e-6)
    np.testing.assert_allclose(speech.load_audio(io.BytesIO(path.read_bytes())), wave, atol=1e-6)
    flac = tmp_path / "stereo.flac"
    sf.write(str(flac), np.stack([left, right], axis=1), sr, subtype="PCM_16")
    np.testing.assert_allclose(speech.load_audio(flac), wave, atol=1e-4)


def test_load_16k_mono_is_unchanged(tmp_path: Path) -> None:
    tone = _tone(2.0, SAMPLE_RATE)
    path = speech.save_wav(tmp_path / "sub" / "tone.wav", tone)
    assert [p.name for p in path.parent.iterdir()] == ["tone.wav"]  # no temporary file left behind
    np.testing.assert_allclose(speech.load_audio(path), tone, atol=1 / 32768)


def test_load_rejects_corrupt_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="corrupt"):
        speech.load_audio(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 10)
    path = tmp_path / "broken.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioError, match="broken.wav"):
        speech.load_audio(path)


def test_load_rejects_empty_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="empty"):
        speech.load_audio(b"")
    empty_file = tmp_path / "zero.wav"
    empty_file.touch()
    with pytest.raises(AudioError, match="empty"):
        speech.load_audio(empty_file)
    no_frames = tmp_path / "no_frames.wav"
    sf.write(str(no_frames), np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="0 samples"):
        speech.load_audio(no_frames)


def test_load_rejects_silent_audio(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="silent"):
        speech.load_audio(path)


def test_load_rejects_long_audio(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(str(path), _tone(31.0, 8000), 8000)
    with pytest.raises(AudioError, match=r"31\.0 s.*limit is 30 s"):
        speech.load_audio(path)
    ok = tmp_path / "ok.wav"
    sf.write(str(ok), _tone(29.0, 8000), 8000)
    assert speech.load_audio(ok).size == 29 * SAMPLE_RATE


def test_load_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "question.wav"
    with pytest.raises(AudioError, match="not found") as info:
        speech.load_audio(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_validate_waveform() -> None:
    tone = _tone(1.0, SAMPLE_RATE)
    out = speech.validate_waveform(tone.astype(np.float64), SAMPLE_RATE)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        speech.validate_waveform((tone * 32767).astype(np.int16), SAMPLE_RATE), tone, atol=1e-4
    )
    bad = tone.copy()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        speech.validate_waveform(bad, SAMPLE_RATE)
    bad[10] = np.inf
    with pytest.raises(AudioError, match="infinite"):
        speech.validate_waveform(bad, SAMPLE_RATE)
    with pytest.raises(AudioError, match="mono"):
        speech.validate_waveform(np.stack([tone, tone], axis=1), SAMPLE_RATE)
    with pytest.raises(AudioError, match="silent"):
        speech.validate_waveform(np.full(100, 1e-5, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="empty"):
        speech.validate_waveform(np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="limit"):
        speech.validate_waveform(np.ones(31 * 100, dtype=np.float32) * 0.1, 100)


def test_load_rejects_nan_in_float_file(tmp_path: Path) -> None:
    wave = _tone(1.0, SAMPLE_RATE)
    wave[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), wave, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        speech.load_audio(path)
    with pytest.raises(AudioError, match="NaN"):
        speech.save_wav(tmp_path / "out.wav", wave)
