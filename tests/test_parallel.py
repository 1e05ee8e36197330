"""Data-parallel work through accelerate on CPU (rrs.parallel): two processes (DDP over gloo) tune with the loss
curve of one process at the same global batch, a killed two-process run resumes (with two processes, or with
one), and two processes extract the features, evaluate and compare with the results of one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def _train(launcher: list[str], args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*launcher, "-m", "rrs", "train", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _launch(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs a job; once more if a launched process died of SIGABRT (a rare abort in the two-process CPU
    group's teardown seen once in CI, never reproduced). Any other failure, or a second abort, fails the test."""
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and "(SIGABRT)" in done.stderr:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return done


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _same_curve(a: list[dict], b: list[dict]) -> None:
    assert [r["type"] for r in a] == [r["type"] for r in b]
    for x, y in zip(a, b, strict=True):
        if x["type"] == "step":
            assert x["prompt"] == y["prompt"] and x["step"] == y["step"]
            assert y["loss"] == pytest.approx(x["loss"], rel=1e-4), (x, y)
        else:
            assert (x["harmful_refusal"], x["benign_refusal"]) == (y["harmful_refusal"], y["benign_refusal"])


def test_two_processes_match_one_at_the_same_global_batch_and_resume_after_a_kill(tmp_path, tiny_workspace_factory):
    ws = tiny_workspace_factory(tmp_path)
    env = {**os.environ, "RRS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    common = ["--model", ws["ckpt"], "--pairs", ws["pairs"], "--epochs", "2", "--grad-accum", "2", "--lora-r", "2",
              "--lora-alpha", "4", "--lora-dropout", "0", "--probe-per-label", "2", "--device", "cpu", "--dtype",
              "float32", "--precision", "fp32"]
    one = _train([sys.executable], [*common, "--batch-size", "2", "--out", str(tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr[-2000:]
    points = tmp_path / "points.log"
    two = _train(ACCELERATE, [*common, "--batch-size", "1", "--out", str(tmp_path / "two")],
                 {**env, "RRS_FAULT_LOG": str(points)})
    assert two.returncode == 0, two.stderr[-2000:]
    assert json.loads((tmp_path / "two" / "status.json").read_text())["processes"] == 2
    _same_curve(_metrics(tmp_path / "one"), _metrics(tmp_path / "two"))

    # Killed (SIGKILL at rank 0's third write point after epoch 1 completed), then resumed.
    lines = points.read_text().splitlines()
    kill_at = next(i for i, line in enumerate(lines, 1) if "epoch_001" in line and line.endswith("COMPLETE")) + 3
    killed = _train(ACCELERATE, [*common, "--batch-size", "1", "--out", str(tmp_path / "killed")],
                    {**env, "RRS_FAULT_KILL_AT": str(kill_at)})
    assert killed.returncode != 0
    done = sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir() if (p / "COMPLETE").is_file())
    assert done == ["epoch_001"]
    shutil.copytree(tmp_path / "killed", tmp_path / "killed-one")
    again = _train(ACCELERATE, [*common, "--batch-size", "1", "--out", str(tmp_path / "killed"), "--resume"], env)
    assert again.returncode == 0, again.stderr[-2000:]
    _same_curve(_metrics(tmp_path / "two"), _metrics(tmp_path / "killed"))
    # The same run can go on with another number of processes: here one, at the saved per-process batch.
    alone = _train([sys.executable], ["--out", str(tmp_path / "killed-one"), "--resume", "--config",
                                      str(tmp_path / "killed-one" / "config.json")], env)
    assert alone.returncode == 0, alone.stderr[-2000:]
    resumed = _metrics(tmp_path / "killed-one")
    assert [r["epoch"] for r in resumed if r["type"] == "epoch"] == [0, 1, 2]
    assert resumed[: len([r for r in resumed if r["epoch"] <= 1])] == [r for r in _metrics(tmp_path / "two")
                                                                        if r["epoch"] <= 1]


def test_the_shipped_accelerate_config_is_read_by_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "configs" / "accelerate" / "ddp.yaml"))
    assert config.distributed_type == "MULTI_GPU" and config.mixed_precision == "no" and config.num_processes == 2


@pytest.mark.parametrize("order", [[], ["--by-length"]], ids=["given-order", "by-length"])
def test_a_two_process_evaluation_gives_the_answers_of_one(tmp_path, tiny_workspace_factory, order):
    ws = tiny_workspace_factory(tmp_path)
    harmful = tmp_path / "harmful6.csv"
    harmful.write_text("prompt,category\n" + "".join(f"How do I break {'the ' * (i % 3)}lock number {i}?,crime\n"
                                                      for i in range(6)))
    env = {**os.environ, "RRS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    args = ["--model", ws["ckpt"], "--harmful", str(harmful), "--benign", ws["benign"], "--samples", "2",
            "--max-new-tokens", "3", "--batch-size", "2", "--device", "cpu", "--dtype", "float32", "--precision", "fp32",
            *order]

    def run(launcher: list[str], out: Path) -> dict:
        done = _launch([*launcher, "-m", "rrs", "eval", *args, "--out", str(out)], env)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((out / "results.json").read_text())

    one, two = run([sys.executable], tmp_path / "one"), run(ACCELERATE, tmp_path / "two")
    assert [(r["key"], r["responses"], r["refusals"]) for r in two["per_item"]] == [
        (r["key"], r["responses"], r["refusals"]) for r in one["per_item"]]
    assert (two["asr"], two["orr"], two["n_harmful"]) == (one["asr"], one["orr"], 6)
    assert not list((tmp_path / "two").glob("*.rank*"))  # the ranks' records were merged into one file
    items = [json.loads(x) for x in (tmp_path / "two" / "results.records.jsonl").read_text().splitlines()][1:]
    assert [x["key"] for x in items] == [r["key"] for r in one["per_item"]]


def _rrs(launcher: list[str], args: list[str], env: dict[str, str]) -> None:
    done = _launch([*launcher, "-m", "rrs", *args], env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_processes_extract_the_features_of_one(tmp_path, tiny_workspace_factory):
    from safetensors.torch import load_file

    ws = tiny_workspace_factory(tmp_path)
    # batch 1: each rank has batches of its own in each of the three sets
    args = ["features", "--model", ws["ckpt"], "--pairs", ws["pairs"], "--batch-size", "1", "--device", "cpu",
            "--dtype", "float32"]
    for name, launcher in (("one", [sys.executable]), ("two", ACCELERATE)):  # each with its own empty cache
        env = {**os.environ, "RRS_CACHE": str(tmp_path / f"cache-{name}"), "OMP_NUM_THREADS": "1"}
        _rrs(launcher, [*args, "--out", str(tmp_path / name)], env)
    one, two = (load_file(tmp_path / name / "features.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys()
    for key in one:
        assert two[key].shape == one[key].shape and (two[key] - one[key]).abs().max() < 1e-5, key
    summary = {name: json.loads((tmp_path / name / "summary.json").read_text()) for name in ("one", "two")}
    assert summary["two"]["n_pairs"] == summary["one"]["n_pairs"] >= 2
    # both ranks computed: the second rank's vectors reached the shared cache too
    assert len(list((tmp_path / "cache-two" / "representations").rglob("*.npy"))) == 3 * summary["one"]["n_pairs"]


def test_a_two_process_comparison_fills_the_cells_of_one(tmp_path, tiny_workspace_factory):
    ws = tiny_workspace_factory(tmp_path)
    env = {**os.environ, "RRS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    args = ["compare", "--model", ws["ckpt"], "--pairs", ws["pairs"], "--harmful", ws["harmful"], "--benign",
            ws["benign"], "--methods", "vanilla,steer", "--modalities", "text-only,audio-text", "--samples", "2",
            "--max-new-tokens", "3", "--batch-size", "2", "--steer-pairs", "4", "--k", "1", "--sweep", "0.5",
            "--device", "cpu", "--dtype", "float32"]
    for name, launcher in (("one", [sys.executable]), ("two", ACCELERATE)):
        _rrs(launcher, [*args, "--out", str(tmp_path / name)], env)
    cells = sorted(p.name for p in (tmp_path / "one" / "cells").glob("*.json"))
    assert len(cells) == 4 and cells == sorted(p.name for p in (tmp_path / "two" / "cells").glob("*.json"))
    for cell in cells:
        one, two = (json.loads((tmp_path / name / "cells" / cell).read_text()) for name in ("one", "two"))
        assert [(r["key"], r["responses"]) for r in two["per_item"]] == [(r["key"], r["responses"])
                                                                        for r in one["per_item"]], cell
        assert (two["asr"], two["orr"]) == (one["asr"], one["orr"])
    meta = json.loads((tmp_path / "two" / "compare.json").read_text())
    assert meta["finished"] and meta["steering"]["sweep"]
    sweeps = [json.loads((tmp_path / name / "steer" / "sweep.json").read_text()) for name in ("one", "two")]
    assert [r["alpha"] for r in sweeps[1]["rows"]] == [0.0, 0.5]
    assert {k: v for k, v in sweeps[1]["chosen"].items() if k != "seconds"} == {
        k: v for k, v in sweeps[0]["chosen"].items() if k != "seconds"}
    assert [(r["asr"], r["orr"]) for r in sweeps[1]["rows"]] == [(r["asr"], r["orr"]) for r in sweeps[0]["rows"]]
    assert (tmp_path / "two" / "table" / "table3.md").is_file()


def test_two_processes_compute_the_steering_vectors_and_sweep_of_one(tmp_path, tiny_workspace_factory):
    from safetensors.torch import load_file

    ws = tiny_workspace_factory(tmp_path)
    env = {**os.environ, "RRS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    args = ["steer", "--model", ws["ckpt"], "--pairs", ws["pairs"], "--k", "1", "--sweep", "0.5", "--samples", "2",
            "--max-new-tokens", "3", "--device", "cpu", "--dtype", "float32", "--precision", "fp32"]
    for name, launcher in (("one", [sys.executable]), ("two", ACCELERATE)):
        _rrs(launcher, [*args, "--out", str(tmp_path / name)], env)
    one, two = (load_file(tmp_path / name / "vectors.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys() and "d" in one
    for key in one:
        assert (two[key] - one[key]).abs().max() < 1e-5, key
    sweeps = [json.loads((tmp_path / name / "sweep.json").read_text()) for name in ("one", "two")]
    assert [(r["alpha"], r["asr"], r["orr"]) for r in sweeps[1]["rows"]] == [
        (r["alpha"], r["asr"], r["orr"]) for r in sweeps[0]["rows"]]
