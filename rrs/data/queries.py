"""Items -> model queries (text + 16 kHz speech), the clip a model hears for an item, and short greedy
answers to a pair's two questions. tqdm and pandas are imported when used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rrs.data.types import Item, Pair
from rrs.hardware import resolve_precision
from rrs.models.base import LALM, MODALITIES, GenerationSettings, Query, check_modality
from rrs.speech import Voice, load_audio, synthesize_cached, voice_for

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


__all__ = ["item_audio", "responses_for_pair", "responses_table", "to_queries"]

def to_queries(
    items: Sequence[Item], seed: int = 0, with_audio: bool = True, progress: bool = True
) -> list[Query]:
    """Turn items into :class:`Query` objects (text + 16 kHz speech).

    An item's own ``audio_path`` is loaded with :func:`rrs.load_audio`; otherwise its prompt is
    synthesised (cached) in the voice :func:`rrs.speech.voice_for` draws from ``(uid, seed)`` -- one
    random voice per sample, as in the paper. ``with_audio=False`` gives text-only queries.
    """
    if not with_audio:
        return [Query(item.prompt) for item in items]
    from tqdm.auto import tqdm

    queries = []
    for item in tqdm(items, desc="speech", unit="clip", disable=not progress or len(items) == 0):
        if item.audio_path is not None:
            wave = load_audio(item.audio_path)
        else:
            wave = synthesize_cached(item.prompt, voice_for(item.uid, seed))
        queries.append(Query(item.prompt, wave))
    return queries


def item_audio(item: Item, seed: int = 0, voice: Voice | None = None) -> tuple[np.ndarray, str]:
    """The 16 kHz clip the model hears for ``item`` (as :func:`rrs.data.to_queries` makes it) and where it
    comes from: ``"recording <file>"`` or the synthetic voice's label. ``voice`` overrides the voice drawn
    for the item (to hear both questions of a pair in one voice); a recording is always used as it is."""
    if item.audio_path is None and voice is not None:
        return synthesize_cached(item.prompt, voice), voice.label
    wave = to_queries([item], seed, progress=False)[0].audio
    assert wave is not None
    how = f"recording {Path(item.audio_path).name}" if item.audio_path else voice_for(item.uid, seed).label
    return wave, how


def responses_for_pair(
    model: LALM,
    pair: Pair,
    modalities: Sequence[str] = MODALITIES,
    seed: int = 0,
    max_new_tokens: int = 48,
) -> dict[str, tuple[str, str]]:
    """Greedy answers to the pair's two questions: ``{modality: (harmful answer, benign answer)}``.

    Audio-text uses the model's default instruction (the paper's extraction prompt t).
    """
    modalities = [check_modality(m) for m in modalities]
    with_audio = any(m != "text-only" for m in modalities)
    queries = to_queries([pair.harmful, pair.benign], seed, with_audio=with_audio, progress=False)
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=False, seed=seed)
    out = {}
    with model.computing_in(resolve_precision("auto", model.device.type)):  # bf16 where native: ~3x on CPU
        for modality in modalities:
            answers = model.generate(queries, modality, settings=settings)
            out[modality] = (answers[0][0], answers[1][0])
    return out


def responses_table(responses: dict[str, tuple[str, str]],
                    is_refusal: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """One row per modality; with ``is_refusal`` (e.g. the keyword judge) each answer is marked
    "refuses" or "answers"."""
    import pandas as pd

    rows = []
    for modality, (harmful, benign) in responses.items():
        row = {"modality": modality, "answer to the harmful question": harmful, "answer to the benign question": benign}
        if is_refusal is not None:
            row["harmful: refuses?"] = "REFUSES" if is_refusal(harmful) else "answers"
            row["benign: refuses?"] = "REFUSES" if is_refusal(benign) else "answers"
        rows.append(row)
    return pd.DataFrame(rows)
