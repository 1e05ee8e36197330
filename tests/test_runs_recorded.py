"""rrs.runs.recorded: committed results found beside the user's runs, read-only, with their commands."""

from __future__ import annotations

import json

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
    assert frame.loc["rrs", "ASR 95% CI"] == "[32.0, 51.4]" and frame.loc["vanilla", "ORR 95% CI"] == "[0.0, 0.6]"
    assert frame.loc["rrs", "harmful"] == 100


def test_the_project_ships_recorded_results(monkeypatch):
    monkeypatch.delenv(RECORDED_ENV, raising=False)
    kinds = {r.kind for r in recorded()}
    assert "compare" in kinds
    assert all(r.command.startswith("python -m rrs ") for r in recorded())
