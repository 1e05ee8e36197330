"""Rates and AUROC carry their n and a 95% interval that behaves like one."""

from __future__ import annotations

import pytest

from rrs.evaluation.intervals import auroc, auroc_interval, paired_rate_difference, rate_interval, wilson


def test_rate_interval_brackets_the_rate_and_narrows_with_n():
    small = rate_interval([True] * 3 + [False] * 7)
    large = rate_interval([True] * 30 + [False] * 70)
    assert small["rate"] == large["rate"] == 30.0 and (small["n"], large["n"]) == (10, 100)
    for r in (small, large):
        assert r["ci"][0] < 30.0 < r["ci"][1]
    assert large["ci"][1] - large["ci"][0] < small["ci"][1] - small["ci"][0]


def test_all_same_outcomes_use_wilson_not_a_point():
    r = rate_interval([False] * 20)
    assert r["rate"] == 0.0 and r["ci"][0] == 0.0 and r["ci"][1] > 10.0
    assert wilson(20, 20)[1] == pytest.approx(1.0)
    assert rate_interval([])["n"] == 0


def test_auroc_and_its_interval():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5
    r = auroc_interval([0.9, 0.7, 0.6, 0.4], [0.5, 0.3, 0.2, 0.1])
    assert r["auroc"] == pytest.approx(15 / 16, abs=1e-3)
    assert r["ci"][0] <= r["auroc"] <= r["ci"][1] and (r["n_harmful"], r["n_benign"]) == (4, 4)


def test_clustered_interval_counts_correlated_answers_once():
    from rrs.evaluation.intervals import clustered_rate_interval, rate_interval

    groups = [[True] * 5] * 5 + [[False] * 5] * 5  # five answers per query, all alike within a query
    clustered = clustered_rate_interval(groups)
    flat = rate_interval([x for g in groups for x in g])
    assert clustered["rate"] == flat["rate"] == 50.0 and clustered["n"] == 50 and clustered["groups"] == 10
    width = clustered["ci"][1] - clustered["ci"][0]
    assert width > 1.5 * (flat["ci"][1] - flat["ci"][0])  # ten queries, not fifty independent answers
    assert clustered_rate_interval([[False, False], [False]])["ci"][0] == 0.0
    assert clustered_rate_interval([])["rate"] is None


def test_paired_difference_is_the_change_in_rate_and_pairing_narrows_it():
    before = [[True, True]] * 10 + [[False, False]] * 10  # 50%
    after = [[True, False]] * 10 + [[False, False]] * 10  # 25%: only the first ten questions changed
    change = paired_rate_difference(before, after)
    assert change["difference"] == -25.0 and change["queries"] == 20
    assert change["ci"][0] < -25.0 < change["ci"][1] < 0  # a real drop: the interval excludes zero
    same = paired_rate_difference(before, before)
    assert same["difference"] == 0.0 and same["ci"] == [0.0, 0.0]  # identical answers: no noise at all
    # Unpaired, the two 20-question rates overlap; paired, the drop is resolved.
    b, a = rate_interval([x for g in before for x in g]), rate_interval([x for g in after for x in g])
    assert a["ci"][1] > b["ci"][0]


def test_paired_difference_needs_the_same_queries():
    with pytest.raises(ValueError, match="same queries"):
        paired_rate_difference([[True]], [[True], [False]])
    assert paired_rate_difference([], [])["difference"] is None
