"""rrs.feature_analysis on a tiny random Qwen2-Audio: FeatureAnalysis readouts, per-category ΔV̄, disk cache."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rrs.data.types import Item, Pair
from rrs.feature_analysis import FeatureAnalysis, share_kept
from rrs.features import SafetyFeatures, delta_mean

TOPS = (0.5, 5.0, 12.5, 25.0, 51.0, 75.0, 100.0)


@pytest.fixture(scope="module")
def built(module_cache, tiny_q2a, four_mirror_pairs):
    calls = []
    result = FeatureAnalysis.from_model(tiny_q2a, four_mirror_pairs, "audio-text", progress=lambda f, m: calls.append(f))
    return result, calls


def test_readouts_follow_top_percent(built):
    fa, calls = built
    assert calls[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in calls)
    assert fa.n_pairs == 4 and fa.hidden_size == 64
    outs = [fa.readouts(m) for m in TOPS]
    sizes = [o["n_selected"] for o in outs]
    assert sizes == sorted(sizes) and sizes[0] == 1 and sizes[-1] == 64
    assert len(set(sizes)) == len(sizes)
    for m, out in zip(TOPS, outs, strict=True):
        sel = fa.features.with_top(m)
        assert out["top_percent"] == m
        assert out["n_selected"] == int(sel.mask.sum())
        assert torch.equal(fa.mask(m), sel.mask)
        assert out["predicted_delta_logit"] == pytest.approx(sel.predicted_delta_logit, abs=1e-5)
        assert out["safety_vector_norm"] == pytest.approx(float(sel.safety_vector.norm()), rel=1e-5)
        # The fast path (reachable tokens only) agrees with FirstTokenPreview over the whole vocabulary.
        slow = fa.preview.compare(sel)
        for label in ("harmful", "benign"):
            assert out[f"{label}_refusal_before"] == pytest.approx(slow["before"][label], abs=1e-4)
            assert out[f"{label}_refusal_after"] == pytest.approx(slow["after"][label], abs=1e-4)
        expected_share = share_kept(fa.features.contrib, out["n_selected"])
        assert out["share_of_predicted_logit_kept"] == pytest.approx(expected_share)
    assert fa.readouts(25.0) == fa.readouts(25.0)  # memoised, same answer


@pytest.mark.parametrize("scale", [0.3, 30.0])
def test_fast_readouts_match_full_vocabulary_preview(scale):
    """The pruned vocabulary never changes an answer: every selection size, both signs, 40+40 rows."""
    from rrs.features import FirstTokenPreview, compute_features

    gen = torch.Generator().manual_seed(3)
    vocab, hidden, n = 3000, 24, 40
    weight = torch.randn(vocab, hidden, generator=gen) * 0.3
    bias = torch.randn(vocab, generator=gen) * 2.0  # peaked first-token distributions
    refusal_ids = bias.argsort(descending=True)[:3].tolist()
    reps = {k: torch.randn(n, hidden, generator=gen) for k in ("harmful", "harmful_refusal", "benign")}
    reps["harmful_refusal"] = reps["harmful_refusal"] + scale * weight[refusal_ids[0]]
    feats = compute_features(reps, weight[refusal_ids[0]], 25.0, refusal_ids[0])
    preview = FirstTokenPreview(weight, reps["harmful"], reps["benign"], refusal_ids, bias)
    pairs = [Pair(Item(f"h{i}", "harmful", f"c{i % 3}"), Item(f"b{i}", "benign", f"c{i % 3}"), f"c{i % 3}")
             for i in range(n)]
    fa = FeatureAnalysis(pairs, "text-only", reps, feats, preview)
    assert 0 < fa.n_reachable_tokens <= vocab
    if scale < 1:
        assert fa.n_reachable_tokens < vocab // 4
    seen = set()
    for k in range(1, hidden + 1):
        top = 100.0 * k / hidden
        out = fa.readouts(top)
        slow = preview.compare(feats.with_top(top))
        assert out["n_selected"] == k
        for label in ("harmful", "benign"):
            assert out[f"{label}_refusal_after"] == pytest.approx(slow["after"][label], abs=1e-4)
        seen.add((out["harmful_refusal_after"], out["benign_refusal_after"]))
    assert len(seen) > 1  # the selection size matters in this example


def test_share_kept_definition(built):
    fa, _ = built
    c = fa.features.contrib
    positive = float(c[c > 0].sum())
    k_pos = int((c > 0).sum())
    assert 0 < k_pos < 64  # a random model has both signs
    # 1.0 exactly when the selection is the positive contributions; Σc/Σc⁺ at 100%.
    assert share_kept(c, k_pos) == pytest.approx(1.0)
    at_100 = fa.readouts(100.0)["share_of_predicted_logit_kept"]
    assert at_100 == pytest.approx(float(c.sum()) / positive, rel=1e-5)
    shares = [share_kept(c, k) for k in range(65)]
    assert max(shares) == pytest.approx(1.0)
    assert all(a <= b + 1e-12 for a, b in zip(shares[:k_pos], shares[1 : k_pos + 1], strict=True))
    assert all(a >= b - 1e-12 for a, b in zip(shares[k_pos:], shares[k_pos + 1 :], strict=False))
    # Hand-computed cases, including "1.0 at 100% iff no negative contribution".
    assert share_kept(np.array([1.0, 3.0, -2.0]), 1) == pytest.approx(0.75)
    assert share_kept(np.array([1.0, 3.0, -2.0]), 2) == pytest.approx(1.0)
    assert share_kept(np.array([1.0, 3.0, -2.0]), 3) == pytest.approx(0.5)
    assert share_kept(np.array([0.5, 2.0, 0.0]), 3) == pytest.approx(1.0)
    assert math.isnan(share_kept(np.array([-1.0, 0.0]), 2))


def test_per_category_norms(built):
    fa, _ = built
    table = fa.category_norms(25.0)
    assert len(table) == 2 and table["n_pairs"].tolist() == [2, 2]
    mask = fa.mask(25.0).float()
    for row in table.itertuples():
        idx = [i for i, p in enumerate(fa.pairs) if p.category == row.category]
        delta = delta_mean(fa.reps["harmful_refusal"][idx], fa.reps["benign"][idx])
        assert row.delta_norm == pytest.approx(float(delta.norm()), rel=1e-5)
        assert row.selected_norm == pytest.approx(float((delta * mask).norm()), rel=1e-5)
        assert row.selected_norm <= row.delta_norm + 1e-6
        assert -1.0 <= row.cosine <= 1.0
    assert table["delta_norm"].is_monotonic_decreasing
    # Equal-sized categories: the overall ΔV̄ is the mean of the per-category ones.
    torch.testing.assert_close(sum(fa.category_deltas.values()) / 2, fa.features.delta, atol=1e-5, rtol=1e-5)
    assert fa.category_norms()["selected_norm"].isna().all()


def test_second_construction_uses_the_disk_cache(built, tiny_q2a, four_mirror_pairs, monkeypatch):
    fa, _ = built

    def boom(*args, **kwargs):
        raise AssertionError("last_hidden must not run: every representation is cached on disk")

    monkeypatch.setattr(tiny_q2a, "last_hidden", boom)
    again = FeatureAnalysis.from_model(tiny_q2a, four_mirror_pairs, "audio-text")
    for key in ("harmful", "harmful_refusal", "benign"):
        torch.testing.assert_close(again.reps[key], fa.reps[key])
    assert again.readouts(12.5) == fa.readouts(12.5)


def test_save_writes_the_chosen_selection(built, tmp_path):
    fa, _ = built
    folder = fa.save(tmp_path / "sel", 12.5)
    loaded = SafetyFeatures.load(folder)
    assert loaded.top_percent == 12.5
    assert torch.equal(loaded.mask, fa.mask(12.5))
    meta = json.loads((folder / "analysis.json").read_text())
    assert meta["n_pairs"] == 4 and meta["modality"] == "audio-text"
    assert meta["readouts"]["n_selected"] == fa.readouts(12.5)["n_selected"] == 8
