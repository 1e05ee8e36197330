"""The Compare page (streamlit AppTest) and its helpers.

Comparison folders are written by hand in the ``python -m rrs compare`` layout; runs go to a temporary folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dashboard import compare_view
from rrs.compare import CompareConfig
from rrs.evaluation.metrics import EvalResult
from ui.pagetest import figures, open_page, run, texts, wait_job

pytestmark = pytest.mark.usefixtures("cache_dir")


def _result(asr: float, orr: float, modality: str) -> dict:
    per_category = {"cooking": {"asr": None, "orr": orr, "n_harmful": 0, "n_benign": 2},
                    "weapons": {"asr": asr, "orr": None, "n_harmful": 2, "n_benign": 0}}
    return EvalResult(asr=asr, orr=orr, n_harmful=2, n_benign=2, judge="keyword", modality=modality, samples=1,
                      per_category=per_category, model="tiny").to_dict()


CELLS = {("vanilla", "audio-text"): (60.0, 10.0), ("vanilla", "text-only"): (40.0, 20.0),
         ("rrs", "audio-text"): (30.0, 15.0), ("rrs", "text-only"): (35.0, 5.0)}


def _write_comparison(folder: Path, skip: tuple[str, str] | None = None) -> Path:
    """A compare folder with 2 methods x 2 modalities; ``skip`` is left pending."""
    cells: dict[str, dict[str, str]] = {}
    for (method, modality), (asr, orr) in CELLS.items():
        rel = f"{method}/{modality}.json"
        cells.setdefault(method, {})[modality] = rel
        if (method, modality) != skip:
            (folder / method).mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(json.dumps({**_result(asr, orr, modality), "method": method}))
    wall = {"vanilla": {"train": None, "eval": {"audio-text": 10.0, "text-only": 4.0}},
            "rrs": {"train": 120.0, "eval": {"audio-text": 11.0}}}
    meta = {"model": "tiny", "settings": {"limit": 2, "samples": 1}, "methods": ["vanilla", "rrs"],
            "modalities": ["audio-text", "text-only"], "cells": cells, "wall_s": wall, "updated": time.time()}
    (folder / compare_view.COMPARE_FILE).write_text(json.dumps(meta))
    return folder


def test_compare_page_shows_table_scatter_categories_and_pending(runs):
    folder = _write_comparison(runs / "cmp-demo", skip=("rrs", "text-only"))
    at = open_page("compare")
    assert at.selectbox(key="compare_pick").value == "cmp-demo"
    assert "Pending: 1 of 4 cells (rrs · text-only)" in texts(at.info)
    table = next(d.value for d in at.dataframe if "Avg. NSI ↑" in d.value.columns).set_index("Method")
    assert table.index.tolist() == ["vanilla", "rrs"]
    assert table.loc["rrs", "ASR audio-text ↓"] == "30.00" and table.loc["rrs", "ASR text-only ↓"] == "N/A"
    assert table.loc["rrs", "NSI audio-text ↑"] == "25.00"  # (60 - 30) - (15 - 10)
    wall = next(d.value for d in at.dataframe if "Train s" in d.value.columns).set_index("Method")
    assert wall.loc["rrs", "Train s"] == "120.0" and wall.loc["vanilla", "Total s"] == "14.0"
    assert wall.loc["vanilla", "Train s"] == "—" and wall.loc["rrs", "Total s"] == "131.0"

    scatter, categories = figures(at)
    points = {t["name"]: t for t in scatter["data"] if t["x"] and t["x"][0] is not None}
    assert points["vanilla"]["x"] == [10.0, 20.0] and points["vanilla"]["y"] == [60.0, 40.0]
    assert points["rrs"]["x"] == [15.0] and points["vanilla"]["marker"]["size"] > points["rrs"]["marker"]["size"]
    assert points["vanilla"]["marker"]["symbol"] == ["circle", "square"]
    assert any("better" in a["text"] for a in scatter["layout"]["annotations"])
    assert [(t["name"], t["x"], t["y"]) for t in categories["data"]] == [
        ("vanilla", ["cooking"], [10.0]), ("rrs", ["cooking"], [15.0])]
    at.radio(key="compare_cat_modality").set_value("text-only")
    run(at)
    assert [t["name"] for t in figures(at)[1]["data"]] == ["vanilla"]

    assert not any("more than one precision" in c.value for c in at.caption)  # all fp32 (no precision recorded)
    _write_comparison(folder)  # the last cell arrives, generated under bf16
    cell = folder / "rrs" / "text-only.json"
    cell.write_text(json.dumps({**json.loads(cell.read_text()), "precision": "bf16"}))
    run(at)
    assert "Pending" not in texts(at.info)
    assert any("**bf16** (1): rrs · text-only; **fp32** (3): vanilla · audio-text" in c.value for c in at.caption)
    scatter = figures(at)[0]
    assert [t["x"] for t in scatter["data"] if t["name"] == "rrs"] == [[15.0, 5.0]]


def test_compare_reader_skips_unreadable_and_mismatched_cells(tmp_path):
    folder = _write_comparison(tmp_path / "cmp")
    (folder / "rrs" / "text-only.json").write_text("{not json")
    (folder / "vanilla" / "text-only.json").write_text(json.dumps(_result(1.0, 2.0, "audio-text")))
    meta, results = compare_view.read_comparison(folder)
    assert meta["model"] == "tiny" and {m: list(r) for m, r in results.items()} == {
        "vanilla": ["audio-text"], "rrs": ["audio-text"]}
    assert results["rrs"]["audio-text"].asr == 30.0
    states = compare_view.cell_states(folder, meta, results)
    assert states[("rrs", "text-only")] == "unreadable" and states[("vanilla", "audio-text")] == "done"
    with pytest.raises(ValueError, match="cannot read"):
        compare_view.read_comparison(tmp_path / "nothing")
    cfg = compare_view.compare_config({"model": "m", "limit": 5, "samples": 2,
                                       "modalities": ["audio-only", "audio-text"]})
    assert cfg == CompareConfig(model="m", limit=5, samples=2, modalities=("audio-text", "audio-only"))
    with pytest.raises(ValueError, match="modality"):
        compare_view.compare_config({"modalities": []})


def test_compare_empty_root_and_a_failing_job(runs):
    at = open_page("compare")
    assert "No comparisons yet" in texts(at.info) and not at.dataframe and not at.get("plotly_chart")
    at.text_input(key="compare_name").set_value("broken")
    at.text_input(key="compare_model").set_value(str(runs / "no-such-model"))
    at.number_input(key="compare_limit").set_value(3)
    at.multiselect(key="compare_modalities").set_value(["text-only"])
    at.button(key="compare_submit").click()
    run(at)
    assert any("broken" in s.value for s in at.success), texts(at.error)
    folder = runs / "compare" / "broken"
    command = json.loads((folder / "job.json").read_text())["command"]
    assert command[command.index("compare"):] == ["compare", "--config", str(folder / "config.json"), "--out",
                                                  str(folder)]
    assert CompareConfig.load(folder / "config.json") == CompareConfig(
        model=str(runs / "no-such-model"), limit=3, samples=1, modalities=("text-only",))
    assert wait_job(folder)["state"] in ("failed", "died")
    run(at)
    assert any("did not finish" in e.value for e in at.error) and any(x.label == "Show log" for x in at.expander)


def test_settings_read_as_a_line_and_a_table():
    from dashboard import compare_view

    meta = {"model": "embedded", "updated": 0, "settings": {
        "harmful": "mirror-val-harmful", "benign": "mirror-val-benign", "limit": 40, "samples": 3,
        "max_new_tokens": 32, "judge": "keyword", "methods": ["vanilla", "rrs"], "steer_alpha": None,
        "train_overrides": {"epochs": 2}}}
    line = compare_view.settings_text(meta)
    assert "40 items per set × 3 sampled answers" in line and "trained 2 epochs" in line and "{" not in line
    rows = {r["setting"]: r["value"] for r in compare_view.settings_table(meta)}
    assert rows["methods"] == "vanilla, rrs" and rows["steer alpha"] == "—" and rows["train overrides"] == "epochs = 2"
