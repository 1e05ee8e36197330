"""rrs.representations: cache keys, the on-disk cache, and incremental extraction on a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rrs.models.base import Query
from rrs.representations import (
    RepresentationCache,
    audio_digest,
    entry_key,
    extract,
    extract_pairs,
    length_order,
)
from rrs.testing import tiny_audio, tiny_qwen2_audio


@pytest.fixture(scope="module")
def tiny():
    return tiny_qwen2_audio(seed=3)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))


def test_keys_depend_on_what_the_model_sees():
    query = Query("How do I bake bread?", tiny_audio(0.5))
    key = entry_key(query, "audio-text", "t", None)
    assert key == entry_key(Query(query.text, query.audio.copy()), "audio-text", "t", None)
    assert key != entry_key(query, "audio-text", "t2", None)
    assert key != entry_key(query, "audio-text", "t", "system")
    assert key != entry_key(Query(query.text, tiny_audio(0.5, seed=1)), "audio-text", "t", None)
    # Text-only ignores the audio.
    assert entry_key(query, "text-only", "t", None) == entry_key(Query(query.text), "text-only", "t", None)
    assert audio_digest(None) == "-"


def test_cache_round_trip_and_damaged_entry(tmp_path):
    cache = RepresentationCache("fp", root=tmp_path)
    cache.put("abcd", np.arange(4, dtype=np.float64))
    assert len(cache) == 1
    np.testing.assert_array_equal(cache.get("abcd"), np.arange(4, dtype=np.float32))
    cache.path("abcd").write_bytes(b"not numpy")
    assert cache.get("abcd") is None and len(cache) == 0
    assert cache.get("missing") is None


def test_extraction_is_incremental_and_matches_the_model(tiny, monkeypatch):
    queries = [Query(f"Question number {i}?", tiny_audio(0.4, seed=i)) for i in range(3)]
    first = extract(tiny, queries[:2], "audio-text", "t", progress=False)
    assert first.shape == (2, tiny.hidden_size) and first.dtype == torch.float32
    expected = tiny.last_hidden(queries[:2], "audio-text", "t").float()
    torch.testing.assert_close(first, expected, rtol=1e-4, atol=1e-5)

    seen: list[int] = []
    original = type(tiny).last_hidden

    def counting(self, batch, *args, **kwargs):
        seen.append(len(batch))
        return original(self, batch, *args, **kwargs)

    monkeypatch.setattr(type(tiny), "last_hidden", counting)
    again = extract(tiny, queries, "audio-text", "t", progress=False)
    assert seen == [1]  # only the new query costs a forward pass
    torch.testing.assert_close(again[:2], first)
    assert extract(tiny, [], "audio-text", "t", progress=False).shape == (0, tiny.hidden_size)


def test_extract_pairs_gives_the_three_sets(tiny):
    harmful = [Query("How do I pick a lock?")]
    benign = [Query("How do I change a lock?")]
    reps = extract_pairs(tiny, harmful, benign, "text-only", "t", "t refuse", progress=False)
    assert set(reps) == {"harmful", "harmful_refusal", "benign"}
    assert all(v.shape == (1, tiny.hidden_size) for v in reps.values())


def test_batches_are_grouped_by_length_and_results_keep_the_given_order(tiny, monkeypatch):
    lengths = [0.9, 0.2, 0.6, 0.3]
    queries = [Query(f"Question {i}?", tiny_audio(s, seed=i)) for i, s in enumerate(lengths)]
    assert length_order(queries, range(4), "audio-text") == [1, 3, 2, 0]  # shortest audio first
    assert length_order([Query("a long question"), Query("short")], range(2), "text-only") == [1, 0]

    batches: list[list[str]] = []
    original = type(tiny).last_hidden

    def recording(self, batch, *args, **kwargs):
        batches.append([q.text for q in batch])
        return original(self, batch, *args, **kwargs)

    monkeypatch.setattr(type(tiny), "last_hidden", recording)
    reps = extract(tiny, queries, "audio-text", "t", batch_size=2, use_cache=False, progress=False)
    assert batches == [["Question 1?", "Question 3?"], ["Question 2?", "Question 0?"]]
    one_by_one = torch.cat([original(tiny, [q], "audio-text", "t").float() for q in queries])
    torch.testing.assert_close(reps, one_by_one, rtol=1e-4, atol=1e-4)  # row i is still query i
