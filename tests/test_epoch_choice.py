"""Choosing a run's epoch: last, a number, or the best by the run's probe (rrs.tuning.epoch_choice)."""

from __future__ import annotations

import json

import pytest

from rrs.paths import PROJECT_ROOT
from rrs.runs.configs import EvalJob
from rrs.store import read_jsonl
from rrs.tuning.epoch_choice import choose_epoch, resolve_epoch


def rows(*rates: tuple[float, float]) -> list[dict]:
    """Probe rows of epochs 0, 1, ...: (harmful first-token refusal %, benign %)."""
    return [{"type": "epoch", "epoch": e, "harmful_refusal": h, "benign_refusal": b} for e, (h, b) in enumerate(rates)]


def test_the_recorded_runs_get_the_epochs_that_were_evaluated_best():
    demo = read_jsonl(PROJECT_ROOT / "examples" / "rrs-demo" / "metrics.jsonl")
    choice = choose_epoch(demo, [1, 2, 3, 4])
    # epochs 3 (66/9) and 4 (63/4) halve the probe's ASR (93 -> at most 46.5 not refused); 4 refuses less benign
    assert (choice.epoch, choice.halves_asr, choice.meets_orr, choice.benign_rise) == (4, True, False, 4.0)
    all_pairs = read_jsonl(PROJECT_ROOT / "docs" / "results" / "all-pairs" / "allpairs-4ep" / "metrics.jsonl")
    # benign 17 / 3 / 17 / 10 at epochs 1-4: epoch 2, the full evaluation's lowest ORR (4.4 against 15.8 and 10.8)
    assert choose_epoch(all_pairs, [1, 2, 3, 4]).epoch == 2
    assert "still above the +2-point target" in choose_epoch(all_pairs, [1, 2, 3, 4]).describe()


def test_the_rule_halves_asr_first_then_keeps_benign_refusal_lowest():
    probe = rows((10, 0), (50, 0), (60, 1), (90, 8), (60, 1))
    best = choose_epoch(probe, [1, 2, 3, 4])
    assert best.epoch == 2 and best.meets_orr  # 60 halves 90 not refused; on a tie the earlier epoch
    assert choose_epoch(probe, [1, 3]).epoch == 3  # only epoch 3 halves ASR among the kept checkpoints
    weak = choose_epoch(probe, [1])
    assert weak.epoch == 1 and not weak.halves_asr and "no epoch halves" in weak.describe()


def test_no_baseline_or_no_scored_checkpoint_is_a_clear_error():
    with pytest.raises(ValueError, match="epoch-0"):
        choose_epoch(rows((10, 0), (60, 1))[1:], [1])
    with pytest.raises(ValueError, match="choose an epoch by number"):
        choose_epoch(rows((10, 0), (60, 1)), [0, 5])


def make_run(tmp_path, probe: list[dict], kept: list[int]):
    run = tmp_path / "run"
    for e in kept:
        (run / "checkpoints" / f"epoch_{e:03d}").mkdir(parents=True)
        (run / "checkpoints" / f"epoch_{e:03d}" / "COMPLETE").write_text("1.0")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in probe))
    return run


def test_resolve_epoch_names_a_kept_checkpoint(tmp_path):
    run = make_run(tmp_path, rows((10, 0), (95, 20), (60, 1), (70, 5)), kept=[1, 2, 3])
    assert resolve_epoch(run, "last") == 3
    assert resolve_epoch(run, "best") == 2
    assert resolve_epoch(run, "1") == 1
    with pytest.raises(ValueError, match="no checkpoint for epoch 7; it has 1, 2, 3"):
        resolve_epoch(run, "7")
    with pytest.raises(ValueError, match="'last', 'best' or a number"):
        resolve_epoch(run, "final")
    with pytest.raises(ValueError, match="no finished epoch"):
        resolve_epoch(tmp_path, "best")


def test_an_eval_job_takes_an_epoch_only_with_a_run_folder(tmp_path):
    run = make_run(tmp_path, rows((10, 0), (60, 1)), kept=[1])
    job = EvalJob(model="embedded", adapter=str(run), epoch="best")
    assert job.method_name() == "run@best"
    assert EvalJob(model="embedded", adapter=str(run)).method_name() == "run"
    with pytest.raises(ValueError, match="pass the run folder as --adapter"):
        EvalJob(model="embedded", epoch="best")
    with pytest.raises(ValueError, match="'last', 'best' or a number"):
        EvalJob(model="embedded", adapter=str(run), epoch="newest")
