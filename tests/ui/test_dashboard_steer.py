"""The Steer page (streamlit AppTest) and its helpers, on a tiny random model.

Steering vectors are computed in code on a tiny random Qwen2-Audio checkpoint, or by the page's job.
"""

from __future__ import annotations

import json

import pytest
import torch

from dashboard import steer_view
from rrs.models.base import Query
from rrs.runs import Job
from rrs.steering import SteeringConfig, SteeringVectors, compute_vectors
from rrs.testing import tiny_audio
from ui.pagetest import figures, open_page, run, texts, wait_job

pytestmark = pytest.mark.usefixtures("cache_dir")

STRONG_ALPHA = 4.0

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


def test_steer_without_model_shows_the_hint(runs):
    at = open_page("steer")
    assert "No model is loaded" in texts(at.info) and "Model** page" in texts(at.info)
    assert not at.button and not at.selectbox and not at.slider


def test_steer_lists_vectors_refuses_wrong_width_and_generates(runs, tiny, monkeypatch):
    tiny["vectors"].save(runs / "tiny-vectors")
    hidden = tiny["hidden"] + 1
    SteeringVectors((0,), torch.zeros(1, hidden), torch.zeros(1, 0, hidden), torch.zeros(1, hidden),
                    SteeringConfig()).save(runs / "wide-vectors")  # the newest: selected first
    at = open_page("steer", tiny["ckpt"])
    picker = at.selectbox(key="steer_vectors")
    assert picker.value == "wide-vectors" and set(picker.options) >= {
        steer_view.vector_label(runs, runs / name) for name in ("tiny-vectors", "wide-vectors")}
    assert any(f"hidden size {hidden}" in e.value for e in at.error), texts(at.error)
    assert not at.get("audio") and "steer_generate" not in [b.key for b in at.button]

    picker.set_value("tiny-vectors")
    run(at)
    assert not at.error, texts(at.error)
    assert len(at.get("audio")) == 2  # the harmful and the benign clip of the validation pair
    layers = list(tiny["vectors"].layers)
    assert at.multiselect(key="steer_pick_tiny-vectors").value == layers
    assert at.toggle(key="steer_ablated").value is True
    assert at.slider(key="steer_alpha_now").value == STRONG_ALPHA
    assert not at.code  # nothing generated yet

    at.button(key="steer_generate").click()
    run(at)
    (answers,) = at.session_state["steer_responses"].values()
    assert len(answers["plain"]) == len(answers["steered"]) == 2
    assert answers["plain"] != answers["steered"]  # a strong α changes the greedy answers
    shown = [c.value for c in at.code]
    assert shown == [t or "(empty response)" for t in answers["plain"] + answers["steered"]]
    assert "Without steering" in texts(at.markdown) and "With SARSteer · α = 4" in texts(at.markdown)

    # A rerun shows the kept answers without generating again; the α curve is computed once per setting.
    calls = []
    monkeypatch.setattr(steer_view, "generate_both", lambda *a, **k: calls.append(a) or {})
    run(at)
    assert [c.value for c in at.code] == shown and not calls
    assert not at.get("plotly_chart")
    at.button(key="steer_curve").click()
    run(at)
    (figure,) = figures(at)
    names = [t["name"] for t in figure["data"]]
    assert names == ["harmful clip", "benign clip"] and len(figure["data"][0]["x"]) == steer_view.GRID_STEPS
    assert all(0 <= y <= 100 for t in figure["data"] for y in t["y"])
    assert figure["layout"]["shapes"][0]["x0"] == STRONG_ALPHA
    monkeypatch.setattr(steer_view, "refusal_curve", lambda *a, **k: pytest.fail("curve recomputed"))
    at.slider(key="steer_alpha_now").set_value(1.0)
    run(at)
    (figure,) = figures(at)
    assert figure["layout"]["shapes"][0]["x0"] == 1.0  # only the line moved
    assert not at.code  # the answers belong to α = 4; press Generate again for α = 1


def test_steer_form_computes_vectors_as_a_job(runs, tiny):
    at = open_page("steer", tiny["ckpt"])
    assert "No SARSteer vectors yet" in texts(at.info)
    assert at.text_input(key="steer_model").value == tiny["ckpt"]
    assert any("Estimated time: no reference figures" in c.value for c in at.caption)  # a checkpoint path
    at.text_input(key="steer_name").set_value("job-vectors")
    at.text_input(key="steer_pairs").set_value(tiny["pairs"])
    at.number_input(key="steer_n_pairs").set_value(2)
    at.number_input(key="steer_k").set_value(1)
    at.selectbox(key="steer_modality").set_value("text-only")
    at.selectbox(key="steer_refusal_prompt").set_value("sorry")
    at.selectbox(key="steer_device").set_value("cpu")
    at.button(key="steer_submit").click()
    run(at)
    assert any("job-vectors" in s.value for s in at.success), texts(at.error)
    folder = runs / "steer" / "job-vectors"
    command = json.loads((folder / "job.json").read_text())["command"]
    assert json.loads((folder / "config.json").read_text())["pairs"] == tiny["pairs"]
    assert command[-4:] == ["--config", str(folder / "config.json"), "--out", str(folder)]
    status = wait_job(folder)
    assert status["state"] == "done", Job(folder).log()
    from rrs.steering import REFUSAL_PROMPT_VARIANTS

    saved = json.loads((folder / "steering.json").read_text())["config"]
    assert saved["refusal_prompt"] == REFUSAL_PROMPT_VARIANTS["sorry"]
    run(at)
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
