"""The per-epoch generation probe: the paper's ASR and ORR measured on a small, fixed sample while a run trains.

The first-token curves say how the "I"-logit moves; this probe says what the model actually answers. It takes
``gen_probe_per_label`` harmful probe items, stratified by category, and their benign twins; answers each
``gen_probe_samples`` times by sampling (temperature 0.7, top-p 0.9, ``gen_probe_tokens`` new tokens, enough
for the keyword judge, which looks for refusal phrases at the start of an answer); and judges them by
keywords. Every epoch samples with the same seed, so that a change between epochs is the model's and not the
sampler's. Rates carry their n (responses) and a 95% Wilson interval; answers of one item are correlated, so
the interval is, if anything, too narrow, and the item count is recorded beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rrs.data.splits import stratified_take
from rrs.evaluation.intervals import wilson
from rrs.evaluation.judges import KeywordJudge
from rrs.models.base import GenerationSettings

__all__ = ["generation_probe", "probe_indices"]

WINDOW = 16  # queries generated together by default


def probe_indices(probe_items: Sequence[Any], per_label: int) -> list[int]:
    """Indices (into the harmful half of the probe) of a category-stratified sample of ``per_label`` items."""
    harmful = [it for it in probe_items if it.label == "harmful"]
    indexed = [_Indexed(i, it.category) for i, it in enumerate(harmful)]
    return [x.index for x in stratified_take(indexed, per_label)]


class _Indexed:
    def __init__(self, index: int, category: str) -> None:
        self.index, self.category = index, category


def _percent_with_interval(hits: int, n: int) -> tuple[float, list[float]]:
    low, high = wilson(hits, n)
    return round(100.0 * hits / n, 2), [round(100.0 * low, 2), round(100.0 * high, 2)]


def generation_probe(model: Any, cfg: Any, probe: Sequence[Any], probe_items: Sequence[Any], *,
                     window: int = WINDOW) -> dict[str, Any]:
    """ASR (harmful answers not refused) and ORR (benign answers refused) of the model as it is now.

    ``probe`` holds the queries (harmful half, then the benign twins in the same order), ``probe_items``
    their items; ``cfg`` is the run's ``TuneConfig``; ``window`` queries share one ``generate`` call (each
    window samples with its own seed, so a run keeps one window size)."""
    n_pairs = len(probe) // 2
    chosen = probe_indices(probe_items, cfg.gen_probe_per_label)
    queries = [probe[i] for i in chosen] + [probe[n_pairs + i] for i in chosen]
    answers: list[list[str]] = []
    for start in range(0, len(queries), window):
        settings = GenerationSettings(max_new_tokens=cfg.gen_probe_tokens, do_sample=True, temperature=0.7,
                                      top_p=0.9, num_return_sequences=cfg.gen_probe_samples,
                                      seed=cfg.seed * 7919 + start)
        answers.extend(model.generate(queries[start : start + window], cfg.modality, None, settings))
    judge = KeywordJudge()
    refused = [[judge.is_refusal(a) for a in item] for item in answers]
    harmful, benign = refused[: len(chosen)], refused[len(chosen) :]
    n_h = sum(len(r) for r in harmful)
    n_b = sum(len(r) for r in benign)
    asr, asr_ci = _percent_with_interval(sum(not x for r in harmful for x in r), n_h)
    orr, orr_ci = _percent_with_interval(sum(x for r in benign for x in r), n_b)
    return {"asr": asr, "asr_ci": asr_ci, "orr": orr, "orr_ci": orr_ci, "n_harmful": n_h, "n_benign": n_b,
            "items_per_label": len(chosen), "samples": cfg.gen_probe_samples, "tokens": cfg.gen_probe_tokens,
            "judge": judge.name}
