"""tools/benign_flips.py: benign items pushed into refusal, and whether they were the most harmful-like."""

from __future__ import annotations

import torch
from tool_module import load_tool


def test_flips_are_found_and_ranked_by_their_harmful_likeness_before_training():
    tool = load_tool("benign_flips")
    hidden, opener = 4, 0
    lm_head = torch.zeros(3, hidden)
    lm_head[opener, 0] = 1.0  # the opener's logit is the first feature
    harmful = torch.tensor([True] * 4 + [False] * 6)
    first = torch.zeros(10, hidden)
    first[:4, 1] = 3.0  # harmful items sit at +3 on feature 1
    first[4:, 1] = torch.tensor([2.5, 2.0, 0.0, -0.5, -1.0, 0.5])  # benign 4 and 5 sit nearest them
    last = first.clone()
    last[:4, 0] = 10.0  # the harmful ones refuse after training ...
    last[4:6, 0] = 10.0  # ... and so do the two most harmful-like benign ones
    out = tool.flips(first, last, harmful, lm_head, [opener])
    assert out["flipped"] == [4, 5] and out["n_benign"] == 6 and out["refused_harmful"] == 1.0
    assert out["auroc"] == 1.0 and out["ci"][0] <= 1.0
    mass = tool.refusal_mass(last, lm_head, [opener])
    assert mass[0] > 0.99 and abs(float(mass[6]) - 1 / 3) < 1e-6  # uniform over 3 tokens before training

    last[4:6, 0] = 0.0
    last[8, 0] = 10.0  # now only the least harmful-like benign item flips: AUROC 0
    assert tool.flips(first, last, harmful, lm_head, [opener])["auroc"] == 0.0
