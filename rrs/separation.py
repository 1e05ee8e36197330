"""How well harmful and benign representations separate: one number per epoch for the Tune page.

Two scores on the full-width last hidden states (the vectors ``lm_head`` reads), harmful label 1:

* ``probe_accuracy``: 5-fold stratified cross-validated accuracy of an L2-regularised logistic
  regression on standardised states. 0.5 = the states carry no harmful/benign signal a linear read-out
  can use; 1.0 = perfectly linearly separable on held-out folds.
* ``silhouette``: the mean silhouette coefficient of the two classes under cosine distance, in [-1, 1].
  It rises when harmful and benign form two compact clusters, which is what the map shows.

The probe accuracy is the headline ("separation score" in the docs and the dashboard): it is
comparable across models of different widths and has a plain meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def separation_scores(states: Any, labels: Sequence[str], folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """``{"probe_accuracy", "silhouette", "n_harmful", "n_benign"}`` for ``states`` (n, d)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(states.float().cpu() if hasattr(states, "float") else states, dtype=np.float64)
    y = np.asarray([1 if label == "harmful" else 0 for label in labels])
    n_h, n_b = int(y.sum()), int((1 - y).sum())
    out: dict[str, Any] = {"probe_accuracy": None, "silhouette": None, "n_harmful": n_h, "n_benign": n_b}
    if min(n_h, n_b) < 2:
        return out
    k = min(folds, n_h, n_b)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    out["probe_accuracy"] = round(float(cross_val_score(probe, x, y, cv=split).mean()), 4)
    out["silhouette"] = round(float(silhouette_score(x, y, metric="cosine")), 4)
    return out
