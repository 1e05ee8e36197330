"""The bad-input corpus (tests/bad_inputs.py) through every entry point: the Python API, the CLI and the
dashboard. Refused inputs get a message naming the problem (the CLI: exit 2, no traceback, nothing written
outside the job's folder); odd but valid inputs are accepted. docs/RELIABILITY.md shows the table."""

from __future__ import annotations

import pytest
from bad_inputs import CASES, check_api, check_cli, check_dashboard

IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory):
    from rrs.testing import save_tiny, tiny_qwen2_audio

    base = tmp_path_factory.mktemp("bad")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RRS_CACHE", str(base / "cache"))
        mp.setenv("RRS_RUNS", str(base / "runs"))
        mp.setenv("RRS_RECORDED", "")
        benign = base / "benign.csv"
        benign.write_text("prompt\nHow do I bake bread?\n")
        yield str(save_tiny(tiny_qwen2_audio(seed=2), base / "tiny")), str(benign)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_python_api(case, tmp_path, tiny_env):
    outcome = check_api(case, tmp_path)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("case", [c for c in CASES if c.kind != "run name"], ids=[c.name for c in CASES if c.kind != "run name"])
def test_cli(case, tmp_path, tiny_env):
    outcome = check_cli(case, tmp_path, *tiny_env)
    assert outcome.passed, outcome.detail


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dashboard(case, tmp_path, tiny_env, monkeypatch):
    monkeypatch.setenv("RRS_RUNS", str(tmp_path / "runs"))
    outcome = check_dashboard(case, tmp_path)
    assert outcome.passed, outcome.detail
