"""The command line end to end on a tiny random Qwen2-Audio checkpoint saved to disk."""

from __future__ import annotations

import json

import pytest

from rrs.cli import main


@pytest.fixture()
def setup(tmp_path, monkeypatch, tiny_workspace_factory):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    files = tiny_workspace_factory(tmp_path)
    return tmp_path, files["ckpt"], files["pairs"], files["harmful"], files["benign"]


def test_features_train_eval_report(setup):
    tmp, ckpt, pairs, harmful, benign = setup
    assert main(["features", "--model", ckpt, "--pairs", pairs, "--top", "25", "--out", str(tmp / "feat")]) == 0
    summary = json.loads((tmp / "feat" / "summary.json").read_text())
    assert summary["hidden_size"] == 64 and summary["n_selected"] == 16 and summary["top_percent"] == 25.0
    assert set(summary["preview"]) == {"before", "after"}
    assert set(summary["preview"]["after"]) == {"harmful", "benign"}

    run = tmp / "run"
    args = ["train", "--model", ckpt, "--pairs", pairs, "--epochs", "1", "--batch-size", "2", "--grad-accum", "1",
            "--lora-r", "2", "--probe-per-label", "2", "--out", str(run)]
    assert main(args) == 0
    assert (run / "checkpoints" / "epoch_001" / "adapter_model.safetensors").is_file()
    assert main(args) == 2  # refuses to overwrite a finished run without --resume
    assert main(args + ["--resume"]) == 0

    results = []
    for name, adapter in (("vanilla", None), ("rrs", str(run))):
        out = tmp / f"{name}.json"
        cmd = ["eval", "--model", ckpt, "--harmful", harmful, "--benign", benign, "--samples", "2",
               "--max-new-tokens", "4", "--modality", "text-only", "--out", str(out), "--name", name]
        assert main(cmd + (["--adapter", adapter, "--epoch", "best"] if adapter else [])) == 0
        payload = json.loads(out.read_text())
        assert payload.get("adapter_epoch") == (1 if adapter else None)  # the one checkpoint the run has
        assert payload["n_harmful"] == 2 and payload["n_benign"] == 1 and payload["judge"] == "keyword"
        assert 0 <= payload["asr"] <= 100 and 0 <= payload["orr"] <= 100
        assert len(payload["per_item"]) == 3
        results.append(str(out))
    assert main(["export", str(run), "--epoch", "best", "--out", str(tmp / "adapter")]) == 0
    assert (tmp / "adapter" / "adapter_model.safetensors").read_bytes() == (
        run / "checkpoints" / "epoch_001" / "adapter_model.safetensors").read_bytes()
    assert main(["export", str(run), "--merged", "--out", str(tmp / "merged")]) == 0
    assert (tmp / "merged" / "config.json").is_file() and not (tmp / "merged" / "adapter_config.json").exists()
    assert main(["export", str(run), "--epoch", "3", "--out", str(tmp / "none")]) == 2  # no such checkpoint
    assert main(["report", *results, "--out", str(tmp / "report")]) == 0
    table = (tmp / "report" / "table3.md").read_text()
    assert "vanilla" in table and "rrs" in table
    assert (tmp / "report" / "table3.tex").is_file()


def test_steer_sweeps_alpha_and_layer_sets_and_eval_applies_the_vectors(setup):
    tmp, ckpt, pairs, harmful, benign = setup
    out = tmp / "steer"
    assert main(["steer", "--model", ckpt, "--pairs", pairs, "--n-pairs", "3", "--k", "1", "--sweep", "0.5",
                 "--sweep-layers", "all;1", "--sweep-limit", "1", "--max-new-tokens", "3",
                 "--first-token", "0,2", "--out", str(out)]) == 0
    rows = json.loads((out / "sweep.json").read_text())["rows"]
    assert [(r["alpha"], r["layers"]) for r in rows] == [(0.0, []), (0.5, [0, 1]), (0.5, [1])]
    curve = json.loads((out / "first_token.json").read_text())["rows"]
    assert [(r["alpha"], r["layers"], r["ablated"]) for r in curve] == [
        (0.0, [], True), (2.0, [0, 1], True), (2.0, [0, 1], False), (2.0, [1], True), (2.0, [1], False)]
    assert all(0 <= r["harmful"] <= 1 and 0 <= r["benign"] <= 1 for r in curve)
    result = tmp / "steered.json"
    assert main(["eval", "--model", ckpt, "--steer", str(out), "--alpha", "2", "--harmful", harmful, "--benign",
                 benign, "--samples", "1", "--max-new-tokens", "3", "--out", str(result)]) == 0
    assert json.loads(result.read_text())["method"] == "sarsteer"
    again = tmp / "again"
    assert main(["steer", "--model", ckpt, "--pairs", pairs, "--vectors", str(out), "--sweep-limit", "1",
                 "--first-token", "2", "--out", str(again)]) == 0
    assert not (again / "steering.json").exists()  # the saved vectors were used, not recomputed
    assert main(["steer", "--model", ckpt, "--pairs", pairs, "--vectors", str(out), "--sweep-skip", "1000",
                 "--first-token", "2", "--out", str(tmp / "none-left")]) == 2
    assert json.loads((again / "first_token.json").read_text())["rows"][0] == curve[1]


def test_missing_model_and_bad_file_give_clear_errors(setup, capsys):
    tmp, ckpt, pairs, harmful, benign = setup
    assert main(["features", "--model", str(tmp / "nope"), "--pairs", pairs, "--out", str(tmp / "f")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp / "bad.csv"
    bad.write_text("question\nhello\n")
    assert main(["features", "--model", ckpt, "--pairs", str(bad), "--out", str(tmp / "f")]) == 2
    assert "harmful" in capsys.readouterr().err


def test_eval_into_a_folder_from_a_config_file(setup):
    tmp, ckpt, pairs, harmful, benign = setup
    from rrs.runs.configs import EvalJob

    folder = tmp / "evals" / "one"
    EvalJob(model=ckpt, harmful=harmful, benign=benign, samples=1, max_new_tokens=3, modality="text-only",
            limit=1).save(tmp / "given.json")
    assert main(["eval", "--config", str(tmp / "given.json"), "--samples", "2", "--out", str(folder)]) == 0
    payload = json.loads((folder / "results.json").read_text())
    assert payload["method"] == "vanilla" and payload["samples"] == 2 and payload["n_harmful"] == 1
    assert (folder / "results.records.jsonl").is_file()
    assert json.loads((folder / "status.json").read_text())["state"] == "done"
    assert EvalJob.load(folder / "config.json").samples == 2  # the flag went into the saved config
    assert main(["report", str(folder), "--out", str(tmp / "report")]) == 0


def test_flags_are_the_config_fields(tmp_path):
    from rrs.cli import build_parser
    from rrs.compare import CompareConfig
    from rrs.runs.flags import config_from
    from rrs.tuning import DEMO_CONFIG, TuneConfig

    args = build_parser().parse_args(["train", "--top", "12.5", "--lora-layers", "2-4", "--demo", "--out", "x"])
    cfg = config_from(args, TuneConfig, DEMO_CONFIG)
    assert cfg.top_percent == 12.5 and cfg.lora_layers == (2, 3, 4) and cfg.epochs == DEMO_CONFIG.epochs
    args = build_parser().parse_args(["compare", "--limit", "0", "--k", "3", "--sweep", "0.1,0.2", "--run",
                                      "rrs=runs/demo", "--train-epochs", "2", "--paper-config", "--out", "x"])
    cfg = config_from(args, CompareConfig, convert={"runs": __import__("rrs.compare").compare.parse_runs})
    assert (cfg.limit, cfg.steer_k, cfg.sweep_alphas, cfg.runs, cfg.train_overrides, cfg.demo) == (
        None, 3, (0.1, 0.2), {"rrs": "runs/demo"}, {"epochs": 2}, False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"epochs": 2, "typo": 1}))
    with pytest.raises(ValueError, match="typo"):
        config_from(build_parser().parse_args(["train", "--config", str(bad), "--out", "x"]), TuneConfig)
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "run")]) == 2
