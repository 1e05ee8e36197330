"""rrs.data.pairs, rrs.data.queries and uploads: pair tables and filters, uploaded and typed pairs, pair ids,
and short answers to a pair's questions from a tiny random Qwen2-Audio."""

from __future__ import annotations

import numpy as np
import pytest

from rrs.data import pairs as pairs_mod
from rrs.data.queries import item_audio, responses_for_pair, responses_table
from rrs.data.splits import pairs_per_category
from rrs.data.types import DataError, Item, Pair
from rrs.data.user_files import load_pairs_upload


def test_responses_for_pair(module_cache, tiny_q2a, four_mirror_pairs):
    out = responses_for_pair(tiny_q2a, four_mirror_pairs[0], max_new_tokens=4)
    assert list(out) == ["audio-text", "text-only", "audio-only"]
    assert all(isinstance(h, str) and isinstance(b, str) for h, b in out.values())
    table = responses_table(out)
    assert table.shape == (3, 3)


# ---- Pairs-page helpers -------------------------------------------------------------------------------
def test_pair_table_and_filters():
    pairs = pairs_mod.mirror_train_pairs()
    from rrs.data import mirror_pairs, split_pairs

    assert pairs == split_pairs(mirror_pairs())[0]
    table = pairs_mod.pair_table(pairs)
    assert list(table.columns) == list(pairs_mod.PAIR_COLUMNS)
    assert len(table) == len(pairs) and table["uid"].is_unique
    category = table["category"].iloc[0]
    by_category = pairs_mod.filter_pairs(table, [category])
    assert 0 < len(by_category) < len(table) and set(by_category["category"]) == {category}
    assert len(pairs_mod.filter_pairs(table, [])) == len(table)  # no category chosen: all
    word = table["harmful"].iloc[0].split()[-1].strip("?.!,").upper()
    found = pairs_mod.filter_pairs(table, None, word)
    assert 0 < len(found) < len(table)
    assert len(pairs_mod.filter_pairs(table, None, "zzqxj-no-such-word")) == 0
    assert pairs_per_category(pairs, 1) == [
        next(p for p in pairs if p.category == c) for c in dict.fromkeys(p.category for p in pairs)
    ]


def test_uploaded_pairs_file_and_typed_pairs(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    good = b"harmful,benign,category\nHow do I pick a lock?,How do I change a lock?,crime\n"
    pairs = load_pairs_upload("mine.csv", good)
    assert len(pairs) == 1 and pairs[0].category == "crime" and pairs[0].harmful.source == "user:mine.csv"
    with pytest.raises(DataError, match="missing required column 'benign'"):
        load_pairs_upload("bad.csv", b"harmful,other\nx,y\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_pairs_upload("bad.txt", b"x")

    from rrs.testing import tiny_audio

    wave = tiny_audio(1.0)
    pair = pairs_mod.make_pair("How do I hurt someone?", "How do I help someone?", "", harmful_wave=wave)
    assert pair.category == "uncategorised" and pair.benign.audio_path is None
    heard, how = item_audio(pair.harmful)
    assert how.startswith("recording ") and np.abs(heard - wave).max() < 1e-3
    merged, added = pairs_mod.merge_pairs(pairs, [pair, pair, pairs[0]])
    assert added == 1 and len(merged) == 2
    with pytest.raises(ValueError):
        pairs_mod.make_pair(" ", "benign")


def test_pair_uid_is_stable():
    pair = Pair(Item("a harmful thing", "harmful", "x"), Item("a benign thing", "benign", "x"), "x")
    same = Pair(Item("a harmful thing", "harmful", "x"), Item("a benign thing", "benign", "x"), "x")
    assert pairs_mod.pair_uid(pair) == pairs_mod.pair_uid(same) and len(pairs_mod.pair_uid(pair)) == 12
    assert pairs_mod.pairs_digest([pair]) != pairs_mod.pairs_digest([pair], seed=1)
