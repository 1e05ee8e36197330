"""Where the project keeps its on-disk state."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The cache root: ``$RRS_CACHE`` if set, else ``<project>/cache``. Created on first use."""
    root = Path(os.environ.get("RRS_CACHE", PROJECT_ROOT / "cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def safe_name(name: str) -> str:
    """A folder name from user text (letters, digits, ``.``, ``_``, ``-``); ``ValueError`` if none is left."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-")
    if not cleaned:
        raise ValueError("give a name with at least one letter or digit")
    return cleaned[:100]
