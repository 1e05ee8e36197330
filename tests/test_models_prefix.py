"""rrs.models.prefix: a probe replays only the tuned layers, from the kept input of the first of them."""

from __future__ import annotations

import contextlib

import pytest
import torch

from rrs.data.prompts import EXTRACTION_PROMPT
from rrs.models.prefix import FrozenPrefix


@contextlib.contextmanager
def _top_layer_changed(model):
    """What a tuning step does to the layers above the prefix: change a top layer's weights, then undo it."""
    weight = model.decoder_layers[-1].mlp.down_proj.weight
    before = weight.detach().clone()
    with torch.no_grad():
        weight.mul_(1.5)
    try:
        yield
    finally:
        with torch.no_grad():
            weight.copy_(before)


@pytest.mark.parametrize("modality", ["audio-text", "text-only"])
def test_the_replayed_states_equal_a_full_forward_pass(embedded, spoken, modality):
    model = embedded
    prefix = FrozenPrefix(model, start=model.n_layers // 2)
    assert prefix.usable()
    with torch.no_grad():
        first = prefix.last_hidden("batch-0", spoken, modality, EXTRACTION_PROMPT)
        assert torch.equal(first, model.last_hidden(spoken, modality, EXTRACTION_PROMPT))
        assert list(prefix.kept) == ["batch-0"] and prefix.bytes > 0
        with _top_layer_changed(model):
            replayed = prefix.last_hidden("batch-0", spoken, modality, EXTRACTION_PROMPT)
            full = model.last_hidden(spoken, modality, EXTRACTION_PROMPT)
        assert (replayed - first).abs().max() > 1e-3  # the change above the prefix is seen ...
        torch.testing.assert_close(replayed, full, rtol=0, atol=1e-5)  # ... exactly as a full pass sees it
    assert model.decoder_layers is not None and len(model.decoder_layers) == model.n_layers  # layers put back


def test_models_fed_token_ids_run_the_full_pass_and_keep_nothing(tiny_q2a):
    from rrs.models.base import Query

    queries = [Query("How do I feed a dog?"), Query("How do I start a car?")]
    prefix = FrozenPrefix(tiny_q2a, start=1)
    with torch.no_grad():
        got = prefix.last_hidden(0, queries, "text-only")
        torch.testing.assert_close(got, tiny_q2a.last_hidden(queries, "text-only"))
    assert prefix.kept == {}


def test_the_memory_cap_keeps_nothing_beyond_it(embedded, spoken):
    prefix = FrozenPrefix(embedded, start=2, max_bytes=1)
    with torch.no_grad():
        prefix.last_hidden(0, spoken, "text-only")
    assert prefix.kept == {} and not FrozenPrefix(embedded, start=0).usable()
