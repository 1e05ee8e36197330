"""rrs.runs.recorded: committed results found beside the user's runs, read-only, with their commands."""

from __future__ import annotations

import json
from dataclasses import replace

from rrs.evaluation.metrics import EvalConfig, summarise
from rrs.runs.recorded import RECORDED_ENV, is_recorded, recorded
from rrs.runs.results import recorded_results
from rrs.store import atomic_write_json


def _bundle(root, name, entries, raw=None):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "recorded.json").write_text(raw if raw is not None else json.dumps(
        {"title": name, "recorded": "today", "entries": entries}))
    return folder


def test_bundles_list_their_entries_by_kind_and_skip_what_is_broken(tmp_path, monkeypatch):
    monkeypatch.setenv(RECORDED_ENV, str(tmp_path))
    good = _bundle(tmp_path, "demo", [
        {"path": ".", "kind": "train", "title": "demo run", "command": "python -m rrs train --demo"},
        {"path": "evals/rrs", "kind": "eval", "title": "rrs", "command": "python -m rrs eval"},
        {"path": "missing", "kind": "eval", "title": "gone", "command": "x"},
        {"path": "../outside", "kind": "train", "title": "escape", "command": "x"},
        "not an entry",
    ])
    (good / "evals" / "rrs").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    _bundle(tmp_path, "broken", [], raw="{not json")
    trains = recorded("train")
    assert [(r.title, r.path, r.command) for r in trains] == [("demo run", good.resolve(), "python -m rrs train --demo")]
    assert trains[0].label() == "demo run · recorded" and trains[0].when == "today"
    assert [r.title for r in recorded("eval")] == ["rrs"]  # the missing folder is skipped
    assert len(recorded()) == 2
    assert is_recorded(good / "evals" / "rrs") and not is_recorded(tmp_path / "outside")
    monkeypatch.setenv(RECORDED_ENV, "")
    assert recorded() == []


def test_recorded_results_carry_their_command(tmp_path, monkeypatch):
    monkeypatch.setenv(RECORDED_ENV, str(tmp_path))
    bundle = _bundle(tmp_path, "demo", [{"path": "evals/vanilla", "kind": "eval", "title": "vanilla",
                                         "command": "python -m rrs eval --harmful mirror-val-harmful"}])
    result = summarise([], "keyword", EvalConfig(), model="embedded")
    atomic_write_json(bundle / "evals" / "vanilla" / "results.json", {**result.to_dict(), "method": "vanilla"})
    entries = recorded_results()
    assert len(entries) == 1 and entries[0].command.startswith("python -m rrs eval")
    assert entries[0].label().endswith("· recorded)") and entries[0].method == "vanilla"


def test_the_evaluate_table_shows_each_rate_with_its_interval(monkeypatch):
    from dashboard.eval_view import entries_frame

    monkeypatch.delenv(RECORDED_ENV, raising=False)
    frame = entries_frame(recorded_results()).set_index("method")
    assert frame.loc["rrs", "ASR 95% CI"] == "[32.4, 52.2]" and frame.loc["vanilla", "ORR 95% CI"] == "[0.0, 0.6]"
    assert frame.loc["rrs", "harmful"] == 100


def test_the_tradeoff_plot_shows_the_recorded_runs_against_the_targets(monkeypatch):
    from dashboard.eval_view import meeting_targets, target_box, tradeoff_figure
    from rrs.runs.results import group_results

    monkeypatch.delenv(RECORDED_ENV, raising=False)
    grouped, _ = group_results(recorded_results())
    assert {"vanilla", "rrs", "rrs-demo-anchors6"} <= set(grouped)
    orr_max, asr_max = target_box(grouped["vanilla"]["audio-text"])
    assert (round(orr_max, 1), round(asr_max, 1)) == (2.2, 45.9)  # vanilla: ORR 0.2, ASR 91.8
    # the demo halves ASR but raises ORR by 8.4 points; the anchors keep ORR lower and ASR higher: none qualifies
    assert meeting_targets(grouped, "audio-text", "vanilla") == []
    fig = tradeoff_figure(grouped, "audio-text", "vanilla")
    points = {t.name: (t.x[0], t.y[0], t.error_y.arrayminus[0]) for t in fig.data}
    assert points["rrs"][:2] == (8.6, 42.0) and round(points["rrs"][2], 1) == 9.6  # ASR 42.0 [32.4, 52.2]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x1 == orr_max
    shifted = {**grouped, "rrs": {"audio-text": replace(grouped["rrs"]["audio-text"], orr=2.0)}}
    assert meeting_targets(shifted, "audio-text", "vanilla") == ["rrs"]


def test_the_project_ships_recorded_results(monkeypatch):
    monkeypatch.delenv(RECORDED_ENV, raising=False)
    kinds = {r.kind for r in recorded()}
    assert "compare" in kinds
    assert all(r.command.startswith("python -m rrs ") for r in recorded())


def test_an_adapter_without_weights_is_refused_with_the_command_that_makes_them(tmp_path, monkeypatch):
    import pytest

    from rrs.runs.commands import check_adapter
    from rrs.runs.recorded import reproduce_command

    monkeypatch.setenv(RECORDED_ENV, str(tmp_path))
    demo = _bundle(tmp_path, "demo", [{"path": ".", "kind": "train", "title": "demo", "command": "python -m rrs train --demo"}])
    assert reproduce_command(demo) == "python -m rrs train --demo" and reproduce_command(tmp_path) is None
    with pytest.raises(ValueError, match="recorded run without its adapter weights.*`python -m rrs train --demo`"):
        check_adapter(str(demo))
    with pytest.raises(ValueError, match="does not exist"):
        check_adapter(str(tmp_path / "nowhere"))
    (tmp_path / "mine").mkdir()
    with pytest.raises(ValueError, match="holds no adapter yet"):
        check_adapter(str(tmp_path / "mine"))
    done = demo / "checkpoints" / "epoch_001"
    done.mkdir(parents=True)
    (done / "COMPLETE").write_text("1.0")
    check_adapter(str(demo))  # a finished epoch is enough
