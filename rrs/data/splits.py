"""Train/validation splits (seeded, stratified by category), per-category subsets, and the check that no
evaluation prompt occurs in the training data.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from rrs.data.types import DataError, Item, Pair, normalise

__all__ = ["check_disjoint", "pairs_per_category", "split_pairs", "stratified_take"]

class _HasCategory(Protocol):
    @property
    def category(self) -> str: ...


T = TypeVar("T", bound=_HasCategory)


def pairs_per_category(pairs: Sequence[Pair], per_category: int | None) -> list[Pair]:
    """The first ``per_category`` pairs of each category, input order kept; ``None`` keeps all."""
    if per_category is None:
        return list(pairs)
    if per_category < 1:
        raise ValueError(f"per_category must be >= 1, got {per_category}")
    kept: dict[str, int] = {}
    out = []
    for pair in pairs:
        if kept.get(pair.category, 0) < per_category:
            kept[pair.category] = kept.get(pair.category, 0) + 1
            out.append(pair)
    return out


def stratified_take(things: Sequence[T], n: int) -> list[T]:
    """``n`` of ``things`` drawn round-robin over their categories (sorted), each category in input order.

    Every category is represented once ``n`` reaches the number of categories, so a small probe set still
    shows them all (a plain ``things[:n]`` can be one category). The result keeps the input order."""
    if n >= len(things):
        return list(things)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, thing in enumerate(things):
        groups[thing.category].append(index)
    queues = [groups[c] for c in sorted(groups)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n:
        for queue in queues:
            if depth < len(queue) and len(chosen) < n:
                chosen.append(queue[depth])
        depth += 1
    return [things[i] for i in sorted(chosen)]


def split_pairs(pairs: Sequence[T], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[T], list[T]]:
    """Split into (train, val), stratified by category, reproducibly from ``seed``.

    Each category with at least two members puts ``round(size * val_fraction)`` of them (at least one,
    at most size - 1) into val; a category of one stays in train. Both parts keep the input order.
    Every input position lands in exactly one part.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        groups[pair.category].append(index)
    val: set[int] = set()
    for category in sorted(groups):
        members = groups[category]
        if len(members) < 2:
            continue
        k = min(max(round(len(members) * val_fraction), 1), len(members) - 1)
        rng = random.Random(f"rrs-split\x00{int(seed)}\x00{category}")
        val.update(rng.sample(members, k))
    train = [p for i, p in enumerate(pairs) if i not in val]
    return train, [p for i, p in enumerate(pairs) if i in val]


def _items_of(things: Iterable[Item | Pair]) -> Iterator[Item]:
    for thing in things:
        if isinstance(thing, Pair):
            yield thing.harmful
            yield thing.benign
        else:
            yield thing


def check_disjoint(train_items: Iterable[Item | Pair], eval_items: Iterable[Item | Pair]) -> None:
    """Raise :class:`DataError` if any evaluation prompt equals (after :func:`normalise`) a training one."""
    train = {normalise(item.prompt) for item in _items_of(train_items)}
    overlap = sorted({item.prompt for item in _items_of(eval_items) if normalise(item.prompt) in train})
    if overlap:
        shown = "; ".join(repr(p[:80]) for p in overlap[:5])
        raise DataError(f"{len(overlap)} evaluation prompt(s) also occur in the training data: {shown}")

