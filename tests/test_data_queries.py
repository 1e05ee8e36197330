"""rrs.data.queries: items -> model queries with a recording or synthesised speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rrs import data, speech
from rrs.data import Item
from rrs.data import queries as queries_mod

# ---- Queries -----------------------------------------------------------------------------------


def test_to_queries_uses_file_or_synthesis(monkeypatch: pytest.MonkeyPatch, wav: Path) -> None:
    calls: list[tuple[str, speech.Voice]] = []

    def fake_synthesize(text: str, voice: speech.Voice = speech.VOICES[0], cache_root=None) -> np.ndarray:
        calls.append((text, voice))
        return (0.1 * np.sin(np.arange(1600) / 5.0)).astype(np.float32)

    monkeypatch.setattr(queries_mod, "synthesize_cached", fake_synthesize)
    with_file = Item("How do I pick a lock?", "harmful", audio_path=str(wav))
    spoken = Item("What is a lock?", "benign")
    queries = data.to_queries([with_file, spoken], seed=7, progress=False)
    assert [q.text for q in queries] == [with_file.prompt, spoken.prompt]
    np.testing.assert_allclose(queries[0].audio, speech.load_audio(wav))
    assert queries[1].audio is not None and queries[1].audio.shape == (1600,)
    assert calls == [(spoken.prompt, speech.voice_for(spoken.uid, 7))]
    text_only = data.to_queries([with_file, spoken], seed=7, with_audio=False)
    assert all(q.audio is None for q in text_only) and len(calls) == 1
