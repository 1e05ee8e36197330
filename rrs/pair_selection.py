"""Which training pairs to take per category: the first ones, or the ones nearest the refusal boundary.

RRS pushes every benign training twin away from the refusal zone (target f0(d_b, t) − ΔV̄ˢ). On the embedded
model the benign questions that end up refused are the ones that already sat nearest the harmful side
(docs/RESULTS.md, "Which benign items flip"). ``"boundary"`` selection trains on exactly such twins: per
category, the pairs whose benign question is most *harmful-like*, i.e. projects furthest onto
(mean harmful − mean benign) of the model's text-only states f(d, t) over all candidate pairs.

Text-only states are used for the score because the model reads harm more clearly than it hears it
(docs/EMBEDDED.md) and because scoring several hundred pairs then needs no speech synthesis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from rrs.data.prompts import EXTRACTION_PROMPT
from rrs.data.queries import to_queries
from rrs.data.splits import pairs_per_category
from rrs.data.types import Item, Pair
from rrs.representations import extract

if TYPE_CHECKING:
    import torch

__all__ = ["PAIR_SELECTIONS", "benign_anchors", "benign_harmfulness", "boundary_scores", "select_pairs"]

#: ``TuneConfig.pair_selection``: the first pairs of each category (input order) or the near-boundary ones.
PAIR_SELECTIONS = ("first", "boundary")


def benign_harmfulness(harmful: torch.Tensor, benign: torch.Tensor) -> torch.Tensor:
    """Per benign row: its projection on the unit vector (mean harmful − mean benign), centred on the
    midpoint of the two means, so a positive score lies on the harmful side."""
    direction = harmful.mean(0) - benign.mean(0)
    direction = direction / direction.norm()
    midpoint = (harmful.mean(0) + benign.mean(0)) / 2
    return (benign - midpoint) @ direction


def select_pairs(
    load_model: Callable[[], Any], pairs: Sequence[Pair], per_category: int | None, how: str = "first", progress: bool = True
) -> list[Pair]:
    """At most ``per_category`` pairs of each category, chosen ``how`` (:data:`PAIR_SELECTIONS`).

    ``"boundary"`` takes each category's pairs with the most harmful-like benign twins (see the module
    docstring) and keeps their input order; ``None`` keeps every pair either way. ``load_model`` returns
    the model; it is called only when the boundary scores need it, so "first" never loads a model.
    """
    if how not in PAIR_SELECTIONS:
        raise ValueError(f"pair selection must be one of {', '.join(PAIR_SELECTIONS)}, got {how!r}")
    if how == "first" or per_category is None:
        return pairs_per_category(pairs, per_category)
    keep = _top_per_category(pairs, boundary_scores(load_model(), pairs, progress), per_category, exclude=())
    return [p for i, p in enumerate(pairs) if i in keep]


def benign_anchors(
    load_model: Callable[[], Any], pairs: Sequence[Pair], chosen: Sequence[Pair], per_category: int,
    progress: bool = True,
) -> list[Item]:
    """Benign twins to train on without their harmful twins: per category, the ``per_category`` most
    harmful-like benign questions among the pairs not in ``chosen`` (scored as ``"boundary"`` scores them).

    RRS then keeps exactly the benign questions that sit nearest the refusal boundary out of the refusal zone,
    while the harmful questions it moves stay those of ``chosen``."""
    if per_category < 1:
        return []
    taken = {p.harmful.uid for p in chosen}
    exclude = {i for i, p in enumerate(pairs) if p.harmful.uid in taken}
    keep = _top_per_category(pairs, boundary_scores(load_model(), pairs, progress), per_category, exclude)
    return [p.benign for i, p in enumerate(pairs) if i in keep]


def boundary_scores(model: Any, pairs: Sequence[Pair], progress: bool = True) -> list[float]:
    """Each pair's benign harmful-likeness over the text-only states of all ``pairs`` (see the module docstring)."""
    kwargs = {"progress": progress}
    harmful = extract(model, to_queries([p.harmful for p in pairs], with_audio=False), "text-only",
                      EXTRACTION_PROMPT, desc="harmful f(d_h, t), text", **kwargs)
    benign = extract(model, to_queries([p.benign for p in pairs], with_audio=False), "text-only",
                     EXTRACTION_PROMPT, desc="benign f(d_b, t), text", **kwargs)
    return benign_harmfulness(harmful, benign).tolist()


def _top_per_category(pairs: Sequence[Pair], score: Sequence[float], per_category: int,
                      exclude: Collection[int]) -> set[int]:
    """Indices of each category's ``per_category`` highest-scoring pairs, leaving out ``exclude``."""
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, pair in enumerate(pairs):
        if i not in exclude:
            by_category[pair.category].append(i)
    return {i for members in by_category.values() for i in sorted(members, key=lambda j: -score[j])[:per_category]}
