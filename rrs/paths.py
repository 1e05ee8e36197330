"""Where the project keeps its on-disk state."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache root: ``$RRS_CACHE`` if set, else ``<project>/cache``. Created on first use."""
    root = Path(os.environ.get("RRS_CACHE", PROJECT_ROOT / "cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root
