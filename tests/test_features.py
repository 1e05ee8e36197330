"""Eq. 9/10 against a hand-computed example, the training-free preview, and save/load."""

from __future__ import annotations

import pytest
import torch

from rrs.features import (
    FirstTokenPreview,
    SafetyFeatures,
    compute_features,
    delta_mean,
    n_selected,
    select_top,
)


def test_delta_mean_and_selection_match_hand_computation():
    refusal = torch.tensor([[2.0, 0.0, 1.0, -1.0], [4.0, 2.0, 1.0, 1.0]])
    benign = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 2.0]])
    # ΔV̄ = mean([1,-1,1,-1], [3,1,1,-1]) = [2, 0, 1, -1]
    delta = delta_mean(refusal, benign)
    torch.testing.assert_close(delta, torch.tensor([2.0, 0.0, 1.0, -1.0]))
    w = torch.tensor([0.5, 3.0, -2.0, -4.0])
    feats = compute_features({"harmful_refusal": refusal, "benign": benign}, w, top_percent=50.0)
    # c = w ⊙ ΔV̄ = [1, 0, -2, 4]; sorted descending: p=3 (4), p=0 (1), p=1 (0), p=2 (-2)
    torch.testing.assert_close(feats.contrib, torch.tensor([1.0, 0.0, -2.0, 4.0]))
    assert feats.mask.tolist() == [True, False, False, True]
    torch.testing.assert_close(feats.safety_vector, torch.tensor([2.0, 0.0, 0.0, -1.0]))
    assert feats.predicted_delta_logit == pytest.approx(5.0)
    assert feats.total_delta_logit == pytest.approx(3.0)
    assert feats.positive_share == pytest.approx(0.5)
    assert feats.with_top(25.0).mask.tolist() == [False, False, False, True]
    assert feats.with_top(100.0).predicted_delta_logit == pytest.approx(3.0)


def test_selection_sizes_follow_the_percent():
    assert n_selected(896, 12.5) == 112
    assert n_selected(896, 25.0) == 224
    assert n_selected(896, 51.0) == 457
    assert int(select_top(torch.randn(896), 25.0).sum()) == 224
    with pytest.raises(ValueError):
        n_selected(10, 0.0)


def test_preview_matches_explicit_lm_head_computation():
    torch.manual_seed(0)
    hidden, vocab = 16, 50
    weight = torch.randn(vocab, hidden)
    harmful, benign = torch.randn(30, hidden), torch.randn(30, hidden)
    refusal_ids = [3, 7]
    delta = weight[3] * 0.8  # pushes toward token 3
    feats = SafetyFeatures(delta, weight[3] * delta, 51.0)
    preview = FirstTokenPreview(weight, harmful, benign, refusal_ids)

    def rate(reps):
        top = (reps @ weight.T).argmax(-1)
        return 100.0 * float(torch.isin(top, torch.tensor(refusal_ids)).float().mean())

    got = preview.compare(feats)
    s = feats.safety_vector
    assert got["before"] == {"harmful": rate(harmful), "benign": rate(benign)}
    assert got["after"]["harmful"] == pytest.approx(rate(harmful + s))
    assert got["after"]["benign"] == pytest.approx(rate(benign - s))
    assert got["after"]["harmful"] > got["before"]["harmful"]


def test_features_round_trip(tmp_path):
    feats = SafetyFeatures(torch.randn(32), torch.randn(32), 25.0, "I", 40)
    feats.save(tmp_path)
    loaded = SafetyFeatures.load(tmp_path)
    torch.testing.assert_close(loaded.safety_vector, feats.safety_vector)
    assert loaded.summary() == feats.summary()
