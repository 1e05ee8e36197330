"""The Features page (streamlit AppTest): safety features of the loaded model and the top-m% slider."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.pagetest import open_page, run, texts

pytestmark = pytest.mark.usefixtures("isolated_state")


def metric(at: AppTest, label_start: str):
    return next(m for m in at.metric if m.label.startswith(label_start))


def test_features_page_without_model_says_to_load_one():
    at = open_page("features")
    assert "No model is loaded" in texts(at.info)
    assert not at.button and not at.slider


def test_the_recorded_demo_features_show_without_a_model(monkeypatch):
    from rrs.runs.recorded import RECORDED_ENV

    monkeypatch.delenv(RECORDED_ENV)
    at = open_page("features")
    assert "No model is loaded" in texts(at.info)
    keys = [chart.key for chart in at.get("plotly_chart")]
    assert "features_recorded_rrs-demo" in keys and len(keys) == len(set(keys))  # one panel per recorded run
    assert any("python -m rrs train --demo" in c.value and "384 of 1536" in c.value for c in at.caption)
    import numpy as np

    from dashboard.features_view import recorded_contributions_figure

    contrib = np.array([0.1, -0.2, 0.5, 0.0], dtype=np.float32)
    bars = recorded_contributions_figure(contrib, 1).data[0]
    assert list(bars.y) == pytest.approx([0.5, 0.1, 0.0, -0.2]) and list(bars.customdata) == [2, 0, 3, 1]
    assert bars.marker.color[0] != bars.marker.color[1]  # the top one is highlighted


def test_features_compute_slider_and_save(tiny_checkpoint, isolated_state, monkeypatch):
    at = open_page("features", tiny_checkpoint)
    assert "Compute representations" in texts(at.info) and not at.slider
    at.number_input(key="features_per_category").set_value(1)
    at.selectbox(key="features_modality").set_value("text-only")
    run(at)
    at.button(key="features_compute").click()
    run(at)
    assert metric(at, "Features kept").value == "16 / 64"  # default top 25% of hidden 64
    before = {m.label: (m.value, m.delta) for m in at.metric}
    assert len(at.get("plotly_chart")) == 3

    # From here on nothing may run the model: the slider only reads the cached analysis.
    from rrs.models.base import LALM

    def no_forward(*args, **kwargs):
        raise AssertionError("moving the slider must not recompute representations")

    monkeypatch.setattr(LALM, "last_hidden", no_forward)
    monkeypatch.setattr(LALM, "first_token_logits", no_forward)
    (analysis,) = at.session_state["feature_analyses"].values()
    at.slider(key="features_top").set_value(100.0)
    run(at)
    assert metric(at, "Features kept").value == "64 / 64"
    after = {m.label: (m.value, m.delta) for m in at.metric}
    assert after != before
    expected = analysis.readouts(100.0)
    share = expected["share_of_predicted_logit_kept"]
    assert metric(at, "Share of the refusal push kept").value == f"{100 * share:.0f}%"
    assert metric(at, "Harmful").value == f"{expected['harmful_refusal_after']:.0f}%"
    (same,) = at.session_state["feature_analyses"].values()
    assert same is analysis

    # Pressing Compute again reads every vector from the disk cache (the model is still not run).
    at.button(key="features_compute").click()
    run(at)
    assert metric(at, "Features kept").value == "64 / 64"

    at.slider(key="features_top").set_value(12.5)
    at.text_input(key="features_save_name").input("my selection")
    at.button(key="features_save").click()
    run(at)
    folder = isolated_state / "runs" / "features" / "my-selection"
    assert str(folder) in texts(at.success)
    from rrs.features import SafetyFeatures

    assert SafetyFeatures.load(folder).top_percent == 12.5
    assert int(SafetyFeatures.load(folder).mask.sum()) == 8


def test_features_with_no_user_pairs(tiny_checkpoint):
    at = open_page("features", tiny_checkpoint)
    at.selectbox(key="features_source").set_value("My pairs (Pairs page)")
    run(at)
    assert "no pairs of your own" in texts(at.info)
