"""rrs.runs.estimate: a run's time before it starts, from reference costs rescaled by runs measured here."""

from __future__ import annotations

import json

import pytest

from rrs.runs.estimate import REFERENCE_COSTS, describe, estimate_tune, format_duration
from rrs.tuning import DEMO_CONFIG, PRESETS, TuneConfig


def test_estimate_grows_with_the_work_and_presets_are_ordered():
    quick, demo, paper = (estimate_tune(PRESETS[n]) for n in ("quick look", "demo", "paper"))
    assert quick.seconds < demo.seconds < paper.seconds
    assert quick.seconds < 5 * 60 and 8 * 60 < demo.seconds < 20 * 60  # the labels promise minutes, not hours
    longer = estimate_tune(TuneConfig.from_dict({**DEMO_CONFIG.to_dict(), "epochs": 8}))
    assert longer.train_seconds == pytest.approx(2 * demo.train_seconds, abs=0.2)
    assert demo.steps == 4 * -(-2 * 84 // 8)  # 84 training pairs at 6 per category, batch 8, 4 epochs
    anchored = estimate_tune(TuneConfig.from_dict({**DEMO_CONFIG.to_dict(), "benign_anchors": 6}))
    assert anchored.steps == 4 * -(-(2 * 84 + 84) // 8)  # 6 benign anchors more in each of the 14 categories
    assert estimate_tune(TuneConfig(model="/some/checkpoint")) is None
    assert "no estimate" in describe(None) and "reference figures" in describe(demo)


def test_finished_epochs_on_this_machine_rescale_the_estimate(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(DEMO_CONFIG.to_json()))
    (run / "status.json").write_text(json.dumps({"state": "done", "total_steps": 84}))
    per_sample = REFERENCE_COSTS["embedded"]["sample_step"]
    (run / "timings.jsonl").write_text(json.dumps({"epoch": 1, "train_seconds": 2 * 21 * 8 * per_sample}) + "\n")
    base = estimate_tune(DEMO_CONFIG)
    measured = estimate_tune(DEMO_CONFIG, tmp_path)
    assert measured.seconds == pytest.approx(2 * base.seconds, rel=1e-3)  # this machine is twice as slow
    assert "measured on this machine" in measured.basis


def test_format_duration():
    assert format_duration(42) == "42 s" and format_duration(600) == "10 min" and format_duration(7200) == "2.0 h"


def test_evaluation_estimate_matches_the_measured_demo_evaluation():
    from rrs.runs.estimate import estimate_eval

    # The demo's evaluation: 200 queries × 5 answers of 32 tokens took 13.8 min on the 2-core machine.
    seconds = estimate_eval("embedded", 200, 5, 32)
    assert 11 * 60 < seconds < 17 * 60
    assert estimate_eval("embedded", 200, 5, 32, cells=3) > 2.5 * seconds - 100
    assert estimate_eval("embedded-small", 200, 5, 32) < seconds and estimate_eval("/ckpt", 10, 1, 1) is None


def test_compare_form_estimate_counts_training_and_cells():
    from dashboard.compare_view import compare_estimate

    text = compare_estimate({"model": "embedded", "limit": 40, "samples": 3,
                             "modalities": ["audio-text", "text-only", "audio-only"]})
    assert "5 trained methods" in text and "27 evaluation cells" in text and text.startswith("≈")
    assert compare_estimate({"model": "embedded", "limit": 0, "samples": 3, "modalities": []}) == "—"


def test_steer_estimate_matches_the_measured_vectors_and_shows_on_the_form():
    from dashboard.steer_view import steer_estimate
    from rrs.runs.estimate import estimate_steer

    # The comparison's vectors from 100 Mirror pairs took 6 min on the 2-core machine, clips new.
    assert 5 * 60 < estimate_steer("embedded", 100) < 7 * 60
    assert estimate_steer("embedded-small", 100) < estimate_steer("embedded", 100) < estimate_steer("embedded", 200)
    assert estimate_steer("/my/checkpoint", 100) is None
    assert steer_estimate({"model": "embedded", "pairs": "mirror", "n_pairs": 100}).startswith(
        "Estimated time: ≈ 6 min for 100 pairs")
    assert "for 479 pairs" in steer_estimate({"model": "embedded", "pairs": "mirror", "n_pairs": 0})  # 0 = all
    assert "no reference figures" in steer_estimate({"model": "/my/checkpoint", "pairs": "mirror", "n_pairs": 9})
