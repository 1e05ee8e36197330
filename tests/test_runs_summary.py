"""A training run folder read back as tables (``rrs.runs.summary``)."""

from __future__ import annotations

import json

from rrs.runs import summary as projection


# ---- run summaries -------------------------------------------------------------------------------
def _fake_run(path, lr: float, refusals: list[tuple[float, float]]):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model": "tiny", "lr": lr, "epochs": len(refusals) - 1}))
    rows = []
    for epoch, (h, b) in enumerate(refusals):
        if epoch:
            rows.append({"type": "step", "epoch": epoch, "step": epoch, "rep_loss": 10.0 / epoch, "penalty": 0.01,
                         "loss": 10.0 / epoch + 0.01, "prompt": "p"})
        rows.append({"type": "epoch", "epoch": epoch, "harmful_refusal": h, "benign_refusal": b})
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"type": "step", "epo'  # a torn last line
    (path / "metrics.jsonl").write_text(text)
    return path


def test_run_summary_and_compare_runs(tmp_path):
    a = _fake_run(tmp_path / "a", 1e-3, [(0.0, 0.0), (50.0, 0.0), (100.0, 25.0)])
    b = _fake_run(tmp_path / "b", 2e-3, [(0.0, 0.0), (75.0, 25.0)])
    summary = projection.run_summary(a)
    assert list(summary.steps.columns) == list(projection.STEP_COLUMNS)
    assert summary.steps["step"].tolist() == [1, 2]
    assert summary.epochs["harmful_refusal"].tolist() == [0.0, 50.0, 100.0]
    assert summary.config["lr"] == 1e-3 and summary.probe == []

    cmp = projection.compare_runs(a, b)
    assert set(cmp.config_diff["setting"]) == {"lr", "epochs"}
    assert cmp.config_diff.set_index("setting").loc["lr", "a"] == "0.001"
    assert cmp.epochs.groupby("run").size().to_dict() == {"a": 3, "b": 2}

    empty = projection.run_summary(tmp_path / "nothing")
    assert empty.steps.empty and empty.epochs.empty and empty.config == {}
