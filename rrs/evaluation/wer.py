"""Word error rate, for checking that speech got through (repeat tasks, transcribers). Alignment by jiwer."""

from __future__ import annotations

import re
from collections.abc import Sequence

import jiwer


def words(text: str) -> list[str]:
    """Lower-case words with punctuation removed (apostrophes kept inside words)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER over :func:`words`: total word edits (substitutions, deletions, insertions) over total
    reference words. A reference with no words counts each hypothesis word as an insertion."""
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in length")
    refs = [words(r) for r in references]
    hyps = [words(h) for h in hypotheses]
    errors = sum(len(h) for r, h in zip(refs, hyps, strict=True) if not r)
    aligned = [(" ".join(r), " ".join(h)) for r, h in zip(refs, hyps, strict=True) if r]
    if aligned:
        out = jiwer.process_words([r for r, _ in aligned], [h for _, h in aligned])
        errors += out.substitutions + out.deletions + out.insertions
    return errors / max(1, sum(len(r) for r in refs))
