"""The Tune and Evaluate pages (streamlit AppTest) and their helpers, on a tiny random model.

The tuning and evaluation jobs run as real background processes (``python -m rrs ...``) on a tiny random
Qwen2-Audio checkpoint; runs and caches go to temporary folders (``RRS_RUNS``, ``RRS_CACHE``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import eval_view, tune_view
from rrs import runs
from rrs.projection import EpochMap
from rrs.runs import Job
from rrs.runs import results as eval_results
from rrs.tuning import DEMO_CONFIG

ROOT = Path(__file__).resolve().parent.parent
TUNE = str(ROOT / "pages" / "tune.py")
EVALUATE = str(ROOT / "pages" / "evaluate.py")
TIMEOUT = 90  # seconds per script run: the first one imports plotly, pandas, sklearn on a busy CPU
@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_workspace_factory):
    """A saved tiny checkpoint, a pairs file and small harmful/benign eval sets."""
    return tiny_workspace_factory(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _wait(folder: Path, limit: float = 180.0) -> dict:
    start = time.time()
    while time.time() - start < limit:
        status = Job(folder).state()
        if status["state"] not in runs.ACTIVE_STATES:
            return status
        time.sleep(1.0)
    raise AssertionError(f"job in {folder} still {status['state']} after {limit:.0f}s:\n{Job(folder).log()}")


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def _table3(at: AppTest) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "Avg. NSI ↑" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ---- pages ---------------------------------------------------------------------------------------
def test_empty_states(dirs):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT).run()
    _ok(at)
    assert any("No runs yet" in i.value for i in at.info)
    assert at.text_input(key="tune_model").value == "embedded"
    layers = DEMO_CONFIG.lora_layers
    assert at.text_input(key="tune_layers").value == f"{layers[0]}-{layers[-1]}"  # the demo configuration
    assert not _charts(at)

    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT).run()
    _ok(at)
    assert any("No finished evaluations" in i.value for i in at.info)
    assert not _charts(at) and not at.dataframe


def test_tune_form_launches_a_job_and_the_page_shows_curves_and_map(dirs, tiny):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT)
    at.session_state["model_key"] = (tiny["ckpt"], "cpu", "float32")  # the loaded model is the default
    at.run()
    _ok(at)
    assert at.text_input(key="tune_model").value == tiny["ckpt"]
    assert at.selectbox(key="tune_method").value == "rrs"
    assert "sft-shallow-parallel" in at.selectbox(key="tune_method").options
    at.text_input(key="tune_name").set_value("tiny-run")
    at.text_input(key="tune_pairs").set_value(tiny["pairs"])
    at.text_input(key="tune_layers").set_value("all")
    for key, value in dict(tune_epochs=2, tune_batch_size=2, tune_grad_accum=1, tune_lora_r=2, tune_lora_alpha=4,
                           tune_probe_per_label=2, tune_pairs_per_category=0, tune_top_percent=50.0).items():
        at.number_input(key=key).set_value(value)
    at.button(key="tune_submit").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert any("tiny-run" in s.value for s in at.success)
    assert at.selectbox(key="tune_run").value == "tiny-run"

    run = runs.runs_root() / "tiny-run"
    status = _wait(run)
    assert status["state"] == "done", Job(run).log()
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == tiny["ckpt"] and config["epochs"] == 2 and config["lora_layers"] is None

    at.run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    charts = _charts(at)
    assert len(charts) >= 3  # loss curve, refusal curves, the map
    assert at.radio(key="tune_map_method").value == "pca"
    assert (run / "projections" / "pca.npz").is_file()
    assert at.select_slider(key="tune_epoch_tiny-run").value == 2
    # Colour by category and go back an epoch: still a map, from the cache.
    at.radio(key="tune_map_color").set_value("category")
    at.select_slider(key="tune_epoch_tiny-run").set_value(0).run()
    _ok(at)
    assert len(_charts(at)) >= 3
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
    _ok(at)
    diff = [d.value for d in at.dataframe if "setting" in d.value.columns]
    assert len(diff) == 1 and diff[0]["setting"].tolist() == ["lr"]
    assert len(_charts(at)) >= 5  # + both runs' refusal curves
    # A second run submitted with a bad layer string is refused with a message, not an exception.
    at.text_input(key="tune_name").set_value("bad-run")
    at.text_input(key="tune_layers").set_value("sixteen")
    at.button(key="tune_submit").click().run()
    _ok(at)
    assert any("layers" in e.value for e in at.error)
    assert not (runs.runs_root() / "bad-run").exists()


def test_a_failed_run_shows_the_error_the_log_and_resume(dirs):
    at = AppTest.from_file(TUNE, default_timeout=TIMEOUT).run()
    at.text_input(key="tune_name").set_value("broken")
    at.text_input(key="tune_model").set_value(str(dirs / "no-such-model"))
    at.button(key="tune_submit").click().run()
    _ok(at)
    run = runs.runs_root() / "broken"
    status = _wait(run)
    assert status["state"] in ("failed", "died"), Job(run).log()
    at.run()
    _ok(at)
    assert any("no-such-model" in e.value or "did not" in e.value or "ended" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any(x.label == "Show log" for x in at.expander)
    assert "no-such-model" in Job(run).log()
    assert at.button(key="tune_resume")  # offered for failed runs
    assert not _charts(at)


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
        _ok(at)
        keys = [b.key for b in at.button]
        assert "tune_stop" in keys and "tune_resume" not in keys
        at.button(key="tune_stop").click().run()
        _ok(at)
        status = _wait(run, 60)
        assert status["state"] == "stopped", status
        at.run()
        assert any("Stopped" in w.value for w in at.warning)
        first_pid = status["pid"]
        at.button(key="tune_resume").click().run()
        _ok(at)
        assert json.loads((run / "job.json").read_text())["pid"] != first_pid
        assert "--resume" in json.loads((run / "job.json").read_text())["command"]
        assert Job(run).state()["state"] in runs.ACTIVE_STATES  # not "stopped" any more
        at.run()
        keys = [b.key for b in at.button]
        assert "tune_resume" not in keys and "tune_stop" in keys  # no second Resume while it starts
    finally:
        _stop(run)


def _stop(run: Path) -> None:
    """Stop a job this test started and wait until its process is gone (killed if it does not listen)."""
    start = time.time()
    while time.time() - start < 120:
        force = time.time() - start > 60
        if not Job(run).stop(force=force) and Job(run).state()["state"] not in runs.ACTIVE_STATES:
            return
        time.sleep(2.0)
    raise AssertionError(f"could not stop the job in {run}")


def _cli_eval(tiny, out: Path, name: str) -> None:
    from rrs.cli import main

    code = main(["eval", "--model", tiny["ckpt"], "--harmful", tiny["harmful"], "--benign", tiny["benign"],
                 "--samples", "2", "--max-new-tokens", "4", "--modality", "text-only", "--device", "cpu",
                 "--name", name, "--out", str(out)])
    assert code == 0


def test_finished_results_show_in_the_evaluate_table(dirs, tiny):
    evals = eval_results.evals_root()
    _cli_eval(tiny, evals / "vanilla-text" / eval_results.RESULTS, "vanilla")
    _cli_eval(tiny, evals / "rrs-loose.json", "rrs")  # a results file written straight into evals/
    _cli_eval(tiny, evals / "vanilla-old.json", "vanilla")  # an older result of the same method and modality
    old = evals / "vanilla-old.json"
    os.utime(old, (old.stat().st_atime - 3600, old.stat().st_mtime - 3600))
    entries = eval_results.list_results()
    assert [(e.method, e.name) for e in entries][-1] == ("vanilla", "vanilla-old")
    assert {(e.method, e.modality) for e in entries} == {("vanilla", "text-only"), ("rrs", "text-only")}
    grouped, skipped = eval_results.group_results(entries)
    assert list(grouped) == ["vanilla", "rrs"] and [e.name for e in skipped] == ["vanilla-old"]

    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    table = _table3(at)
    assert table["Method"].tolist() == ["vanilla", "rrs"]  # the baseline first
    assert "NSI text-only ↑" in table.columns and "Avg. NSI ↑" in table.columns
    vanilla, rrs = (table.set_index("Method").loc[m] for m in ("vanilla", "rrs"))
    assert vanilla["NSI text-only ↑"] == "-" and rrs["NSI text-only ↑"] == "0.00"  # same model
    assert rrs["ASR audio-text ↓"] == "N/A" and float(vanilla["ASR text-only ↓"]) >= 0
    assert at.selectbox(key="eval_baseline").value == "vanilla"
    assert len(at.multiselect(key="eval_picked").value) == 2  # the newest result per method and modality
    assert len(_charts(at)) == 2  # per-category ASR and ORR
    downloads = at.get("download_button")
    assert len(downloads) == 4


def test_evaluate_form_runs_an_eval_job(dirs, tiny):
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT).run()
    _ok(at)
    at.text_input(key="eval_model").set_value(tiny["ckpt"])
    at.selectbox(key="eval_harmful").set_value(eval_view.FILE_OPTION)
    at.text_input(key="eval_harmful_file").set_value(tiny["harmful"])
    at.selectbox(key="eval_benign").set_value(eval_view.FILE_OPTION)
    at.text_input(key="eval_benign_file").set_value(tiny["benign"])
    at.selectbox(key="eval_modality").set_value("text-only")
    at.selectbox(key="eval_device").set_value("cpu")
    at.number_input(key="eval_samples").set_value(1)
    at.number_input(key="eval_max_new_tokens").set_value(4)
    at.text_input(key="eval_name").set_value("job-1")
    at.button(key="eval_submit").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    folder = eval_results.evals_root() / "job-1"
    status = _wait(folder)
    assert status["state"] == "done", Job(folder).log()
    payload = json.loads((folder / eval_results.RESULTS).read_text())
    assert payload["method"] == "vanilla" and payload["n_harmful"] == 2 and payload["samples"] == 1
    at.run()
    _ok(at)
    assert _table3(at)["Method"].tolist() == ["vanilla"]


# ---- helpers -------------------------------------------------------------------------------------
def test_tune_config_from_form_values():
    from rrs.config import layers_text

    cfg = tune_view.tune_config({"model": "m", "layers": "0-1", "pairs_per_category": 0, "lr": 0.001})
    assert (cfg.model, cfg.lora_layers, cfg.lr, cfg.pairs_per_category) == ("m", (0, 1), 0.001, None)
    assert tune_view.tune_config({"pairs_per_category": 8}).pairs_per_category == 8
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
    _stop(run)


def test_eval_config_and_names(tiny, tmp_path):
    cfg = eval_view.eval_config({"model": "m", "adapter": "/runs/my-run", "harmful": "harmbench",
                                 "benign": tiny["benign"], "limit": 0})
    assert cfg.method_name() == "my-run" and cfg.adapter == "/runs/my-run" and cfg.limit is None
    cfg = eval_view.eval_config({"model": "m", "harmful": "harmbench", "benign": "overrefusal", "limit": 5})
    assert cfg.method_name() == "vanilla" and cfg.adapter is None and cfg.limit == 5
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "other-model"}))
    with pytest.raises(ValueError, match="trained on 'other-model'"):
        eval_view.eval_config({"model": "m", "adapter": str(run), "harmful": "harmbench", "benign": "overrefusal"})
    with pytest.raises(ValueError, match="neither"):
        eval_view.eval_config({"model": "m", "harmful": "/no/such.csv", "benign": "overrefusal"})
    assert eval_view.method_colors(["vanilla", "rrs-demo", "other"])["rrs-demo"] == "#2CA02C"


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
