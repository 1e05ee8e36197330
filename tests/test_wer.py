"""rrs.evaluation.wer: corpus WER through jiwer equals a plain word-level Levenshtein count."""

from __future__ import annotations

import random

import pytest

from rrs.evaluation.wer import word_error_rate, words


def _levenshtein(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def _reference_wer(refs: list[str], hyps: list[str]) -> float:
    errors = sum(_levenshtein(words(r), words(h)) for r, h in zip(refs, hyps, strict=True))
    return errors / max(1, sum(len(words(r)) for r in refs))


def test_words_normalise_case_punctuation_and_apostrophes():
    assert words("Don\u2019t STOP, it's 5 o'clock!") == ["don't", "stop", "it's", "5", "o'clock"]


def test_known_values():
    assert word_error_rate(["the cat sat"], ["the cat sat"]) == 0.0
    assert word_error_rate(["the cat sat"], ["the dog sat down"]) == pytest.approx(2 / 3)
    assert word_error_rate(["a b c d"], [""]) == 1.0
    assert word_error_rate([""], ["extra words"]) == 2.0  # no reference words: max(1, 0) in the denominator
    assert word_error_rate([], []) == 0.0
    with pytest.raises(ValueError):
        word_error_rate(["a"], [])


def test_equals_plain_levenshtein_on_random_corpora():
    rng = random.Random(0)
    vocab = ["what", "is", "the", "weather", "like", "tomorrow", "how", "do", "I", "bake", "bread", "?"]
    for _ in range(200):
        n = rng.randint(1, 4)
        refs = [" ".join(rng.choices(vocab, k=rng.randint(0, 8))) for _ in range(n)]
        hyps = [" ".join(rng.choices(vocab, k=rng.randint(0, 8))) for _ in range(n)]
        assert word_error_rate(refs, hyps) == pytest.approx(_reference_wer(refs, hyps), abs=1e-12)
