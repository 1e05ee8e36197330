"""Extract last-layer, last-prompt-token representations f(x, t), with a content-addressed disk cache.

Each entry is one vector stored as its own ``.npy`` file under
``cache/representations/<model fingerprint>/<key[:2]>/<key>.npy``; ``key`` hashes the modality, the
instruction, the system prompt, the question text and the audio samples. Extraction is incremental: only
entries not on disk cost a forward pass. Files are written atomically, so a killed process never leaves
a half-written entry; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rrs.models.base import LALM, Query, check_modality
from rrs.parallel import Parallel
from rrs.paths import cache_dir
from rrs.store import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    import torch


def audio_digest(audio: np.ndarray | None) -> str:
    if audio is None:
        return "-"
    return hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes(), usedforsecurity=False).hexdigest()


def entry_key(query: Query, modality: str, instruction: str | None, system_prompt: str | None) -> str:
    parts = [modality, instruction or "", system_prompt or "", query.text]
    parts.append(audio_digest(query.audio) if modality != "text-only" else "-")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class RepresentationCache:
    """Vectors on disk for one model fingerprint."""

    def __init__(self, fingerprint: str, root: Path | None = None) -> None:
        self.folder = (root or cache_dir() / "representations") / fingerprint

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)  # damaged entry: drop it, it will be recomputed
            return None

    def put(self, key: str, vector: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self.path(key), buffer.getvalue())

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.rglob("*.npy")) if self.folder.exists() else 0


def length_order(queries: Sequence[Query], indices: Sequence[int], modality: str) -> list[int]:
    """``indices`` sorted by input length (audio samples, then characters), so that a batch pads little."""
    def length(i: int) -> tuple[int, int]:
        audio = queries[i].audio
        return (0 if modality == "text-only" or audio is None else len(audio), len(queries[i].text))

    return sorted(indices, key=length)


def extract(
    model: LALM,
    queries: Sequence[Query],
    modality: str,
    instruction: str | None = None,
    *,
    batch_size: int = 8,
    use_cache: bool = True,
    progress: bool = True,
    desc: str = "representations",
    parallel: Parallel | None = None,
) -> torch.Tensor:
    """f(x, t) for every query, shape (N, hidden), float32 on CPU, in the order given.

    Queries are batched by length. With ``parallel`` (several ranks under ``accelerate launch``), the ranks
    take turns over the batches that rank 0 lacks and then exchange their vectors, so every rank returns
    the whole set; a vector does not depend on which rank computed it (batches are the same).
    """
    import torch
    from tqdm.auto import tqdm

    modality = check_modality(modality)
    par = parallel if parallel is not None else Parallel.single()
    cache = RepresentationCache(model.fingerprint()) if use_cache else None
    keys = [entry_key(q, modality, instruction, model.system_prompt) for q in queries]
    found: dict[int, np.ndarray] = {}
    if cache is not None:
        for i, key in enumerate(keys):
            vector = cache.get(key)
            if vector is not None:
                found[i] = vector
    todo = length_order(queries, [i for i in range(len(queries)) if i not in found], modality)
    if par.world > 1:  # rank 0's list decides the work, even where the ranks' caches differ
        todo = par.gather(todo)[0]
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    mine = batches[par.rank :: par.world]
    bar = tqdm(total=sum(map(len, mine)), desc=desc, unit="sample", disable=not progress or not mine)
    computed: dict[int, np.ndarray] = {}
    for chunk in mine:
        hidden = model.last_hidden([queries[i] for i in chunk], modality, instruction).float().cpu().numpy()
        for i, vector in zip(chunk, hidden, strict=True):
            computed[i] = vector
            if cache is not None:
                cache.put(keys[i], vector)
        bar.update(len(chunk))
    bar.close()
    found.update(computed)
    if par.world > 1:
        for part in par.gather(found if par.is_main else computed):
            found.update(part)
    if not queries:
        return torch.zeros(0, model.hidden_size)
    return torch.from_numpy(np.stack([found[i] for i in range(len(queries))]))


def extract_pairs(
    model: LALM,
    harmful: Sequence[Query],
    benign: Sequence[Query],
    modality: str,
    instruction: str,
    refusal_instruction: str,
    **kwargs: Any,
) -> dict[str, torch.Tensor]:
    """The three sets RRS needs: V(d_h) = f(d_h, t), Ṽ(d_h) = f(d_h, t̃) and V(d_b) = f(d_b, t)."""
    return {
        "harmful": extract(model, harmful, modality, instruction, desc="harmful f(d_h, t)", **kwargs),
        "harmful_refusal": extract(
            model, harmful, modality, refusal_instruction, desc="harmful f(d_h, t~)", **kwargs
        ),
        "benign": extract(model, benign, modality, instruction, desc="benign f(d_b, t)", **kwargs),
    }
