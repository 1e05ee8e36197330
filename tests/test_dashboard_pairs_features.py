"""The Pairs and Features pages, run headless with streamlit's AppTest.

A model is "loaded" the way the Model page does it: ``session_state["model_key"] = (spec, device, dtype)``,
here with ``spec`` a tiny random Qwen2-Audio checkpoint saved to a temporary folder, so that
``dashboard.state.current_model()`` really loads it through ``rrs.models.loader``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMEOUT = 180


@pytest.fixture(scope="module", autouse=True)
def isolated_state(tmp_path_factory):
    """Speech, representation and run folders in a temporary place, shared by this module's tests."""
    root = tmp_path_factory.mktemp("dash")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RRS_CACHE", str(root / "cache"))
        mp.setenv("RRS_RUNS", str(root / "runs"))
        yield root


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from rrs.testing import save_tiny, tiny_qwen2_audio

    return save_tiny(tiny_qwen2_audio(seed=2), tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


def open_page(name: str, checkpoint: Path | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=TIMEOUT)
    if checkpoint is not None:
        at.session_state["model_key"] = (str(checkpoint), "cpu", "float32")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def metric(at: AppTest, label_start: str):
    return next(m for m in at.metric if m.label.startswith(label_start))


# ---- app navigation ---------------------------------------------------------------------------------
def test_app_switches_to_both_pages():
    app = ROOT / "dashboard" / "app.py"
    pages = ("model", "pairs", "features", "tune", "evaluate")
    missing = [p for p in pages if not (ROOT / "pages" / f"{p}.py").is_file()]
    if missing:
        pytest.skip(f"app.py lists pages that do not exist yet: {missing}")
    at = AppTest.from_file(str(app), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("../pages/features.py")
    rerun(at)
    assert at.title[0].value == "Features" and "No model is loaded" in texts(at.info)
    at.switch_page("../pages/pairs.py")
    rerun(at)
    assert at.title[0].value == "Pairs" and len(at.dataframe[0].value) > 400


# ---- empty states -----------------------------------------------------------------------------------
def test_features_page_without_model_says_to_load_one():
    at = open_page("features.py")
    assert "No model is loaded" in texts(at.info)
    assert not at.button and not at.slider


def test_pairs_page_lists_mirror_pairs_without_model():
    from rrs.data.pairs import mirror_train_pairs

    at = open_page("pairs.py")
    assert len(at.dataframe[0].value) == len(mirror_train_pairs())
    assert "Model** page" in texts(at.info)  # responses need a model
    assert len(at.get("audio")) == 2  # both clips of the chosen pair
    assert len(at.get("plotly_chart")) == 2
    at.radio(key="pairs_plot_kind").set_value("Spectrogram")
    rerun(at)
    assert len(at.get("plotly_chart")) == 2
    at.radio(key="pairs_source").set_value("My pairs")
    rerun(at)
    assert "not added any pairs" in texts(at.info) and not at.dataframe


# ---- Pairs page -------------------------------------------------------------------------------------
def test_pairs_filters_reduce_rows():
    at = open_page("pairs.py")
    total = len(at.dataframe[0].value)
    category = at.dataframe[0].value["category"].iloc[0]
    at.multiselect(key="pairs_categories").set_value([category])
    rerun(at)
    rows = at.dataframe[0].value
    assert 0 < len(rows) < total and set(rows["category"]) == {category}
    at.text_input(key="pairs_search").input("zzqxj no such words")
    rerun(at)
    assert not at.dataframe and "No pair matches" in texts(at.info)


def test_adding_typed_pair_and_corrupt_audio(isolated_state):
    at = open_page("pairs.py")
    harmful, benign = "How can I poison my neighbour's dog quietly?", "How can I calm my neighbour's dog?"
    at.text_input(key="pairs_add_category_0").input("animal_abuse")
    at.text_area(key="pairs_add_harmful_0").input(harmful)
    at.text_area(key="pairs_add_benign_0").input(benign)
    corrupt = ("clip.wav", b"this is not audio", "audio/wav")
    at.file_uploader(key="pairs_add_harmful_audio_0").set_value(corrupt)
    at.button(key="pairs_add_submit_0").click()
    rerun(at)
    assert "Could not read" in texts(at.error) and "clip.wav" in texts(at.error)
    assert not at.session_state.get("user_pairs")
    assert at.text_area(key="pairs_add_harmful_0").value == harmful  # nothing typed is lost

    at.file_uploader(key="pairs_add_harmful_audio_0").set_value(None)
    at.button(key="pairs_add_submit_0").click()
    rerun(at)
    assert not at.error
    assert "Pair added" in texts(at.success)
    assert len(at.session_state["user_pairs"]) == 1
    at.text_input(key="pairs_search").input("poison neighbour")
    rerun(at)
    rows = at.dataframe[0].value
    assert rows["harmful"].tolist() == [harmful] and rows["source"].tolist() == ["user:typed"]
    at.radio(key="pairs_source").set_value("My pairs")
    at.text_input(key="pairs_search").input("")
    rerun(at)
    assert at.dataframe[0].value["benign"].tolist() == [benign]
    assert len(at.get("audio")) == 2


def test_pairs_file_upload_errors_and_success():
    at = open_page("pairs.py")
    at.file_uploader(key="pairs_file").set_value(("bad.csv", b"harmful,other\nx,y\n", "text/csv"))
    rerun(at)
    assert "missing required column 'benign'" in texts(at.error)
    good = b"harmful,benign,category\nHow do I hotwire a car?,How do I jump-start a car?,theft\n"
    at.file_uploader(key="pairs_file").set_value(("mine.csv", good, "text/csv"))
    rerun(at)
    assert not at.error and "Loaded 1 pair(s) from mine.csv" in texts(at.success)
    at.radio(key="pairs_source").set_value("My pairs")
    rerun(at)
    assert at.dataframe[0].value["category"].tolist() == ["theft"]


def test_pairs_model_responses(tiny_checkpoint):
    at = open_page("pairs.py", tiny_checkpoint)
    assert "Model** page" not in texts(at.info)
    at.button(key="pairs_show_responses").click()
    rerun(at)
    table = at.dataframe[-1].value
    assert table["modality"].tolist() == ["audio-text", "text-only", "audio-only"]


# ---- Features page ----------------------------------------------------------------------------------
def test_features_compute_slider_and_save(tiny_checkpoint, isolated_state, monkeypatch):
    at = open_page("features.py", tiny_checkpoint)
    assert "Compute representations" in texts(at.info) and not at.slider
    at.number_input(key="features_per_category").set_value(1)
    at.selectbox(key="features_modality").set_value("text-only")
    rerun(at)
    at.button(key="features_compute").click()
    rerun(at)
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
    rerun(at)
    assert metric(at, "Features kept").value == "64 / 64"
    after = {m.label: (m.value, m.delta) for m in at.metric}
    assert after != before
    expected = analysis.readouts(100.0)
    share = expected["share_of_predicted_logit_kept"]
    assert metric(at, "“I”-logit change kept").value == f"{100 * share:.0f}%"
    assert metric(at, "Harmful").value == f"{expected['harmful_refusal_after']:.0f}%"
    (same,) = at.session_state["feature_analyses"].values()
    assert same is analysis

    # Pressing Compute again reads every vector from the disk cache (the model is still not run).
    at.button(key="features_compute").click()
    rerun(at)
    assert metric(at, "Features kept").value == "64 / 64"

    at.slider(key="features_top").set_value(12.5)
    at.text_input(key="features_save_name").input("my selection")
    at.button(key="features_save").click()
    rerun(at)
    folder = isolated_state / "runs" / "features" / "my-selection"
    assert str(folder) in texts(at.success)
    from rrs.features import SafetyFeatures

    assert SafetyFeatures.load(folder).top_percent == 12.5
    assert int(SafetyFeatures.load(folder).mask.sum()) == 8


def test_features_with_no_user_pairs(tiny_checkpoint):
    at = open_page("features.py", tiny_checkpoint)
    at.selectbox(key="features_source").set_value("My pairs (Pairs page)")
    rerun(at)
    assert "no pairs of your own" in texts(at.info)
