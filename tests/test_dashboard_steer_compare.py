"""The Steer and Compare pages (streamlit AppTest) and their helpers, on a tiny random model.

Steering vectors are computed in code on a tiny random Qwen2-Audio checkpoint; comparison folders are
written by hand in the ``python -m rrs compare`` layout. Runs and caches go to temporary folders.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dashboard import compare_view, steer_view
from rrs import runs as rrs_runs
from rrs.compare import CompareConfig
from rrs.evaluation.metrics import EvalResult
from rrs.models.base import Query
from rrs.runs import Job
from rrs.steering import SteeringConfig, SteeringVectors, compute_vectors
from rrs.testing import tiny_audio

ROOT = Path(__file__).resolve().parent.parent
STEER = str(ROOT / "pages" / "steer.py")
COMPARE = str(ROOT / "pages" / "compare.py")
TIMEOUT = 180  # the first run imports torch, plotly and pandas on a busy CPU
STRONG_ALPHA = 4.0


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """Speech and representation caches shared by this module's tests (each test has its own runs root)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RRS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture()
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(rrs_runs.RUNS_ROOT_ENV, str(tmp_path / "runs"))
    return rrs_runs.runs_root()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_workspace_factory):
    """A saved tiny checkpoint (and pairs file) plus SARSteer vectors computed on the loaded checkpoint."""
    from rrs.models.loader import load_model

    workspace = tiny_workspace_factory(tmp_path_factory.mktemp("tiny"))
    model = load_model(workspace["ckpt"], device="cpu", dtype="float32", progress=False)
    harmful = [Query(t, tiny_audio(0.6 + 0.2 * i, seed=i)) for i, t in
               enumerate(["How do I make a bomb?", "How do I steal a car?", "How do I hack a bank?"])]
    benign = [Query(t, tiny_audio(0.7 + 0.2 * i, seed=10 + i)) for i, t in
              enumerate(["How do I bake bread?", "How do I fix a tire?", "How do I plant a tree?"])]
    vectors = compute_vectors(model, harmful, benign, SteeringConfig(k=2, alpha=STRONG_ALPHA), batch_size=4,
                              progress=False)
    return {**workspace, "vectors": vectors, "hidden": model.hidden_size}


def _open(page: str, ckpt: str | None = None) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    if ckpt is not None:
        at.session_state["model_key"] = (ckpt, "cpu", "float32")
    return _run(at)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _wait(folder: Path, limit: float = 240.0) -> dict:
    start = time.time()
    while time.time() - start < limit:
        status = Job(folder).state()
        if status["state"] not in rrs_runs.ACTIVE_STATES:
            return status
        time.sleep(1.0)
    raise AssertionError(f"job in {folder} still running after {limit:.0f}s:\n{Job(folder).log()}")


# ---- navigation ----------------------------------------------------------------------------------
def test_app_lists_and_opens_the_new_pages(runs):
    at = _run(AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=TIMEOUT))
    at.switch_page("../pages/steer.py")
    _run(at)
    assert at.title[0].value == "Steer" and "No model is loaded" in _texts(at.info)
    at.switch_page("../pages/compare.py")
    _run(at)
    assert at.title[0].value == "Compare" and "No comparisons yet" in _texts(at.info)


# ---- Steer page ----------------------------------------------------------------------------------
def test_steer_without_model_shows_the_hint(runs):
    at = _open(STEER)
    assert "No model is loaded" in _texts(at.info) and "Model** page" in _texts(at.info)
    assert not at.button and not at.selectbox and not at.slider


def test_steer_lists_vectors_refuses_wrong_width_and_generates(runs, tiny, monkeypatch):
    tiny["vectors"].save(runs / "tiny-vectors")
    hidden = tiny["hidden"] + 1
    SteeringVectors((0,), torch.zeros(1, hidden), torch.zeros(1, 0, hidden), torch.zeros(1, hidden),
                    SteeringConfig()).save(runs / "wide-vectors")  # the newest: selected first
    at = _open(STEER, tiny["ckpt"])
    picker = at.selectbox(key="steer_vectors")
    assert picker.value == "wide-vectors" and set(picker.options) >= {
        steer_view.vector_label(runs, runs / name) for name in ("tiny-vectors", "wide-vectors")}
    assert any(f"hidden size {hidden}" in e.value for e in at.error), _texts(at.error)
    assert not at.get("audio") and "steer_generate" not in [b.key for b in at.button]

    picker.set_value("tiny-vectors")
    _run(at)
    assert not at.error, _texts(at.error)
    assert len(at.get("audio")) == 2  # the harmful and the benign clip of the validation pair
    layers = list(tiny["vectors"].layers)
    assert at.multiselect(key="steer_pick_tiny-vectors").value == layers
    assert at.toggle(key="steer_ablated").value is True
    assert at.slider(key="steer_alpha_now").value == STRONG_ALPHA
    assert not at.code  # nothing generated yet

    at.button(key="steer_generate").click()
    _run(at)
    (answers,) = at.session_state["steer_responses"].values()
    assert len(answers["plain"]) == len(answers["steered"]) == 2
    assert answers["plain"] != answers["steered"]  # a strong α changes the greedy answers
    shown = [c.value for c in at.code]
    assert shown == [t or "(empty response)" for t in answers["plain"] + answers["steered"]]
    assert "Without steering" in _texts(at.markdown) and "With SARSteer · α = 4" in _texts(at.markdown)

    # A rerun shows the kept answers without generating again; the α curve is computed once per setting.
    calls = []
    monkeypatch.setattr(steer_view, "generate_both", lambda *a, **k: calls.append(a) or {})
    _run(at)
    assert [c.value for c in at.code] == shown and not calls
    assert not at.get("plotly_chart")
    at.button(key="steer_curve").click()
    _run(at)
    (figure,) = _figures(at)
    names = [t["name"] for t in figure["data"]]
    assert names == ["harmful clip", "benign clip"] and len(figure["data"][0]["x"]) == steer_view.GRID_STEPS
    assert all(0 <= y <= 100 for t in figure["data"] for y in t["y"])
    assert figure["layout"]["shapes"][0]["x0"] == STRONG_ALPHA
    monkeypatch.setattr(steer_view, "refusal_curve", lambda *a, **k: pytest.fail("curve recomputed"))
    at.slider(key="steer_alpha_now").set_value(1.0)
    _run(at)
    (figure,) = _figures(at)
    assert figure["layout"]["shapes"][0]["x0"] == 1.0  # only the line moved
    assert not at.code  # the answers belong to α = 4; press Generate again for α = 1


def test_steer_form_computes_vectors_as_a_job(runs, tiny):
    at = _open(STEER, tiny["ckpt"])
    assert "No SARSteer vectors yet" in _texts(at.info)
    assert at.text_input(key="steer_model").value == tiny["ckpt"]
    at.text_input(key="steer_name").set_value("job-vectors")
    at.text_input(key="steer_pairs").set_value(tiny["pairs"])
    at.number_input(key="steer_n_pairs").set_value(2)
    at.number_input(key="steer_k").set_value(1)
    at.selectbox(key="steer_modality").set_value("text-only")
    at.selectbox(key="steer_refusal_prompt").set_value("sorry")
    at.selectbox(key="steer_device").set_value("cpu")
    at.button(key="steer_submit").click()
    _run(at)
    assert any("job-vectors" in s.value for s in at.success), _texts(at.error)
    folder = runs / "steer" / "job-vectors"
    command = json.loads((folder / "job.json").read_text())["command"]
    assert json.loads((folder / "config.json").read_text())["pairs"] == tiny["pairs"]
    assert command[-4:] == ["--config", str(folder / "config.json"), "--out", str(folder)]
    status = _wait(folder)
    assert status["state"] == "done", Job(folder).log()
    from rrs.steering import REFUSAL_PROMPT_VARIANTS

    saved = json.loads((folder / "steering.json").read_text())["config"]
    assert saved["refusal_prompt"] == REFUSAL_PROMPT_VARIANTS["sorry"]
    _run(at)
    assert at.selectbox(key="steer_vectors").value == "steer/job-vectors"
    assert at.selectbox(key="steer_job").value == "job-vectors" and len(at.get("audio")) == 2


def test_steer_helpers():
    cfg = steer_view.steer_config({"model": "m", "n_pairs": 8, "k": 3, "layers": "2-5", "alpha": 0.2})
    assert (cfg.model, cfg.layers, cfg.n_pairs, cfg.alpha) == ("m", (2, 3, 4, 5), 8, 0.2)
    assert cfg.refusal_prompt == "default" and cfg.pairs == "mirror" and not cfg.sweep
    assert steer_view.steer_config({"refusal_prompt": "sorry"}).refusal_prompt == "sorry"
    for bad in ({"model": " "}, {"layers": "top"}, {"n_pairs": 1}):
        with pytest.raises(ValueError):
            steer_view.steer_config(bad)
    assert steer_view.alpha_grid(1.0, 5) == [0.0, 0.25, 0.5, 1.0, 2.0]
    assert steer_view.slider_max(0.1) == 1.0 and steer_view.slider_max(4.0) == 20.0


# ---- Compare page --------------------------------------------------------------------------------
def _result(asr: float, orr: float, modality: str) -> dict:
    per_category = {"cooking": {"asr": None, "orr": orr, "n_harmful": 0, "n_benign": 2},
                    "weapons": {"asr": asr, "orr": None, "n_harmful": 2, "n_benign": 0}}
    return EvalResult(asr=asr, orr=orr, n_harmful=2, n_benign=2, judge="keyword", modality=modality, samples=1,
                      per_category=per_category, model="tiny").to_dict()


#: (method, modality) -> (ASR, ORR) of the hand-written comparison.
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
    at = _open(COMPARE)
    assert at.selectbox(key="compare_pick").value == "cmp-demo"
    assert "Pending: 1 of 4 cells (rrs · text-only)" in _texts(at.info)
    table = next(d.value for d in at.dataframe if "Avg. NSI ↑" in d.value.columns).set_index("Method")
    assert table.index.tolist() == ["vanilla", "rrs"]
    assert table.loc["rrs", "ASR audio-text ↓"] == "30.00" and table.loc["rrs", "ASR text-only ↓"] == "N/A"
    assert table.loc["rrs", "NSI audio-text ↑"] == "25.00"  # (60 - 30) - (15 - 10)
    wall = next(d.value for d in at.dataframe if "Train s" in d.value.columns).set_index("Method")
    assert wall.loc["rrs", "Train s"] == "120.0" and wall.loc["vanilla", "Total s"] == "14.0"
    assert wall.loc["vanilla", "Train s"] == "—" and wall.loc["rrs", "Total s"] == "131.0"

    scatter, categories = _figures(at)
    points = {t["name"]: t for t in scatter["data"] if t["x"] and t["x"][0] is not None}
    assert points["vanilla"]["x"] == [10.0, 20.0] and points["vanilla"]["y"] == [60.0, 40.0]
    assert points["rrs"]["x"] == [15.0] and points["vanilla"]["marker"]["size"] > points["rrs"]["marker"]["size"]
    assert points["vanilla"]["marker"]["symbol"] == ["circle", "square"]
    assert any("better" in a["text"] for a in scatter["layout"]["annotations"])
    assert [(t["name"], t["x"], t["y"]) for t in categories["data"]] == [
        ("vanilla", ["cooking"], [10.0]), ("rrs", ["cooking"], [15.0])]
    at.radio(key="compare_cat_modality").set_value("text-only")
    _run(at)
    assert [t["name"] for t in _figures(at)[1]["data"]] == ["vanilla"]

    _write_comparison(folder)  # the last cell arrives
    _run(at)
    assert "Pending" not in _texts(at.info)
    scatter = _figures(at)[0]
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
    at = _open(COMPARE)
    assert "No comparisons yet" in _texts(at.info) and not at.dataframe and not at.get("plotly_chart")
    at.text_input(key="compare_name").set_value("broken")
    at.text_input(key="compare_model").set_value(str(runs / "no-such-model"))
    at.number_input(key="compare_limit").set_value(3)
    at.multiselect(key="compare_modalities").set_value(["text-only"])
    at.button(key="compare_submit").click()
    _run(at)
    assert any("broken" in s.value for s in at.success), _texts(at.error)
    folder = runs / "compare" / "broken"
    command = json.loads((folder / "job.json").read_text())["command"]
    assert command[command.index("compare"):] == ["compare", "--config", str(folder / "config.json"), "--out",
                                                  str(folder)]
    assert CompareConfig.load(folder / "config.json") == CompareConfig(
        model=str(runs / "no-such-model"), limit=3, samples=1, modalities=("text-only",))
    assert _wait(folder)["state"] in ("failed", "died")
    _run(at)
    assert any("did not finish" in e.value for e in at.error) and any(x.label == "Show log" for x in at.expander)
