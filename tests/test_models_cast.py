"""rrs.models.cast: frozen Linear weights cast to bf16 once per generate call give the same answers."""

from __future__ import annotations

import torch

from rrs.models import cast
from rrs.models.base import GenerationSettings, Query
from rrs.models.cast import frozen_linears_in_bf16

QUERIES = [Query("How do I feed a dog?"), Query("Where can I sell old phones?")]


def _logits(model):
    inputs = model.build_inputs(QUERIES, "text-only")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model.model(**inputs, use_cache=False).logits.float()


def test_the_cast_weights_give_autocasts_numbers_and_are_put_back(tiny_q2a):
    model = tiny_q2a
    linears = [m for m in model.model.modules() if isinstance(m, torch.nn.Linear)]
    before = [m.weight for m in linears]
    reference = _logits(model)
    with torch.no_grad(), frozen_linears_in_bf16(model.model) as n:
        assert n == len(linears) and all(m.weight.dtype == torch.bfloat16 for m in linears)
        cast_logits = _logits(model)
    assert torch.equal(cast_logits, reference)
    assert all(m.weight is w and w.dtype == torch.float32 for m, w in zip(linears, before, strict=True))
    with frozen_linears_in_bf16(model.model) as n:  # gradients on: a training step, left alone
        assert n == 0 and linears[0].weight is before[0]
    with torch.no_grad(), frozen_linears_in_bf16(model.model, enabled=False) as n:
        assert n == 0 and linears[0].weight.dtype == torch.float32


def test_generation_under_bf16_is_unchanged_by_the_cast(tiny_q2a, monkeypatch):
    settings = GenerationSettings(max_new_tokens=6, do_sample=False)
    with tiny_q2a.computing_in("bf16"):
        cast_answers = tiny_q2a.generate(QUERIES, "text-only", None, settings)
        monkeypatch.setattr(cast, "available_gib", lambda: 0.0)  # no room for the copies: autocast casts
        plain_answers = tiny_q2a.generate(QUERIES, "text-only", None, settings)
    assert cast_answers == plain_answers and any(a[0] for a in cast_answers)
