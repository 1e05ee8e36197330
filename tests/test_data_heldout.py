"""rrs.data.heldout: held-out evaluation sets, disjoint from training."""

from __future__ import annotations

import pytest

from rrs import data
from rrs.data import DataError, Pair


def test_heldout_sets_are_disjoint_from_training(mirror: list[Pair]) -> None:
    harmful, benign = data.heldout_harmful(), data.heldout_benign()
    assert len(harmful) == 159 and len(benign) == 150
    assert all(i.label == "harmful" for i in harmful) and all(i.label == "benign" for i in benign)
    data.check_disjoint(mirror, harmful + benign)
    data.check_disjoint(data.flatten(data.sarsteer_pairs("figstep", "train")), harmful + benign)
    train, val = data.split_pairs(mirror)
    with_twins = data.heldout_benign(val_pairs=val)
    assert len(with_twins) == 150 + len(val)
    data.check_disjoint(train, with_twins)
    with pytest.raises(DataError):
        data.check_disjoint(mirror, with_twins)  # the validation twins are Mirror questions


def test_heldout_sampling() -> None:
    sample = data.heldout_harmful(n=20, seed=1)
    assert len(sample) == 20 and sample == data.heldout_harmful(n=20, seed=1)
    assert sample != data.heldout_harmful(n=20, seed=2)
    assert len(data.heldout_benign(n=1000)) == 150
