"""95% intervals for the rates and detector scores the project reports.

* ``rate_interval``: a refusal / attack-success rate in percent with its n and a percentile-bootstrap
  interval (Wilson's where every outcome is the same, where the bootstrap collapses to a point);
* ``auroc_interval``: the AUROC of a score that should be higher for harmful than for benign inputs,
  with a stratified percentile-bootstrap interval.

Seeded, so a report is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

N_BOOTSTRAP = 2000


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as fractions."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_interval(outcomes: Sequence[bool], seed: int = 0, n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """``{"rate", "n", "ci"}``: the percentage of true outcomes and its 95% interval (percent)."""
    values = np.asarray(outcomes, dtype=float)
    n = int(values.size)
    if n == 0:
        return {"rate": None, "n": 0, "ci": None}
    rate = float(values.mean())
    if rate in (0.0, 1.0):
        low, high = wilson(int(values.sum()), n)
    else:
        rng = np.random.default_rng(seed)
        means = values[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
    return {"rate": round(100 * rate, 1), "n": n, "ci": [round(100 * float(low), 1), round(100 * float(high), 1)]}


def clustered_rate_interval(groups: Sequence[Sequence[bool]], seed: int = 0,
                            n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Like :func:`rate_interval` for outcomes that come in groups (the sampled answers of one query): the
    bootstrap resamples whole groups, so answers to the same query, which are correlated, do not count as
    independent. ``n`` is the number of outcomes; ``groups`` the number of groups."""
    groups = [list(g) for g in groups if len(g)]
    n = sum(len(g) for g in groups)
    if n == 0:
        return {"rate": None, "n": 0, "groups": 0, "ci": None}
    hits = np.array([sum(g) for g in groups], dtype=float)
    sizes = np.array([len(g) for g in groups], dtype=float)
    rate = float(hits.sum() / sizes.sum())
    if rate in (0.0, 1.0):
        low, high = wilson(int(hits.sum()), n)
    else:
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(groups), size=(n_boot, len(groups)))
        means = hits[pick].sum(axis=1) / sizes[pick].sum(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
    return {"rate": round(100 * rate, 1), "n": n, "groups": len(groups),
            "ci": [round(100 * float(low), 1), round(100 * float(high), 1)]}


def auroc(harmful: Sequence[float], benign: Sequence[float]) -> float:
    """P(score of a harmful input > score of a benign one), ties counting one half."""
    h = np.asarray(harmful, dtype=float)[:, None]
    b = np.asarray(benign, dtype=float)[None, :]
    return float(((h > b).sum() + 0.5 * (h == b).sum()) / (h.size * b.size))


def auroc_interval(harmful: Sequence[float], benign: Sequence[float], seed: int = 0,
                   n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """``{"auroc", "n_harmful", "n_benign", "ci"}`` with a stratified bootstrap 95% interval."""
    h, b = np.asarray(harmful, dtype=float), np.asarray(benign, dtype=float)
    if not h.size or not b.size:
        return {"auroc": None, "n_harmful": int(h.size), "n_benign": int(b.size), "ci": None}
    rng = np.random.default_rng(seed)
    boots = [auroc(h[rng.integers(0, h.size, h.size)], b[rng.integers(0, b.size, b.size)]) for _ in range(n_boot)]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"auroc": round(auroc(h, b), 3), "n_harmful": int(h.size), "n_benign": int(b.size),
            "ci": [round(float(low), 3), round(float(high), 3)]}


def paired_rate_difference(before: Sequence[Sequence[bool]], after: Sequence[Sequence[bool]], seed: int = 0,
                           n_boot: int = N_BOOTSTRAP) -> dict[str, Any]:
    """The change in a rate between two evaluations of the SAME queries, in points, with a 95% interval.

    ``before[i]`` and ``after[i]`` are query i's outcomes (its sampled answers) in each evaluation. The
    bootstrap resamples queries and keeps each query's two groups together, so the interval reflects that
    both evaluations share their questions (narrower than two independent intervals would suggest).
    """
    if len(before) != len(after):
        raise ValueError(f"paired rates need the same queries: {len(before)} against {len(after)}")
    pairs = [(list(b), list(a)) for b, a in zip(before, after, strict=True) if len(b) and len(a)]
    if not pairs:
        return {"difference": None, "queries": 0, "ci": None}
    hits = np.array([[sum(b), sum(a)] for b, a in pairs], dtype=float)
    sizes = np.array([[len(b), len(a)] for b, a in pairs], dtype=float)

    def diff(h: np.ndarray, s: np.ndarray) -> np.ndarray:
        return 100 * (h[..., 1].sum(-1) / s[..., 1].sum(-1) - h[..., 0].sum(-1) / s[..., 0].sum(-1))

    point = float(diff(hits, sizes))
    pick = np.random.default_rng(seed).integers(0, len(pairs), size=(n_boot, len(pairs)))
    low, high = np.percentile(diff(hits[pick], sizes[pick]), [2.5, 97.5])
    return {"difference": round(point, 1), "queries": len(pairs), "ci": [round(float(low), 1), round(float(high), 1)]}
