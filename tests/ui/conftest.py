"""Fixtures of the dashboard page tests: temporary runs and cache folders, tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrs import runs as rrs_runs
from rrs.runs.recorded import RECORDED_ENV


@pytest.fixture(autouse=True)
def no_recorded_results(monkeypatch):
    """Pages show only the test's own runs; a test about the recorded results deletes this variable."""
    monkeypatch.setenv(RECORDED_ENV, "")


@pytest.fixture(scope="module")
def isolated_state(tmp_path_factory):
    """Speech, representation and run folders in a temporary place, shared by a module's tests."""
    root = tmp_path_factory.mktemp("dash")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RRS_CACHE", str(root / "cache"))
        mp.setenv(rrs_runs.RUNS_ROOT_ENV, str(root / "runs"))
        yield root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """Speech and representation caches shared by a module's tests (each test has its own runs root)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RRS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture()
def runs(tmp_path, monkeypatch) -> Path:
    """A fresh runs root for one test."""
    monkeypatch.setenv(rrs_runs.RUNS_ROOT_ENV, str(tmp_path / "runs"))
    return rrs_runs.runs_root()


@pytest.fixture()
def dirs(tmp_path, monkeypatch):
    """Fresh runs and cache folders for one test."""
    monkeypatch.setenv(rrs_runs.RUNS_ROOT_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_workspace_factory):
    """A saved tiny checkpoint, a pairs file and small harmful/benign eval sets."""
    return tiny_workspace_factory(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from rrs.testing import save_tiny, tiny_qwen2_audio

    return save_tiny(tiny_qwen2_audio(seed=2), tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")
