"""rrs.pair_selection: the harmful-likeness score, and "boundary" selection on a tiny random model."""

from __future__ import annotations

import pytest
import torch

from rrs.data.prompts import EXTRACTION_PROMPT
from rrs.data.queries import to_queries
from rrs.pair_selection import benign_anchors, benign_harmfulness, boundary_scores, select_pairs
from rrs.representations import extract
from rrs.testing import tiny_qwen2_audio
from rrs.tuning.config import TuneConfig


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))


def test_score_is_positive_on_the_harmful_side_and_zero_at_the_midpoint():
    harmful = torch.tensor([[2.0, 0.0], [4.0, 0.0]])  # mean (3, 0)
    benign = torch.tensor([[0.0, 1.0], [0.0, -1.0], [3.0, 0.0], [-3.0, 0.0]])  # mean (0, 0); midpoint (1.5, 0)
    assert benign_harmfulness(harmful, benign).tolist() == pytest.approx([-1.5, -1.5, 1.5, -4.5])


def test_boundary_takes_each_categorys_most_harmful_like_benign_twins(mirror):
    model = tiny_qwen2_audio(seed=2)
    categories = list(dict.fromkeys(p.category for p in mirror))[:2]
    pairs = [p for c in categories for p in [q for q in mirror if q.category == c][:5]]

    chosen = select_pairs(lambda: model, pairs, 2, "boundary", progress=False)

    text = dict(with_audio=False)
    harmful = extract(model, to_queries([p.harmful for p in pairs], **text), "text-only", EXTRACTION_PROMPT,
                      progress=False)
    benign = extract(model, to_queries([p.benign for p in pairs], **text), "text-only", EXTRACTION_PROMPT,
                     progress=False)
    score = benign_harmfulness(harmful, benign)
    expected = []
    for c in categories:
        members = [i for i, p in enumerate(pairs) if p.category == c]
        expected += sorted(sorted(members, key=lambda i: -float(score[i]))[:2])
    assert chosen == [pairs[i] for i in expected]  # two per category, the top scores, input order kept
    assert select_pairs(lambda: model, pairs, None, "boundary") == pairs


def test_first_selection_never_loads_a_model(mirror):
    def no_model():
        raise AssertionError("the first pairs need no model")

    categories = list(dict.fromkeys(p.category for p in mirror))[:2]
    pairs = [p for c in categories for p in [q for q in mirror if q.category == c][:5]]
    assert select_pairs(no_model, pairs, 2, "first") == pairs[:2] + pairs[5:7]


def test_unknown_selection_is_refused(mirror):
    with pytest.raises(ValueError, match="pair_selection"):
        TuneConfig(pair_selection="hardest")
    with pytest.raises(ValueError, match="first, boundary"):
        select_pairs(lambda: None, mirror[:2], 1, "hardest")


def test_anchors_are_the_most_harmful_like_benign_twins_outside_the_chosen_pairs(mirror):
    model = tiny_qwen2_audio(seed=2)
    categories = list(dict.fromkeys(p.category for p in mirror))[:2]
    pairs = [p for c in categories for p in [q for q in mirror if q.category == c][:5]]
    chosen = select_pairs(lambda: model, pairs, 2, "first")

    anchors = benign_anchors(lambda: model, pairs, chosen, 2, progress=False)

    score = boundary_scores(model, pairs, progress=False)
    expected = []
    for c in categories:
        rest = [i for i, p in enumerate(pairs) if p.category == c and p not in chosen]
        expected += sorted(sorted(rest, key=lambda i: -score[i])[:2])
    assert anchors == [pairs[i].benign for i in expected]
    assert all(a.label == "benign" for a in anchors) and len(anchors) == 4
    assert not {a.uid for a in anchors} & {p.benign.uid for p in chosen}  # never a twin already trained on
    assert benign_anchors(lambda: model, pairs, chosen, 0) == []


def test_anchors_are_for_rrs_only():
    assert TuneConfig(benign_anchors=6).benign_anchors == 6
    with pytest.raises(ValueError, match="benign_anchors"):
        TuneConfig(method="sft-full", benign_anchors=6)
    with pytest.raises(ValueError, match="benign_anchors"):
        TuneConfig(benign_anchors=-1)
