"""The built-in training sets: the RRS paper's Mirror, Parallel and Basic sets (§5.1), read from the
vendored ``data/reference/rrs-mirror`` files, and SARSteer's FigStep and AdvBench harmful/safe pairs.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from functools import cache
from typing import Literal

from rrs.data.prompts import REFUSAL_TEMPLATES
from rrs.data.types import BasicItem, DataError, Item, Pair, flatten, normalise
from rrs.paths import PROJECT_ROOT

__all__ = ["MIRROR_DIR", "SARSTEER_DIR", "basic_items", "mirror_pairs", "parallel_pairs", "sarsteer_pairs"]

MIRROR_DIR = PROJECT_ROOT / "data" / "reference" / "rrs-mirror"
SARSTEER_DIR = PROJECT_ROOT / "data" / "reference" / "sarsteer" / "dataset"


@cache
def _mirror() -> tuple[Pair, ...]:
    harmful = json.loads((MIRROR_DIR / "harmful.json").read_text(encoding="utf-8"))
    benign = json.loads((MIRROR_DIR / "benign.json").read_text(encoding="utf-8"))
    if len(harmful) != len(benign):
        raise DataError(f"Mirror files differ in length: {len(harmful)} harmful vs {len(benign)} benign")
    seen_harmful: set[str] = set()
    seen_benign: set[str] = set()
    pairs: list[Pair] = []
    for index, (h, b) in enumerate(zip(harmful, benign, strict=True)):
        if h["category"] != b["category"]:
            raise DataError(f"Mirror entry {index}: categories differ ({h['category']} vs {b['category']})")
        key_h, key_b = normalise(h["prompt"]), normalise(b["prompt"])
        if key_h in seen_harmful or key_b in seen_benign:
            continue
        seen_harmful.add(key_h)
        seen_benign.add(key_b)
        category = h["category"]
        pairs.append(
            Pair(
                Item(h["prompt"].strip(), "harmful", category, source="rrs-mirror"),
                Item(b["prompt"].strip(), "benign", category, source="rrs-mirror"),
                category,
            )
        )
    return tuple(pairs)


def mirror_pairs() -> list[Pair]:
    """The RRS Mirror set: harmful questions with their minimally edited benign twins, de-duplicated.

    The vendored files hold 700 index-aligned pairs (14 BeaverTails categories x 50). Walking them in
    order, a pair is dropped when its harmful prompt (compared by :func:`normalise`) equals that of an
    earlier kept pair, or its benign prompt equals an earlier kept benign prompt. That leaves **598
    pairs** (600 distinct harmful prompts, two of whose twins repeat an earlier twin), between 30
    (child_abuse) and 49 per category. No kept benign prompt equals a kept harmful prompt.
    """
    return list(_mirror())


def _conflict(harmful: Pair, benign: Item, twin: Item, strict_category: bool) -> bool:
    if benign.uid == twin.uid:
        return True
    return strict_category and benign.category == harmful.category


def parallel_pairs(seed: int = 0, pairs: Sequence[Pair] | None = None) -> list[Pair]:
    """The Parallel set: each harmful question of ``pairs`` (default Mirror) with an unrelated benign one.

    The benign questions are the same pool (the twins), permuted with ``seed`` so that no harmful question
    meets its own twin and, whenever the category sizes allow it, the benign question comes from a
    different category. The pair's ``category`` stays the harmful question's. Deterministic per seed.
    """
    pairs = list(mirror_pairs() if pairs is None else pairs)
    n = len(pairs)
    if n < 2:
        raise DataError("Parallel needs at least two pairs to re-pair")
    twins = [p.benign for p in pairs]
    rng = random.Random(f"rrs-parallel\x00{int(seed)}")
    largest = max(sum(1 for p in pairs if p.category == c) for c in {p.category for p in pairs})
    strict = 2 * largest <= n  # a cross-category assignment always exists then
    perm = list(range(n))
    rng.shuffle(perm)

    def bad(i: int) -> bool:
        return _conflict(pairs[i], twins[perm[i]], twins[i], strict)

    for _ in range(50):
        conflicts = [i for i in range(n) if bad(i)]
        if not conflicts:
            break
        for i in conflicts:
            if not bad(i):
                continue
            order = list(range(n))
            rng.shuffle(order)
            for j in order:
                if j == i:
                    continue
                perm[i], perm[j] = perm[j], perm[i]
                if not bad(i) and not bad(j):
                    break
                perm[i], perm[j] = perm[j], perm[i]
    if any(bad(i) for i in range(n)):  # pragma: no cover - only for pathological inputs
        raise DataError("could not re-pair the benign questions without reusing a twin")
    return [Pair(p.harmful, twins[perm[i]], p.category) for i, p in enumerate(pairs)]


def _pick(options: Sequence[str], seed: int, key: str) -> str:
    digest = hashlib.sha256(f"rrs-basic\x00{int(seed)}\x00{key}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def basic_items(seed: int = 0, pairs: Sequence[Pair] | None = None) -> list[BasicItem]:
    """The Basic set for SFT-full: every question of ``pairs`` (default Mirror) with its target response.

    Harmful questions get a refusal from :data:`REFUSAL_TEMPLATES`, drawn reproducibly per question from
    ``(seed, uid)``. Benign questions get ``response=None``: the paper samples BeaverTails' safe
    question-response pairs, whose responses are not shipped offline, so the trainer uses the vanilla
    model's own answer to the benign question as its target (self-distillation). Order: harmful then
    benign, pair by pair (2 x 598 = 1,196 items for Mirror; the paper used 1,400).
    """
    out: list[BasicItem] = []
    for item in flatten(mirror_pairs() if pairs is None else pairs):
        response = _pick(REFUSAL_TEMPLATES, seed, item.uid) if item.label == "harmful" else None
        out.append(BasicItem(item, response))
    return out


_SAFE_ARTEFACT = re.compile(r"^\s*#+\s*safe question\s*:\s*", re.IGNORECASE)


def _clean_safe(text: str) -> str:
    return _SAFE_ARTEFACT.sub("", text).strip()


def sarsteer_pairs(name: Literal["figstep", "advbench"], split: str | None = None) -> list[Pair]:
    """SARSteer's harmful/safe question pairs, index-aligned as shipped.

    ``figstep``: split ``"train"`` (100), ``"test"`` (250) or ``"all"``/``None`` (350); the category is
    the FigStep scenario. ``advbench``: all 520 (split ``None`` or ``"all"``), category ``"advbench"``.
    Leading spaces and the ``### Safe Question:`` artefact are removed from the safe questions.
    """
    if name == "figstep":
        splits = {"train": ["train_100"], "test": ["test_250"], "all": ["train_100", "test_250"]}
        if (split or "all") not in splits:
            raise ValueError(f"figstep split must be 'train', 'test' or 'all', got {split!r}")
        folder = SARSTEER_DIR / "figstep"
        rows: list[tuple[str, str, str]] = []
        for stem in splits[split or "all"]:
            harmful = json.loads((folder / "figstep_audio" / f"{stem}.json").read_text(encoding="utf-8"))
            safe = json.loads((folder / "figstep_audio_safe" / f"{stem}.json").read_text(encoding="utf-8"))
            rows += [
                (h["question"], s["question"], h["scenario"]) for h, s in zip(harmful, safe, strict=True)
            ]
    elif name == "advbench":
        if split not in (None, "all"):
            raise ValueError(f"advbench has no {split!r} split; use split=None for all 520 pairs")
        folder = SARSTEER_DIR / "advbench"
        harmful = json.loads((folder / "advbench_audio.json").read_text(encoding="utf-8"))
        safe = json.loads((folder / "advbench_audio_safe.json").read_text(encoding="utf-8"))
        rows = [(h["question"], s["question"], "advbench") for h, s in zip(harmful, safe, strict=True)]
    else:
        raise ValueError(f"unknown SARSteer set {name!r}; choose 'figstep' or 'advbench'")
    source = f"sarsteer-{name}"
    return [
        Pair(
            Item(h.strip(), "harmful", category, source=source),
            Item(_clean_safe(s), "benign", category, source=source),
            category,
        )
        for h, s, category in rows
    ]
