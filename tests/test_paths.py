"""rrs.paths: the cache root and folder names from user text."""

from __future__ import annotations

import pytest

from rrs.paths import cache_dir, safe_name


def test_safe_name():
    assert safe_name(" my run/1 ") == "my-run-1"
    with pytest.raises(ValueError):
        safe_name("../")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and cache_dir().is_dir()
