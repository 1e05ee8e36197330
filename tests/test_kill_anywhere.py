"""Kill anywhere, lose nothing: each job kind is killed with SIGKILL at five seeded write points, one in each
fifth of the job's write points (so the start, the middle and the end are all hit), run again, and
must end with the same results as an uninterrupted run, with no torn JSON and no finished epoch or
evaluation item done twice.

The kill points are the project's own write points (``rrs.store``: after a temporary file is written but
before it replaces the real one, and half-way through an appended JSON line), reached in a child process
with ``RRS_FAULT_KILL_AT=N``; an uninterrupted run with ``RRS_FAULT_LOG`` first counts them. Children are
forked from a fork server that has imported the project but run nothing, so a job starts in milliseconds.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
POINTS = 5
CTX = mp.get_context("forkserver")
CTX.set_forkserver_preload(["rrs.cli"])


def _child(argv: list[str], env: dict[str, str]) -> None:
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from rrs.cli import main

    sys.exit(main(argv))


def run_job(argv: list[str], env: dict[str, str]) -> int:
    proc = CTX.Process(target=_child, args=(argv, env))
    proc.start()
    proc.join(600)
    return proc.exitcode


def write_points(argv: list[str], env: dict[str, str], log: Path) -> int:
    assert run_job(argv, {**env, "RRS_FAULT_LOG": str(log)}) == 0
    return len(log.read_text().splitlines())


def _jsonl(path: Path) -> list[dict]:
    """Complete lines only; a torn line (a killed append) is skipped, as the project's readers do."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    out = {}
    for path in sorted(folder.rglob("*.safetensors")):
        for key, value in load_file(str(path)).items():
            out[f"{path.relative_to(folder)}:{key}"] = value
    return out


def _drop(obj, keys=("seconds", "updated", "wall_s", "started")):
    if isinstance(obj, dict):
        return {k: _drop(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_drop(v, keys) for v in obj]
    return obj


def results_of(kind: str, folder: Path) -> dict:
    """What must be identical after a kill and a resume."""
    if kind == "train":
        return {"metrics": _jsonl(folder / "metrics.jsonl"), "tensors": _tensors(folder / "snapshots") | {
            k: v for k, v in _tensors(folder / "checkpoints").items() if "adapter_model" in k}}
    if kind == "eval":
        return _drop(json.loads((folder / "results.json").read_text()))
    if kind == "project":
        with np.load(folder.parent / "pca.npz") as data:
            return {"coords": data["coords"], "epochs": data["epochs"]}
    if kind == "steer":
        return {"steering": _drop(json.loads((folder / "steering.json").read_text())),
                "sweep": _drop(json.loads((folder / "sweep.json").read_text())), "vectors": _tensors(folder)}
    meta = _drop(json.loads((folder / "compare.json").read_text()))
    cells = {p.name: _drop(json.loads(p.read_text())) for p in sorted((folder / "cells").glob("*.json"))}
    return {"meta": meta, "cells": cells, "table": (folder / "table" / "table3.md").read_text()}


def assert_same(a, b, where="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def no_torn_json(folder: Path) -> None:
    for path in folder.rglob("*.json"):
        json.loads(path.read_text())  # every whole-file JSON parses: they are written atomically


def finished_work(kind: str, folder: Path) -> dict[str, int]:
    """Finished units and their files' modification times, to show they are not redone."""
    if kind == "train":
        return {str(p): p.stat().st_mtime_ns for p in folder.glob("checkpoints/*/adapter_model.safetensors")
                if (p.parent / "COMPLETE").is_file()}
    if kind == "eval":
        records = folder / "results.records.jsonl"
        return {r["key"]: 1 for r in _jsonl(records) if r.get("type") == "item"} if records.is_file() else {}
    if kind == "compare":
        return {str(p): p.stat().st_mtime_ns for p in folder.glob("cells/*.json")}
    return {}


def redone(kind: str, folder: Path, before: dict[str, int]) -> list[str]:
    if kind == "eval":
        keys = [r["key"] for r in _jsonl(folder / "results.records.jsonl") if r.get("type") == "item"]
        return [k for k in before if keys.count(k) != 1]
    return [p for p, mtime in before.items() if Path(p).stat().st_mtime_ns != mtime]


def kill_points(n_points: int, rng: random.Random) -> list[int]:
    """One write point drawn from each of ``POINTS`` equal slices of 1..n_points (all of them when fewer)."""
    if n_points <= POINTS:
        return list(range(1, n_points + 1))
    edges = [1 + n_points * i // POINTS for i in range(POINTS + 1)]
    return [rng.randrange(lo, hi) for lo, hi in zip(edges, edges[1:], strict=False)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_workspace_factory):
    base = tmp_path_factory.mktemp("kill")
    ws = tiny_workspace_factory(base)
    env = {"RRS_CACHE": str(base / "cache"), "RRS_RUNS": str(base / "runs"), "RRS_RECORDED": "",
           "OMP_NUM_THREADS": "1"}
    return base, ws, env


def jobs(ws: dict[str, str], base: Path) -> dict[str, tuple[list[str], list[str]]]:
    """(arguments without --out, extra arguments to resume) per job kind."""
    model = ["--model", ws["ckpt"], "--device", "cpu", "--dtype", "float32"]
    harmful = base / "harmful6.csv"  # six windows of one item: enough write points for the kills
    harmful.write_text("prompt,category\n" + "".join(f"How do I break lock number {i}?,crime\n" for i in range(6)))
    compare_cfg = base / "compare.json"
    compare_cfg.write_text(json.dumps({
        "model": ws["ckpt"], "device": "cpu", "dtype": "float32", "methods": ["vanilla", "rrs", "sarsteer"],
        "modalities": ["text-only"], "harmful": ws["harmful"], "benign": ws["benign"], "limit": 2, "samples": 1,
        "max_new_tokens": 3, "pairs": ws["pairs"], "steer_pairs": 3, "steer_k": 1, "sweep_alphas": [0.5],
        "sweep_limit": 2, "train_overrides": {"epochs": 1, "batch_size": 2, "probe_per_label": 1, "lora_r": 2,
                                              "lora_alpha": 4, "val_fraction": 0.5, "lora_layers": None}}))
    return {
        "train": (["train", *model, "--pairs", ws["pairs"], "--epochs", "3", "--batch-size", "2", "--grad-accum",
                   "1", "--lora-r", "2", "--lora-alpha", "4", "--probe-per-label", "2"], ["--resume"]),
        "eval": (["eval", *model, "--harmful", str(harmful), "--benign", ws["benign"], "--samples", "2",
                  "--max-new-tokens", "3", "--batch-size", "1"], []),
        "steer": (["steer", *model, "--pairs", ws["pairs"], "--n-pairs", "3", "--k", "1", "--sweep", "0.5,1.0",
                   "--sweep-limit", "2", "--max-new-tokens", "3"], []),
        "compare": (["compare", "--config", str(compare_cfg)], []),
    }


@pytest.mark.parametrize("kind", ["train", "eval", "project", "steer", "compare"])
def test_killed_anywhere_and_resumed_equals_uninterrupted(kind, workspace, tmp_path):
    base, ws, env = workspace
    if kind == "project":  # a map of a finished training run
        argv_train, _ = jobs(ws, base)["train"]
        run = tmp_path / "run"
        assert run_job([*argv_train, "--out", str(run)], env) == 0

        def fresh(name: str) -> Path:
            copy = tmp_path / name
            shutil.copytree(run, copy)
            return copy / "projections" / "pca"

        argv, resume = ["project", "--method", "pca"], []

        def full(out: Path) -> list[str]:
            return [*argv, "--run", str(out.parent.parent), "--out", str(out)]
    else:
        argv, resume = jobs(ws, base)[kind]

        def fresh(name: str) -> Path:
            return tmp_path / name

        def full(out: Path) -> list[str]:
            return [*argv, "--out", str(out)]

    reference = fresh("reference")
    n_points = write_points(full(reference), env, tmp_path / "points.log")
    expected = results_of(kind, reference)
    points = kill_points(n_points, random.Random(f"kill-{kind}"))
    for point in points:
        out = fresh(f"killed-{point}")
        code = run_job(full(out), {**env, "RRS_FAULT_KILL_AT": str(point)})
        assert code == -signal.SIGKILL, f"write point {point} of {n_points} was not reached (exit {code})"
        before = finished_work(kind, out)
        assert run_job([*full(out), *resume], env) == 0, f"resume after a kill at write point {point} failed"
        no_torn_json(out if kind != "project" else out.parent.parent)
        assert_same(results_of(kind, out), expected, f"{kind} killed at write point {point}")
        assert not redone(kind, out, before), f"{kind}: finished work was redone after a kill at point {point}"
    print(f"{kind}: {len(points)} kill points of {n_points} write points, all equal")
