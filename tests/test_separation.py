"""The separation score: chance on mixed states, high on separated ones."""

from __future__ import annotations

import numpy as np
import torch

from rrs.separation import separation_scores


def test_separated_states_score_high_and_mixed_states_near_chance():
    rng = np.random.default_rng(0)
    labels = ["harmful"] * 40 + ["benign"] * 40
    mixed = rng.normal(size=(80, 32))
    shifted = mixed.copy()
    shifted[:40, :4] += 3.0
    low, high = separation_scores(mixed, labels), separation_scores(torch.tensor(shifted), labels)
    assert low["n_harmful"] == low["n_benign"] == 40
    assert 0.3 <= low["probe_accuracy"] <= 0.7
    assert high["probe_accuracy"] >= 0.95
    assert high["silhouette"] > low["silhouette"]


def test_too_few_points_give_no_score():
    out = separation_scores(np.zeros((3, 4)), ["harmful", "benign", "benign"])
    assert out["probe_accuracy"] is None and out["n_harmful"] == 1
