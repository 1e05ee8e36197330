"""The Tune page (streamlit AppTest) and its helpers, on a tiny random model.

The tuning jobs run as real background processes (``python -m rrs train``) on a tiny random Qwen2-Audio
checkpoint; runs and caches go to temporary folders (``RRS_RUNS``, ``RRS_CACHE``).
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import tune_view
from rrs import runs
from rrs.projection import EpochMap
from rrs.runs import Job
from rrs.tuning import DEMO_CONFIG
from ui.pagetest import TIMEOUT, charts, ok, page, stop_job, wait_job

TUNE = page("tune")

def test_tune_form_launches_a_job_and_the_page_shows_curves_and_map(dirs, tiny):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT)
    at.session_state["model_key"] = (tiny["ckpt"], "cpu", "float32")  # the loaded model is the default
    at.run()
    ok(at)
    assert at.text_input(key="tune_model").value == tiny["ckpt"]
    assert at.selectbox(key="tune_method").value == "rrs"
    assert "sft-shallow-parallel" in at.selectbox(key="tune_method").options
    assert at.selectbox(key="tune_pair_selection").value == "first"
    assert at.selectbox(key="tune_pair_selection").options == ["first", "boundary"]
    assert at.number_input(key="tune_benign_anchors").value == 0
    at.text_input(key="tune_name").set_value("tiny-run")
    at.text_input(key="tune_pairs").set_value(tiny["pairs"])
    at.text_input(key="tune_layers").set_value("all")
    for key, value in dict(tune_epochs=2, tune_batch_size=2, tune_grad_accum=1, tune_lora_r=2, tune_lora_alpha=4,
                           tune_probe_per_label=2, tune_pairs_per_category=0, tune_top_percent=50.0).items():
        at.number_input(key=key).set_value(value)
    at.button(key="tune_submit").click().run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert any("tiny-run" in s.value for s in at.success)
    assert at.selectbox(key="tune_run").value == "tiny-run"

    run = runs.runs_root() / "tiny-run"
    status = wait_job(run)
    assert status["state"] == "done", Job(run).log()
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == tiny["ckpt"] and config["epochs"] == 2 and config["lora_layers"] is None

    at.run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    shown = charts(at)
    assert len(shown) >= 3  # loss curve, refusal curves, the map
    assert at.radio(key="tune_map_method").value == "pca"
    assert (run / "projections" / "pca.npz").is_file()
    assert at.select_slider(key="tune_epoch_tiny-run").value == 2
    # Colour by category and go back an epoch: still a map, from the cache.
    at.radio(key="tune_map_color").set_value("category")
    at.select_slider(key="tune_epoch_tiny-run").set_value(0).run()
    ok(at)
    assert len(charts(at)) >= 3
    # Picking a point on the map plays its spoken probe question.
    probe = json.loads((run / "probe.json").read_text())
    details = tune_view.selection_details(run, probe, [len(probe) - 1, 0])
    assert details["audio"][:4] == b"RIFF" and probe[-1]["prompt"] in details["text"]
    assert len(details["table"]) == 2 and tune_view.selection_details(run, probe, [99]) == {}
    # Compare with a second run (a copy with another learning rate).
    other = runs.runs_root() / "tiny-copy"
    shutil.copytree(run, other)
    (other / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    at.run()
    at.selectbox(key="tune_compare").set_value("tiny-copy").run()
    ok(at)
    diff = [d.value for d in at.dataframe if "setting" in d.value.columns]
    assert len(diff) == 1 and diff[0]["setting"].tolist() == ["lr"]
    assert len(charts(at)) >= 5  # + both runs' refusal curves
    # A second run submitted with a bad layer string is refused with a message, not an exception.
    at.text_input(key="tune_name").set_value("bad-run")
    at.text_input(key="tune_layers").set_value("sixteen")
    at.button(key="tune_submit").click().run()
    ok(at)
    assert any("layers" in e.value for e in at.error)
    assert not (runs.runs_root() / "bad-run").exists()


def test_a_failed_run_shows_the_error_the_log_and_resume(dirs):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT).run()
    at.text_input(key="tune_name").set_value("broken")
    at.text_input(key="tune_model").set_value(str(dirs / "no-such-model"))
    at.button(key="tune_submit").click().run()
    ok(at)
    run = runs.runs_root() / "broken"
    status = wait_job(run)
    assert status["state"] in ("failed", "died"), Job(run).log()
    at.run()
    ok(at)
    assert any("no-such-model" in e.value or "did not" in e.value or "ended" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any(x.label == "Show log" for x in at.expander)
    assert "no-such-model" in Job(run).log()
    assert at.button(key="tune_resume")  # offered for failed runs
    assert not charts(at)


def test_stop_and_resume_buttons(dirs, tiny):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT).run()
    at.text_input(key="tune_name").set_value("long-run")
    at.text_input(key="tune_model").set_value(tiny["ckpt"])
    at.text_input(key="tune_pairs").set_value(tiny["pairs"])
    at.text_input(key="tune_layers").set_value("all")
    for key, value in dict(tune_epochs=500, tune_batch_size=2, tune_grad_accum=1, tune_lora_r=2,
                           tune_probe_per_label=2, tune_pairs_per_category=0).items():
        at.number_input(key=key).set_value(value)
    at.button(key="tune_submit").click().run()
    run = runs.runs_root() / "long-run"
    try:
        start = time.time()
        while Job(run).state()["state"] != "running" and time.time() - start < 180:
            assert Job(run).state()["state"] in runs.ACTIVE_STATES, Job(run).log()
            time.sleep(0.5)
        at.run()
        ok(at)
        keys = [b.key for b in at.button]
        assert "tune_stop" in keys and "tune_resume" not in keys
        at.button(key="tune_stop").click().run()
        ok(at)
        status = wait_job(run, 60)
        assert status["state"] == "stopped", status
        at.run()
        assert any("Stopped" in w.value for w in at.warning)
        first_pid = status["pid"]
        at.button(key="tune_resume").click().run()
        ok(at)
        assert json.loads((run / "job.json").read_text())["pid"] != first_pid
        assert "--resume" in json.loads((run / "job.json").read_text())["command"]
        assert Job(run).state()["state"] in runs.ACTIVE_STATES  # not "stopped" any more
        at.run()
        keys = [b.key for b in at.button]
        assert "tune_resume" not in keys and "tune_stop" in keys  # no second Resume while it starts
    finally:
        stop_job(run)


def test_tune_config_from_form_values():
    from rrs.config import layers_text

    cfg = tune_view.tune_config({"model": "m", "layers": "0-1", "pairs_per_category": 0, "lr": 0.001})
    assert (cfg.model, cfg.lora_layers, cfg.lr, cfg.pairs_per_category) == ("m", (0, 1), 0.001, None)
    assert tune_view.tune_config({"pairs_per_category": 8}).pairs_per_category == 8
    assert tune_view.tune_config({"pair_selection": "boundary"}).pair_selection == "boundary"
    with pytest.raises(ValueError, match="pair_selection"):
        tune_view.tune_config({"pair_selection": "hardest"})
    assert tune_view.tune_config({"benign_anchors": 6}).benign_anchors == 6
    with pytest.raises(ValueError, match="benign_anchors"):
        tune_view.tune_config({"benign_anchors": 6, "method": "sft-full"})
    assert cfg.method == "rrs" and tune_view.tune_config({"method": "sft-deep"}).method == "sft-deep"
    assert tune_view.tune_config({}) == DEMO_CONFIG  # the form's defaults are the demo configuration
    for bad in ("sixteen", "5-3", "1,,2"):
        with pytest.raises(ValueError):
            tune_view.tune_config({"layers": bad})
    with pytest.raises(ValueError):
        tune_view.tune_config({"model": " "})
    assert layers_text(range(16, 24)) == "16-23" and layers_text(None) == "all" and layers_text([1, 3]) == "1,3"
    with pytest.raises(ValueError):
        runs.check_name("../etc")


def test_resume_reuses_the_original_command_of_a_run_without_config(tmp_path):
    run = tmp_path / "x"
    run.mkdir()
    (run / "job.json").write_text(json.dumps({"command": ["/py", "-m", "rrs", "train", "--model", "m", "--out",
                                                          str(run)], "kind": "train"}))
    Job(run).restart()
    command = json.loads((run / "job.json").read_text())["command"]
    assert command[command.index("train"):] == ["train", "--model", "m", "--resume", "--out", str(run)]
    stop_job(run)


def test_map_figure_has_fixed_axes_frames_and_hover():
    rng = np.random.default_rng(0)
    coords = rng.standard_normal((4, 6, 2)).astype(np.float32)
    probe = [{"uid": str(i), "prompt": f"question {i}", "label": "harmful" if i < 3 else "benign",
              "category": "a" if i % 2 else "b", "audio": None} for i in range(6)]
    emap = EpochMap("pca", [0, 1, 2, 3], coords)
    fig = tune_view.map_figure(emap, probe, epoch=1, color_by="label")
    assert len(fig.frames) == 4 and [f.name for f in fig.frames] == ["0", "1", "2", "3"]
    assert fig.layout.xaxis.autorange is False and fig.layout.xaxis.range[0] <= coords[..., 0].min()
    assert fig.layout.yaxis.range[1] >= coords[..., 1].max()
    harmful = fig.data[0]
    assert harmful.name == "harmful" and list(harmful.customdata) == [0, 1, 2]
    np.testing.assert_allclose(harmful.x, coords[1, :3, 0])
    assert "question 0" in harmful.hovertext[0]
    assert len(fig.frames[0].data) == 2 and fig.frames[1].layout.title.text.endswith("epoch 1</b>")
    by_category = tune_view.map_figure(emap, probe, color_by="category")
    assert {t.name for t in by_category.data} == {"a", "b"}
    event = {"selection": {"points": [{"customdata": 4}, {"customdata": [5]}, {"x": 1}]}}
    assert tune_view.selected_points(event) == [4, 5] and tune_view.selected_points(None) == []


def test_the_recorded_demo_run_opens_with_its_curves_and_map(runs, monkeypatch):
    """A first-time user, with no runs of their own, sees the committed reference run at once: read-only, with
    the command that reproduces it, the loss, first-token, generation ASR/ORR and separation curves, and the map."""
    from rrs.runs.recorded import RECORDED_ENV

    monkeypatch.delenv(RECORDED_ENV)
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT)
    at.run()
    ok(at)
    choice = at.selectbox(key="tune_run")
    assert choice.value.endswith("· recorded") and "rrs-demo" in choice.value
    assert any("Recorded run" in i.value for i in at.info)
    assert any("python -m rrs train --demo" in c.value for c in at.code)
    assert not [b for b in at.button if b.label in ("Stop", "Resume")]  # read-only
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts(at)]
    assert any("ASR and ORR" in t for t in titles) and any("Separation" in t for t in titles)
    assert any("map of the probe set" in t for t in titles)
    # the best epoch by the probe is marked on the first-token curve and named, with the command to evaluate it
    refusal = next(json.loads(c.proto.spec) for c in charts(at) if "First-token" in
                   json.loads(c.proto.spec)["layout"]["title"]["text"])
    assert [shape["x0"] for shape in refusal["layout"]["shapes"]] == [4]
    assert any("Best by the probe** (dashed line): epoch 4" in c.value and "--adapter examples/rrs-demo --epoch best" in c.value for c in at.caption)
    assert not list((runs).iterdir())  # nothing was written for it


def test_progress_text_names_the_epoch_in_training_and_the_generation_figure_has_intervals():
    import pandas as pd

    fraction, text = tune_view.progress_of({"state": "running", "step": 30, "total_steps": 60, "epoch": 1,
                                            "epochs": 4, "message": "training epoch 2 of 4"})
    assert fraction == 0.5 and "1 of 4 epochs done" in text and "training epoch 2 of 4" in text
    epochs = pd.DataFrame({"epoch": [0, 1], "asr": [80.0, 20.0], "asr_low": [60.0, 8.0], "asr_high": [90.0, 40.0],
                           "orr": [0.0, 5.0], "orr_low": [0.0, 1.0], "orr_high": [10.0, 20.0],
                           "n_harmful": [32, 32], "n_benign": [32, 32]})
    assert tune_view.has_generation(epochs)
    fig = tune_view.generation_figure(epochs)
    asr = fig.data[0]
    assert list(asr.y) == [80.0, 20.0] and list(asr.error_y.array) == [10.0, 20.0]
    assert list(asr.error_y.arrayminus) == [20.0, 12.0] and asr.line.color == "#D62728"
    assert not tune_view.has_generation(epochs.assign(asr=None))


def test_presets_fill_the_form_and_show_their_estimates(runs):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT)
    at.run()
    ok(at)
    preset = at.radio(key="tune_preset")
    assert preset.value == "demo" and at.number_input(key="tune_epochs").value == DEMO_CONFIG.epochs
    labels = list(preset.options)  # as shown: "name · ≈ time"
    assert [label.split(" · ")[0] for label in labels] == ["quick look", "demo", "paper"]
    assert all("≈" in label for label in labels)  # measured estimates for the embedded model
    assert any("Estimated time with these settings: ≈" in c.value for c in at.caption)
    preset.set_value("quick look")
    at.run()
    ok(at)
    assert at.number_input(key="tune_epochs").value == 2 and at.number_input(key="tune_pairs_per_category").value == 2
    assert at.number_input(key="tune_gen_probe_per_label").value == 14
    config = tune_view.tune_config({**{k: at.session_state[f"tune_{k}"] for k in tune_view.FORM_FIELDS},
                                    "preset": "quick look"})
    assert config.gen_probe_samples == 1 and config.epochs == 2  # the preset's hidden settings come along


def test_a_recorded_run_without_snapshots_shows_its_curves_and_says_why_there_is_no_map(runs, tmp_path, monkeypatch):
    from rrs.runs.recorded import RECORDED_ENV

    bundle = tmp_path / "recorded" / "ablations"
    run = bundle / "m12.5"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({**DEMO_CONFIG.to_json(), "top_percent": 12.5}))
    (run / "status.json").write_text(json.dumps({"state": "done", "message": "finished"}))
    (run / "metrics.jsonl").write_text(
        json.dumps({"type": "step", "step": 1, "epoch": 1, "rep_loss": 9.0, "penalty": 0.0, "loss": 9.0}) + "\n"
        + json.dumps({"type": "epoch", "epoch": 0, "harmful_refusal": 7.0, "benign_refusal": 0.0}) + "\n")
    (bundle / "recorded.json").write_text(json.dumps({"title": "ablations", "recorded": "today", "entries": [
        {"path": "m12.5", "kind": "train", "title": "top 12.5%", "command": "python -m rrs train --demo --top 12.5"}]}))
    monkeypatch.setenv(RECORDED_ENV, str(tmp_path / "recorded"))
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT)
    at.run()
    ok(at)
    assert at.selectbox(key="tune_run").value == "top 12.5% · recorded"
    assert any("--top 12.5" in c.value for c in at.code)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts(at)]
    assert any("First-token refusal" in t for t in titles) and not any("map of the probe set" in t for t in titles)
    assert any("curves and settings only" in c.value for c in at.caption)
