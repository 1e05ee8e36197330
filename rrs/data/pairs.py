"""Pair editing: stable pair ids, the Mirror train split, merging, a browsable table with a filter, and
users' typed pairs with optional recordings. pandas is imported when a table is built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rrs.data.builtin import mirror_pairs
from rrs.data.splits import split_pairs
from rrs.data.types import DEFAULT_CATEGORY, Item, Pair
from rrs.paths import cache_dir
from rrs.speech import save_wav

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "PAIR_COLUMNS",
    "filter_pairs",
    "make_pair",
    "merge_pairs",
    "mirror_train_pairs",
    "pair_table",
    "pair_uid",
    "pairs_digest",
    "save_user_audio",
]

PAIR_COLUMNS = ("category", "harmful", "benign", "source", "uid")


def pair_uid(pair: Pair) -> str:
    """A stable 12-hex-digit id of a pair, from its two items' uids."""
    return hashlib.sha1(f"{pair.harmful.uid}\x00{pair.benign.uid}".encode(), usedforsecurity=False).hexdigest()[:12]


def pairs_digest(pairs: Iterable[Pair], seed: int = 0) -> str:
    """A short hash of a list of pairs (order matters) and the voice seed: a cache key."""
    digest = hashlib.sha256(f"seed={int(seed)}".encode())
    for pair in pairs:
        digest.update(pair_uid(pair).encode())
        for item in (pair.harmful, pair.benign):
            digest.update((item.audio_path or "-").encode())
    return digest.hexdigest()[:16]


@cache
def _mirror_train(val_fraction: float, seed: int) -> tuple[Pair, ...]:
    return tuple(split_pairs(mirror_pairs(), val_fraction, seed)[0])


def mirror_train_pairs(val_fraction: float = 0.2, seed: int = 0) -> list[Pair]:
    """The train part of ``split_pairs(mirror_pairs())`` (479 of 598 pairs by default), computed once."""
    return list(_mirror_train(float(val_fraction), int(seed)))


def merge_pairs(existing: Sequence[Pair], new: Iterable[Pair]) -> tuple[list[Pair], int]:
    """``existing`` plus the pairs of ``new`` not in it yet (by :func:`pair_uid`); returns (pairs, added)."""
    out = list(existing)
    seen = {pair_uid(p) for p in out}
    added = 0
    for pair in new:
        uid = pair_uid(pair)
        if uid not in seen:
            seen.add(uid)
            out.append(pair)
            added += 1
    return out, added


def pair_table(pairs: Sequence[Pair]) -> pd.DataFrame:
    """One row per pair: ``category``, ``harmful``, ``benign`` (the prompts), ``source``, ``uid``."""
    import pandas as pd

    rows = [
        (p.category, p.harmful.prompt, p.benign.prompt, p.harmful.source, pair_uid(p)) for p in pairs
    ]
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def filter_pairs(
    table: pd.DataFrame, categories: Sequence[str] | None = None, search: str = ""
) -> pd.DataFrame:
    """Rows of ``table`` in ``categories`` (``None`` or empty: every category) whose category, harmful or
    benign text contains every whitespace-separated word of ``search`` (case-insensitive)."""
    keep = np.ones(len(table), dtype=bool)
    if categories:
        keep &= table["category"].isin(list(categories)).to_numpy()
    words = search.lower().split()
    if words:
        text = (table["category"] + " " + table["harmful"] + " " + table["benign"]).str.lower()
        for word in words:
            keep &= text.str.contains(word, regex=False).to_numpy()
    return table[keep].reset_index(drop=True)


def save_user_audio(wave: np.ndarray, root: str | Path | None = None) -> Path:
    """Keep a user's recording as a 16 kHz 16-bit WAV named by its content hash; returns the path.

    Default folder: ``rrs.paths.cache_dir() / "user_audio"``.
    """
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    folder = Path(root) if root is not None else cache_dir() / "user_audio"
    path = folder / f"{hashlib.sha1(wave.tobytes(), usedforsecurity=False).hexdigest()[:20]}.wav"
    if not path.is_file():
        save_wav(path, wave)
    return path


def make_pair(
    harmful_text: str,
    benign_text: str,
    category: str = "",
    harmful_wave: np.ndarray | None = None,
    benign_wave: np.ndarray | None = None,
    *,
    source: str = "user:typed",
    audio_root: str | Path | None = None,
) -> Pair:
    """A user's pair. Recordings (16 kHz waveforms, e.g. from :func:`rrs.speech.load_audio`) are saved with
    :func:`save_user_audio` and become the items' ``audio_path``; without one the text is synthesised.
    Raises ``ValueError`` for an empty text."""
    if not harmful_text.strip():
        raise ValueError("the harmful question is empty")
    if not benign_text.strip():
        raise ValueError("the benign question is empty")
    category = category.strip() or DEFAULT_CATEGORY

    def audio(wave: np.ndarray | None) -> str | None:
        return None if wave is None else str(save_user_audio(wave, audio_root))

    return Pair(
        Item(harmful_text.strip(), "harmful", category, audio(harmful_wave), source),
        Item(benign_text.strip(), "benign", category, audio(benign_wave), source),
        category,
    )
