"""rrs.embedded (the embedded model's build tools): the adaptation and held-out question sets."""

from __future__ import annotations

from rrs.embedded.questions import benign_questions, normalise, reference_questions


def test_adaptation_questions_are_disjoint_from_heldout_and_reference_sets():
    adapt, heldout = benign_questions("adapt"), benign_questions("heldout")
    assert len(heldout) >= 100 and len(adapt) >= 200
    assert not set(adapt) & set(heldout)
    blocked = reference_questions()
    assert len(blocked) > 1000
    assert not {normalise(q) for q in adapt + heldout} & blocked
