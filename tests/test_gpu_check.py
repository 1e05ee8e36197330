"""``bench/gpu_check.py`` runs end to end on CPU at reduced shapes and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_tiny_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    args = ["--tiny", "--device", "cpu", "--batches", "1,2", "--train-batch", "2", "--gen-batch", "2",
            "--new-tokens", "4", "--repeats", "1", "--steps", "1", "--audio-seconds", "1", "--out", str(out)]
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "steering at alpha = 0" in run.stdout
    result = json.loads(out.read_text())
    assert result["dtype"] == "fp32" and result["device"] == "cpu"
    assert result["invariants"]["alpha0_identical_tokens"] is True
    assert result["invariants"]["alpha0_max_logit_diff"] == 0.0 and result["invariants"]["first_token_argmax_same"]
    assert result["invariants"]["lm_head_vs_generate_max_abs_diff"] < 1e-4
    extraction = result["extraction"]
    assert [row["batch"] for row in extraction["rows"]] == [1, 2] and extraction["best"]["samples_per_s"] > 0
    step = result["rrs_step"]
    assert step["checkpointing"] and step["seconds"] > 0 and step["trainable"] > 0
    assert step["planned_peak_bytes"] > 0 and step["projected_run_s"] > 0
    assert result["generation"]["tokens_per_s"] > 0 and result["generation"]["hooked_layers"] == 2
