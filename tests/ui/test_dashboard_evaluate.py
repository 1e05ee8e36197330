"""The Evaluate page (streamlit AppTest) and its helpers, on a tiny random model.

The evaluation jobs run as real background processes (``python -m rrs eval``); runs and caches go to
temporary folders (``RRS_RUNS``, ``RRS_CACHE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import eval_view
from rrs.runs import Job
from rrs.runs import results as eval_results
from ui.pagetest import TIMEOUT, charts, ok, page, wait_job

EVALUATE = page("evaluate")

def _table3(at: AppTest) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "Avg. NSI ↑" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


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
    ok(at)
    assert not at.error, [e.value for e in at.error]
    table = _table3(at)
    assert table["Method"].tolist() == ["vanilla", "rrs"]  # the baseline first
    assert "NSI text-only ↑" in table.columns and "Avg. NSI ↑" in table.columns
    vanilla, rrs = (table.set_index("Method").loc[m] for m in ("vanilla", "rrs"))
    assert vanilla["NSI text-only ↑"] == "-" and rrs["NSI text-only ↑"] == "0.00"  # same model
    assert rrs["ASR audio-text ↓"] == "N/A" and float(vanilla["ASR text-only ↓"]) >= 0
    assert at.selectbox(key="eval_baseline").value == "vanilla"
    assert len(at.multiselect(key="eval_picked").value) == 2  # the newest result per method and modality
    assert len(charts(at)) == 3  # the trade-off, then per-category ASR and ORR
    tradeoff = json.loads(charts(at)[0].proto.spec)
    assert {t["name"] for t in tradeoff["data"]} == {"vanilla", "rrs"} and len(tradeoff["layout"]["shapes"]) == 1
    downloads = at.get("download_button")
    assert len(downloads) == 4


def test_evaluate_form_runs_an_eval_job(dirs, tiny):
    at = AppTest.from_file(EVALUATE, default_timeout=TIMEOUT).run()
    ok(at)
    at.text_input(key="eval_model").set_value(tiny["ckpt"])
    at.selectbox(key="eval_harmful").set_value(eval_view.FILE_OPTION)
    at.text_input(key="eval_harmful_file").set_value(tiny["harmful"])
    at.selectbox(key="eval_benign").set_value(eval_view.FILE_OPTION)
    at.text_input(key="eval_benign_file").set_value(tiny["benign"])
    at.selectbox(key="eval_modality").set_value("text-only")
    at.selectbox(key="eval_device").set_value("cpu")
    at.number_input(key="eval_samples").set_value(1)
    at.number_input(key="eval_max_new_tokens").set_value(4)
    assert list(at.selectbox(key="eval_epoch").options) == ["last", "best"]
    at.selectbox(key="eval_epoch").set_value("best")  # no adapter: the vanilla model, whatever the epoch says
    at.text_input(key="eval_name").set_value("job-1")
    at.button(key="eval_submit").click().run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    folder = eval_results.evals_root() / "job-1"
    status = wait_job(folder)
    assert status["state"] == "done", Job(folder).log()
    payload = json.loads((folder / eval_results.RESULTS).read_text())
    assert payload["method"] == "vanilla" and payload["n_harmful"] == 2 and payload["samples"] == 1
    at.run()
    ok(at)
    assert _table3(at)["Method"].tolist() == ["vanilla"]


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
    # the epoch of a run: kept with an adapter that has checkpoints, dropped without an adapter
    (run / "config.json").write_text(json.dumps({"model": "m"}))
    (run / "checkpoints" / "epoch_001").mkdir(parents=True)
    (run / "checkpoints" / "epoch_001" / "COMPLETE").write_text("1.0")
    cfg = eval_view.eval_config({"model": "m", "adapter": str(run), "epoch": "best", "harmful": "harmbench",
                                 "benign": "overrefusal"})
    assert cfg.epoch == "best" and cfg.method_name() == "run@best"
    cfg = eval_view.eval_config({"model": "m", "epoch": "best", "harmful": "harmbench", "benign": "overrefusal"})
    assert cfg.epoch == "last" and cfg.method_name() == "vanilla"
    assert eval_view.method_colors(["vanilla", "rrs-demo", "other"])["rrs-demo"] == "#2CA02C"
