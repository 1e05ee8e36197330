"""Several sampled answers per prompt, with the prompt computed once.

``generate(num_return_sequences=k)`` copies every prompt k times before its first forward pass, so the
prompt's prefill, which on a CPU costs as much as decoding a few dozen tokens, is paid k times. Here the
prompts (all but their last position) go through the model once; the resulting key/value cache is copied k
times, and ``generate`` continues from it. It then feeds only each prompt's last position and samples exactly
as before: the same positions (counted over the attention mask, as ``generate`` counts them), the same random
draws in the same order. What changes is only the order of floating-point sums in the prompt's attention.

It applies to models fed ``inputs_embeds`` (the embedded cascade). Models whose inputs carry audio features
beside token ids merge them inside their own first forward pass, so they keep the plain path.
"""

from __future__ import annotations

from typing import Any

__all__ = ["can_share_prompt", "generate_sharing_prompt"]


def can_share_prompt(inputs: dict[str, Any], num_return_sequences: int) -> bool:
    """Whether :func:`generate_sharing_prompt` applies: embeddings and a mask only, k > 1, ≥ 2 positions."""
    if num_return_sequences <= 1 or set(inputs) != {"inputs_embeds", "attention_mask"}:
        return False
    return inputs["inputs_embeds"].shape[1] >= 2


def generate_sharing_prompt(model: Any, inputs: dict[str, Any], num_return_sequences: int, **kwargs: Any) -> Any:
    """``model.generate(**inputs, num_return_sequences=k, **kwargs)`` with one prefill per prompt.

    ``model`` is a ``transformers`` causal LM (or a peft model around one); returns what ``generate`` returns:
    the new token ids, k rows per prompt, in prompt order."""
    import torch

    k = num_return_sequences
    embeds, mask = inputs["inputs_embeds"], inputs["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # as generate counts them under left padding
    with torch.no_grad():
        out = model(inputs_embeds=embeds[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                    use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(k)  # the prompt's keys and values, once per answer
    return model.generate(inputs_embeds=embeds, attention_mask=mask, past_key_values=cache,
                          num_return_sequences=k, **kwargs)
