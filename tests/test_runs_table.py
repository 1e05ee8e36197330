"""tools/runs_table.py: runs side by side, with the settings that differ and last-epoch rates with intervals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(folder: Path, config: dict, epochs: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text("".join(json.dumps({"type": "epoch", **e}) + "\n" for e in epochs))
    return folder


def test_the_table_names_what_differs_and_shows_the_last_epoch_with_intervals(tmp_path):
    sep = {"probe_accuracy": 0.73, "silhouette": 0.21, "n_harmful": 100, "n_benign": 100}
    gen = {"asr": 31.25, "asr_ci": [17.9, 48.6], "orr": 15.6, "orr_ci": [6.9, 31.8]}
    a = _run(tmp_path / "a", {"top_percent": 25.0, "lr": 3e-4},
             [{"epoch": 0, "harmful_refusal": 7.0, "benign_refusal": 0.0, "separation": sep},
              {"epoch": 4, "harmful_refusal": 64.0, "benign_refusal": 5.0, "separation": sep, "generation": gen}])
    b = _run(tmp_path / "b", {"top_percent": 12.5, "lr": 3e-4},
             [{"epoch": 0, "harmful_refusal": 7.0, "benign_refusal": 0.0, "separation": sep}])
    empty = _run(tmp_path / "c", {"top_percent": 51.0, "lr": 3e-4}, [])
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "runs_table.py"), str(a), str(b), str(empty)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 5
    assert "(reference)" in out[2] and "| 64 [54, 73] | 5 [2, 11] | 31 [18, 49] | 16 [7, 32] | 0.21 | 73.0 |" in out[2]
    assert "top_percent=12.5" in out[3] and "| 0 [0, 4] | – | – |" in out[3]  # no generation probe: no ASR/ORR
    assert "no finished epoch" in out[4]
