"""tools/paired_eval_diff.py: ASR/ORR changes between two evaluations of the same questions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tool_module import load_tool

ROOT = Path(__file__).resolve().parent.parent


def _records(folder: Path, refusals: dict[str, list[bool]]) -> Path:
    folder.mkdir(parents=True)
    lines = [{"type": "header", "model": "m", "generation": {}}]
    lines += [{"type": "item", "key": key, "label": key.split(":")[0], "refusals": flags}
              for key, flags in refusals.items()]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"type": "item", "key": "half'  # cut-off line
    (folder / "results.records.jsonl").write_text(text)
    return folder


def test_changes_are_paired_on_the_shared_questions(tmp_path):
    tool = load_tool("paired_eval_diff")
    base = _records(tmp_path / "vanilla", {"harmful:0": [False, False], "harmful:1": [False, False],
                                           "benign:0": [False, False], "benign:1": [False, False]})
    new = _records(tmp_path / "rrs", {"harmful:0": [True, True], "harmful:1": [False, False],
                                      "benign:0": [True, False], "benign:1": [False, False], "benign:9": [True]})
    row = tool.compare(tool.read_items(base), tool.read_items(new))
    assert row["questions"] == 4  # benign:9 has no baseline, the half-written line is skipped
    assert (row["asr_base"]["rate"], row["asr"]["rate"]) == (100.0, 50.0)
    assert row["asr_change"]["difference"] == -50.0 and row["orr_change"]["difference"] == 25.0

    out = subprocess.run([sys.executable, str(ROOT / "tools" / "paired_eval_diff.py"), str(base), str(new)],
                         capture_output=True, text=True, check=True).stdout
    assert "| -50.0 [" in out and "| +25.0 [" in out and "ASR 100.0" in out


def test_a_folder_without_records_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no evaluation records"):
        load_tool("paired_eval_diff").read_items(tmp_path)
