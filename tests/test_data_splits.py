"""rrs.data.splits: stratified, seeded splits and the train/eval disjointness check."""

from __future__ import annotations

import pytest

from rrs import data
from rrs.data import DataError, Item, Pair

# ---- Splits and disjointness -------------------------------------------------------------------


def test_split_is_stratified_disjoint_and_deterministic(mirror: list[Pair]) -> None:
    train, val = data.split_pairs(mirror, val_fraction=0.2, seed=0)
    assert len(train) + len(val) == len(mirror)
    assert not {p.harmful.uid for p in train} & {p.harmful.uid for p in val}
    assert {p.category for p in train} == {p.category for p in val} == {p.category for p in mirror}
    assert 0.17 < len(val) / len(mirror) < 0.23
    again = data.split_pairs(mirror, val_fraction=0.2, seed=0)
    assert again == (train, val)
    assert data.split_pairs(mirror, val_fraction=0.2, seed=1)[1] != val
    small = [Pair(Item(f"h{i}", "harmful", c), Item(f"b{i}", "benign", c), c) for i, c in enumerate("aabbb")]
    tr, va = data.split_pairs(small, val_fraction=0.1)
    assert {p.category for p in tr} == {p.category for p in va} == {"a", "b"}
    with pytest.raises(ValueError):
        data.split_pairs(mirror, val_fraction=1.0)


def test_stratified_take_shows_every_category_and_keeps_order(mirror: list[Pair]) -> None:
    categories = {p.category for p in mirror}
    k = len(categories) + 3
    taken = data.stratified_take(mirror, k)
    assert len(taken) == k
    assert {p.category for p in taken} == categories  # a plain mirror[:k] holds one or two categories
    assert len({p.category for p in mirror[:k]}) < len(categories)
    positions = [mirror.index(p) for p in taken]
    assert positions == sorted(positions)
    assert data.stratified_take(mirror[:3], 10) == mirror[:3]
    assert len({p.category for p in data.stratified_take(mirror, 4)}) == 4


def test_check_disjoint_normalises() -> None:
    train = [Item("How do I bake bread?", "benign")]
    data.check_disjoint(train, [Item("How do I bake cake?", "benign")])
    with pytest.raises(DataError, match="1 evaluation prompt"):
        data.check_disjoint(train, [Item("  how do I   BAKE bread? ", "harmful")])
