"""``rrs compare`` end to end on a tiny random checkpoint: every cell, the tables, and resuming."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rrs import compare
from rrs.compare import CompareConfig, Comparison, read_results
from rrs.hardware import resolve_precision

METHODS = ("vanilla", "sft-shallow-mirror", "rrs", "sarsteer", "steer", "rrs+sarsteer")


@pytest.fixture()
def setup(tmp_path, monkeypatch, tiny_workspace_factory):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    ws = tiny_workspace_factory(tmp_path)
    cfg = CompareConfig(
        model=ws["ckpt"], methods=METHODS, modalities=("audio-text", "text-only"), harmful=ws["harmful"],
        benign=ws["benign"], limit=2, samples=1, max_new_tokens=4, pairs=ws["pairs"], device="cpu",
        dtype="float32", steer_pairs=3, steer_k=1, sweep_alphas=(0.5, 2.0), sweep_limit=2,
        train_overrides={"epochs": 1, "batch_size": 2, "probe_per_label": 1, "lora_r": 2, "lora_alpha": 4,
                         "val_fraction": 0.5, "lora_layers": None})
    return cfg, tmp_path / "cmp"


@pytest.mark.slow
def test_compare_fills_every_cell_writes_the_tables_and_resumes(setup, monkeypatch):
    cfg, out = setup
    meta = Comparison(cfg, out, progress=False).run()
    assert meta["finished"]
    assert {m: sorted(per) for m, per in meta["cells"].items()} == {
        m: ["audio-text", "text-only"] for m in METHODS}
    results = read_results(out)
    assert list(results) == list(METHODS)
    assert all(r.n_harmful == 2 and r.n_benign == 1 for per in results.values() for r in per.values())
    table = (out / "table" / "table3.md").read_text()
    assert all(f"| {m} |" in table for m in METHODS)
    assert "keyword" in table
    sweep = json.loads((out / "steer" / "sweep.json").read_text())
    assert meta["steering"]["alpha"] == sweep["chosen"]["alpha"]
    assert {r["alpha"] for r in sweep["rows"]} == {0.0, 0.5, 2.0}
    assert (out / "runs" / "rrs" / "status.json").is_file() and (out / "runs" / "sft-shallow-mirror").is_dir()
    assert json.loads((out / "runs" / "sft-shallow-mirror" / "config.json").read_text())["method"] == (
        "sft-shallow-mirror")
    assert "| rrs+sarsteer |" in (out / "table" / "wall_times.md").read_text()
    assert "| category |" in (out / "table" / "overrefusal_by_category.md").read_text()
    # Started again: nothing is recomputed, and a lost cell is the only one redone.
    calls = []
    real = compare.Comparison.cell

    def counting(self, method, modality, meta):
        path = out / "cells" / f"{compare.cell_name(method, modality)}.json"
        if not path.is_file():
            calls.append((method, modality))
        return real(self, method, modality, meta)

    monkeypatch.setattr(compare.Comparison, "cell", counting)
    monkeypatch.setattr("rrs.tuning.RRSTrainer.train", lambda *a, **k: pytest.fail("retrained"))
    (out / "cells" / f"{compare.cell_name('rrs+sarsteer', 'text-only')}.json").unlink()
    Comparison(cfg, out, progress=False).run()
    assert calls == [("rrs+sarsteer", "text-only")]
    assert list(read_results(out)) == list(METHODS)


def test_compare_refuses_a_folder_with_other_settings_but_not_another_precision(setup):
    cfg, out = setup
    assert Comparison(cfg, out)._eval_config("text-only", "cpu").precision == resolve_precision("auto", "cpu")
    small = replace(cfg, methods=("vanilla",), modalities=("text-only",), precision="bf16")
    Comparison(small, out, progress=False).run()
    cell_path = out / "cells" / "vanilla__text-only.json"
    assert json.loads(cell_path.read_text())["precision"] == "bf16"
    other = replace(small, samples=2)
    with pytest.raises(ValueError, match="other settings"):
        Comparison(other, out, progress=False).run()
    # precision is a compute setting: a folder (or one made before the setting existed) continues under another,
    # but a cell's records are never mixed: a cell cut short under bf16 does not resume under fp32
    meta = json.loads((out / "compare.json").read_text())
    del meta["settings"]["precision"]
    (out / "compare.json").write_text(json.dumps(meta))
    cell_path.unlink()
    fp32 = replace(small, precision="fp32")
    with pytest.raises(ValueError, match="another model or generation config"):
        Comparison(fp32, out, progress=False).run()
    cell_path.with_suffix(".records.jsonl").unlink()
    assert Comparison(fp32, out, progress=False).run()["settings"]["precision"] == "fp32"
    assert json.loads(cell_path.read_text())["precision"] == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        replace(small, precision="fp16")


def test_cells_run_column_by_column_methods_that_need_no_training_first(tmp_path):
    order = Comparison(CompareConfig(), tmp_path / "new").execution_order()
    methods = ["vanilla", "sarsteer", "steer", "sft-full", "sft-shallow-mirror", "sft-shallow-parallel", "sft-deep",
               "rrs", "rrs+sarsteer"]
    assert order[: len(methods)] == [(m, "audio-text") for m in methods]  # a whole audio-text column first
    assert [modality for _, modality in order[:: len(methods)]] == ["audio-text", "text-only", "audio-only"]
    assert len(order) == 27 and len(set(order)) == 27
    run = tmp_path / "demo"  # a finished run reused for rrs: rrs and rrs+sarsteer join the first group
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"state": "done"}))
    reused = Comparison(CompareConfig(runs={"rrs": str(run)}), tmp_path / "new").execution_order()
    assert [m for m, modality in reused if modality == "audio-text"][:5] == [
        "vanilla", "rrs", "sarsteer", "steer", "rrs+sarsteer"]


def test_config_validation():
    with pytest.raises(ValueError, match="unknown methods"):
        CompareConfig(methods=("vanilla", "magic"))
    with pytest.raises(ValueError, match="unknown modalities"):
        CompareConfig(modalities=("video",))
    with pytest.raises(ValueError, match="trained method"):
        CompareConfig(runs={"vanilla": "runs/x"})
    assert compare.parse_runs(["rrs=runs/demo"]) == {"rrs": "runs/demo"}
    with pytest.raises(ValueError):
        compare.parse_runs(["rrs"])
