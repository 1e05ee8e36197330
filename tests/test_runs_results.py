"""rrs.runs.results: finished evaluations under the evals folder, newest first, grouped for Table 3."""

from __future__ import annotations

import json
import os

from rrs.evaluation.metrics import EvalResult
from rrs.runs.results import evals_root, group_results, list_eval_jobs, list_results, read_entry


def _result(path, method, modality="text-only", age=0.0):
    result = EvalResult(asr=10.0, orr=5.0, n_harmful=2, n_benign=1, judge="keyword", modality=modality, samples=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result.to_dict(), "method": method}))
    os.utime(path, (path.stat().st_atime - age, path.stat().st_mtime - age))
    return path


def test_results_are_listed_newest_first_and_grouped(tmp_path):
    root = evals_root(tmp_path / "evals")
    _result(root / "vanilla-job" / "results.json", "vanilla", age=10)
    _result(root / "rrs.json", "rrs", age=5)
    _result(root / "vanilla-old.json", "vanilla", age=100)
    (root / "notes.json").write_text("[]")
    entries = list_results(root)
    assert [e.name for e in entries] == ["rrs", "vanilla-job", "vanilla-old"]
    assert entries[1].label() == "vanilla · text-only (vanilla-job)" and read_entry(root / "notes.json") is None
    grouped, skipped = group_results(entries)
    assert list(grouped) == ["vanilla", "rrs"] and [e.name for e in skipped] == ["vanilla-old"]
    assert grouped["rrs"]["text-only"].asr == 10.0
    (root / "vanilla-job" / "job.json").write_text(json.dumps({"started": 1.0, "kind": "eval"}))
    assert list_eval_jobs(root) == [root / "vanilla-job"]
