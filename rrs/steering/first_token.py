"""The first-token view of steering: the probability that the first response token opens a refusal, for one
alpha (:func:`first_token_refusal_prob`) or a curve of them (:func:`first_token_curve`); the dashboard's
alpha slider. torch and tqdm are imported when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rrs.models.base import LALM, Modality, Query
from rrs.steering.hooks import steer
from rrs.steering.vectors import SteeringVectors, batched

__all__ = ["first_token_curve", "first_token_refusal_prob"]

def first_token_refusal_prob(
    model: LALM,
    queries: Sequence[Query],
    vectors: SteeringVectors,
    alpha: float | None = None,
    refusal_ids: Sequence[int] | None = None,
    *,
    layers: Sequence[int] | None = None,
    ablated: bool = True,
    modality: Modality | None = None,
    instruction: str | None = None,
    batch_size: int = 8,
) -> float:
    """Mean over ``queries`` of the probability that the first response token is a refusal opener.

    Per query the softmax probabilities of ``refusal_ids`` (default: the model's refusal token, "I") are
    summed; modality and instruction default to the vectors' extraction config.
    """
    import torch

    if not queries:
        raise ValueError("first_token_refusal_prob needs at least one query")
    ids = sorted({int(i) for i in (refusal_ids if refusal_ids is not None else [model.refusal_token_id])})
    modality = modality or vectors.config.modality
    instruction = instruction if instruction is not None else vectors.config.instruction
    total = 0.0
    with steer(model, vectors, alpha=alpha, layers=layers, ablated=ablated):
        for batch in batched(queries, batch_size):
            logits = model.first_token_logits(batch, modality, instruction)
            total += float(torch.softmax(logits.float(), dim=-1)[:, ids].sum(dim=-1).sum())
    return total / len(queries)


def first_token_curve(
    model: LALM,
    vectors: SteeringVectors,
    harmful: Sequence[Query],
    benign: Sequence[Query],
    alphas: Sequence[float],
    refusal_ids: Sequence[int] | None = None,
    layer_sets: Sequence[Sequence[int] | None] = (None,),
    progress: bool = False,
) -> list[dict[str, Any]]:
    """First-token refusal probability of harmful and benign queries per α and layer set, ablated (SARSteer)
    and plain. α = 0 is computed once (it is the same for every layer set); ``None`` = every vector's layer.
    Each row also holds ``gap`` = harmful − benign, the separation a good setting widens."""
    from tqdm.auto import tqdm

    settings = [(a, layers, ablated) for a in alphas for layers in (layer_sets if a else (None,))
                for ablated in ((True, False) if a else (True,))]
    rows = []
    for alpha, layers, ablated in tqdm(settings, disable=not progress, desc="first-token curve", unit="setting"):
        chosen = list(vectors.layers) if layers is None else [int(i) for i in layers]
        row: dict[str, Any] = {"alpha": float(alpha), "layers": chosen if alpha else [], "ablated": ablated}
        for label, queries in (("harmful", harmful), ("benign", benign)):
            row[label] = round(first_token_refusal_prob(model, queries, vectors, alpha, refusal_ids,
                                                        layers=chosen, ablated=ablated), 6)
        row["gap"] = round(row["harmful"] - row["benign"], 6)
        rows.append(row)
    return rows
