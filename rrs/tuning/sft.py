"""The SFT baselines of the RRS paper (§5.1, Appendix E): the questions and targets each variant learns
(their losses are the objectives in :mod:`rrs.tuning.objectives`).

==========================  ================  ==============================================================
method                      data              what is learnt (loss on the target tokens only)
==========================  ================  ==============================================================
``sft-full``                Basic             harmful → a full refusal; benign → a full helpful answer
``sft-shallow-mirror``      Mirror            first token only: harmful → "I"; benign → the vanilla model's
                                              own first token (its "benign prefix")
``sft-shallow-parallel``    Parallel          as shallow-mirror, each harmful question paired with an
                                              unrelated benign one instead of its twin
``sft-deep``                Mirror            harmful → refusal after a prefill of 0–10 tokens of a harmful
                                              answer (Qi et al. 2025); benign → standard SFT on an answer
==========================  ================  ==============================================================

What has to be generated offline comes from the ORIGINAL model, once per run, and is saved in the run
directory (``sft_targets.json``) so that a resumed run learns the same targets:

- helpful answers to the benign questions (sft-full, sft-deep): the vanilla model's own greedy answer to the
  question as text (self-distillation; BeaverTails' safe responses do not ship offline);
- the harmful answers whose first tokens are prefilled (sft-deep): the vanilla model's greedy answer to the
  harmful question as text;
- the benign prefix token (shallow): the vanilla model's most likely first token for the benign input.

For every generated target, refusal openers ("I", "As", "Sorry") are suppressed at the first step, and the
benign prefix is the most likely token that is not a refusal opener. The paper's vanilla models rarely
refuse benign questions, so it did not need this; the embedded model refuses about half of the benign
twins, and copying its refusals would teach refusal of benign speech, the opposite of the baseline's aim.
Refusal targets are drawn from :data:`rrs.data.REFUSAL_TEMPLATES` per question, reproducibly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rrs.data.builtin import basic_items, parallel_pairs
from rrs.data.prompts import EXTRACTION_PROMPT
from rrs.data.queries import to_queries
from rrs.data.types import Pair, flatten
from rrs.features import refusal_opener_ids
from rrs.models.base import Query

SFT_METHODS = ("sft-full", "sft-shallow-mirror", "sft-shallow-parallel", "sft-deep")
#: Longest harmful-answer prefill of sft-deep, in tokens (the paper's range is 0 to 10).
DEEP_PREFILL_MAX = 10
#: New tokens of a self-distilled answer.
ANSWER_TOKENS = 48


@dataclass(frozen=True)
class SFTTarget:
    """What one training question is tuned towards (JSON-serialisable through ``__dict__``)."""

    uid: str
    label: str
    #: Full target text (sft-full, sft-deep), learnt after the prompt and any prefill.
    answer: str | None = None
    #: Target first-token id (shallow variants).
    token_id: int | None = None
    #: sft-deep, harmful questions: the answer whose first 0..DEEP_PREFILL_MAX tokens are prefilled.
    harmful_answer: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SFTTarget:
        return cls(**data)


def training_items(method: str, pairs: Sequence[Any], seed: int) -> list[Any]:
    """The questions each variant trains on, harmful then benign pair by pair (Mirror, Parallel or Basic)."""
    if method not in SFT_METHODS:
        raise ValueError(f"unknown SFT method {method!r}; choose from {', '.join(SFT_METHODS)}")
    if method == "sft-shallow-parallel":
        pairs = parallel_pairs(seed, pairs)
    return flatten(pairs)


def build_targets(
    method: str,
    model: Any,
    items: Sequence[Any],
    modality: str,
    seed: int,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> list[SFTTarget]:
    """Targets for ``items`` (as :func:`training_items` returns them), computed with the original model."""
    openers = refusal_opener_ids(model.tokenizer)
    refusals = {b.item.uid: b.response for b in basic_items(seed, _as_pairs(items)) if b.response}
    harmful = [it for it in items if it.label == "harmful"]
    benign = [it for it in items if it.label == "benign"]
    if method.startswith("sft-shallow"):
        firsts = benign_prefix_tokens(model, benign, modality, openers, seed, batch_size)
        out = {it.uid: SFTTarget(it.uid, "harmful", token_id=model.refusal_token_id) for it in harmful}
        out.update({it.uid: SFTTarget(it.uid, "benign", token_id=t) for it, t in zip(benign, firsts, strict=True)})
        return [out[it.uid] for it in items]
    answers = greedy_text_answers(model, benign, openers, batch_size, progress)
    out = {it.uid: SFTTarget(it.uid, "benign", answer=a) for it, a in zip(benign, answers, strict=True)}
    prefills = greedy_text_answers(model, harmful, openers, batch_size, progress) if method == "sft-deep" else None
    for i, it in enumerate(harmful):
        out[it.uid] = SFTTarget(it.uid, "harmful", answer=refusals[it.uid],
                                harmful_answer=prefills[i] if prefills else None)
    return [out[it.uid] for it in items]


def _as_pairs(items: Sequence[Any]) -> list[Any]:
    harmful = [it for it in items if it.label == "harmful"]
    benign = [it for it in items if it.label == "benign"]
    return [Pair(h, b, h.category) for h, b in zip(harmful, benign, strict=True)]


def benign_prefix_tokens(
    model: Any, items: Sequence[Any], modality: str, openers: Sequence[int], seed: int, batch_size: int = 8
) -> list[int]:
    """Per benign item, the vanilla model's most likely first response token that is not a refusal opener."""
    import torch

    queries = to_queries(items, seed, with_audio=modality != "text-only", progress=False)
    out: list[int] = []
    for start in range(0, len(queries), batch_size):
        logits = model.first_token_logits(queries[start : start + batch_size], modality, EXTRACTION_PROMPT)
        logits[:, list(openers)] = -torch.inf
        out += [int(i) for i in logits.argmax(-1)]
    return out


def greedy_text_answers(
    model: Any,
    items: Sequence[Any],
    openers: Sequence[int],
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    max_new_tokens: int = ANSWER_TOKENS,
) -> list[str]:
    """The model's greedy answers to the questions as text, with refusal openers barred as first token."""
    import torch

    answers: list[str] = []
    for start in range(0, len(items), batch_size):
        batch = [Query(it.prompt) for it in items[start : start + batch_size]]
        inputs = model.build_inputs(batch, "text-only", None)
        with torch.no_grad():
            new = model.generate_from_inputs(
                inputs, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                top_k=None, begin_suppress_tokens=list(openers), pad_token_id=model.pad_token_id)
        answers += [t.strip() for t in model.tokenizer.batch_decode(new, skip_special_tokens=True)]
        if progress:
            progress(len(answers), len(items))
    return answers


def deep_prefill(model: Any, target: SFTTarget, rng: random.Random) -> str:
    """The first k ∈ [0, DEEP_PREFILL_MAX] tokens of the harmful answer (k drawn from ``rng``)."""
    if not target.harmful_answer:
        return ""
    ids = model.tokenizer(target.harmful_answer, add_special_tokens=False)["input_ids"]
    k = rng.randint(0, min(DEEP_PREFILL_MAX, len(ids)))
    return model.tokenizer.decode(ids[:k]) if k else ""


__all__ = ["DEEP_PREFILL_MAX", "SFT_METHODS", "SFTTarget", "benign_prefix_tokens", "build_targets",
           "deep_prefill", "greedy_text_answers", "training_items"]
