"""rrs.models.shared_prompt: k sampled answers per prompt from one prefill, drawn as plain ``generate`` draws them."""

from __future__ import annotations

import pytest
import torch

from rrs.models.shared_prompt import can_share_prompt, generate_sharing_prompt


@pytest.fixture(scope="module")
def tiny_llm():
    """A two-layer Qwen2 causal LM with random weights and a 64-token vocabulary."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None)
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


def _left_padded_prompts(model):
    """Three prompts of 9, 6 and 4 positions as embeddings, left-padded to 9."""
    torch.manual_seed(1)
    lengths = [9, 6, 4]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, -n:] = torch.randint(2, 64, (n,))
        mask[row, -n:] = 1
    return {"inputs_embeds": model.get_input_embeddings()(ids).detach(), "attention_mask": mask}


def _sample(model, inputs, k, share, seed=3):
    settings = dict(max_new_tokens=12, do_sample=True, temperature=0.7, top_p=0.9, top_k=0, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.no_grad():
        if share:
            return generate_sharing_prompt(model, inputs, k, **settings)
        return model.generate(**inputs, num_return_sequences=k, **settings)


def test_shared_prefill_draws_the_same_answers_as_plain_generate(tiny_llm):
    inputs = _left_padded_prompts(tiny_llm)
    plain = _sample(tiny_llm, inputs, 4, share=False)
    shared = _sample(tiny_llm, inputs, 4, share=True)
    assert shared.shape == plain.shape == (12, 12)
    assert torch.equal(shared, plain)
    assert not torch.equal(shared[0], shared[1])  # the k answers of one prompt are sampled, not copies
    other_seed = _sample(tiny_llm, inputs, 4, share=True, seed=4)
    assert not torch.equal(other_seed, shared)


def test_the_prompt_goes_through_the_model_once(tiny_llm):
    inputs = _left_padded_prompts(tiny_llm)
    seen = []
    hook = tiny_llm.model.layers[0].register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append((args[0] if args else kwargs["hidden_states"]).shape),
        with_kwargs=True)
    try:
        _sample(tiny_llm, inputs, 5, share=True)
    finally:
        hook.remove()
    assert seen[0] == (3, 8, 32)  # the prefill: 3 prompts, not 15, without their last position
    assert seen[1] == (15, 1, 32)  # then every answer feeds one position at a time
    assert all(shape[1] == 1 for shape in seen[1:])


def test_only_embedding_inputs_with_several_answers_share():
    embeds = torch.zeros(2, 5, 8)
    mask = torch.ones(2, 5, dtype=torch.long)
    assert can_share_prompt({"inputs_embeds": embeds, "attention_mask": mask}, 3)
    assert not can_share_prompt({"inputs_embeds": embeds, "attention_mask": mask}, 1)
    assert not can_share_prompt({"input_ids": mask, "attention_mask": mask}, 3)
    assert not can_share_prompt({"inputs_embeds": embeds, "attention_mask": mask, "input_features": embeds}, 3)
    assert not can_share_prompt({"inputs_embeds": embeds[:, :1], "attention_mask": mask[:, :1]}, 3)
