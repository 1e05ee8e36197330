"""rrs.models.bf16_weights: frozen linear weights cast once for a bf16-autocast generate, the same answers."""

from __future__ import annotations

import torch

from rrs.models.bf16_weights import frozen_linears_in_bf16


def _tiny_llm(tied: bool):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None, tie_word_embeddings=tied)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    model.requires_grad_(False)
    return model


def _answers(model, swap: bool):
    ids = torch.randint(2, 64, (3, 7), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), frozen_linears_in_bf16(model, swap) as n:
        out = model.generate(ids, max_new_tokens=10, do_sample=True, top_k=0, top_p=0.9, num_return_sequences=2,
                             pad_token_id=0)
    return out, n


def test_swapped_weights_give_the_same_answers_and_are_put_back():
    for tied in (True, False):
        model = _tiny_llm(tied)
        before = {name: (p, p.detach().clone()) for name, p in model.named_parameters()}
        plain, none = _answers(model, swap=False)
        swapped, n = _answers(model, swap=True)
        assert none == 0 and n == 2 * 7 + 1  # q, k, v, o, gate, up, down in two layers, and lm_head
        assert torch.equal(plain, swapped)
        for name, p in model.named_parameters():  # the same fp32 tensors, untouched
            assert p is before[name][0] and p.dtype == torch.float32 and torch.equal(p, before[name][1])
        assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied  # tied weights stay tied


def test_trainable_weights_are_left_alone():
    model = _tiny_llm(tied=False)
    model.lm_head.weight.requires_grad_(True)
    with frozen_linears_in_bf16(model) as n:
        assert model.lm_head.weight.dtype == torch.float32 and n == 14
        assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.float32


def test_kept_layers_stay_fp32():
    model = _tiny_llm(tied=True)
    with frozen_linears_in_bf16(model, keep=[model.lm_head]) as n:
        assert n == 14 and model.lm_head.weight.dtype == torch.float32
        assert model.model.layers[1].self_attn.o_proj.weight.dtype == torch.bfloat16
    assert model.model.layers[1].self_attn.o_proj.weight.dtype == torch.float32


def test_nothing_is_swapped_without_memory_for_the_copies(monkeypatch):
    model = _tiny_llm(tied=False)
    monkeypatch.setattr("rrs.models.bf16_weights.available_gib", lambda: 1e-9)
    with frozen_linears_in_bf16(model) as n:
        assert n == 0 and model.model.layers[0].mlp.up_proj.weight.dtype == torch.float32
    monkeypatch.setattr("rrs.models.bf16_weights.available_gib", lambda: None)  # unknown: swap
    with frozen_linears_in_bf16(model) as n:
        assert n == 15
