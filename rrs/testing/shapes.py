"""Published 7B shapes with random weights, wrapped in their project family, for tests and GPU checks."""

from __future__ import annotations

from typing import Any

from rrs.models.shapes import QWEN2_AUDIO, QWEN_OMNI, builtin_config, canonical_name, model_class
from rrs.testing.models import _set_generation_defaults, _token_ids, tiny_feature_extractor
from rrs.testing.tokenizer import QWEN2_AUDIO_CHAT_TEMPLATE, QWEN_OMNI_CHAT_TEMPLATE, tiny_tokenizer


def random_lalm(
    name: str,
    *,
    n_layers: int | None = None,
    audio_layers: int | None = None,
    vision_layers: int | None = None,
    full_vocab: bool = False,
    device: str = "cpu",
    dtype: Any = None,
    seed: int = 0,
) -> Any:
    """A built-in model with RANDOM weights, wrapped in its project family (``Qwen2AudioLALM`` or
    ``QwenOmniLALM``) with a working processor, for tests and GPU checks without the real checkpoint.

    The processor is the real family processor (Whisper features with 128 mel bins, the chat template,
    ``<|AUDIO|>`` expansion) around the project's small synthetic tokenizer (``rrs.testing.tokenizer``), since no
    full Qwen tokenizer is available offline; the model's special-token ids are pointed at that tokenizer's.
    ``full_vocab=False`` shrinks the embedding and ``lm_head`` to the tokenizer (everything else stays at the
    published width); ``True`` keeps the published vocabulary, so memory and FLOPs are the real model's.
    """
    import torch

    tokenizer = tiny_tokenizer()
    config = builtin_config(name, n_layers, audio_layers=audio_layers, vision_layers=vision_layers)
    ids = _token_ids(tokenizer)
    text = config.text_config
    if not full_vocab:
        text.vocab_size = len(tokenizer)
    text.pad_token_id, text.eos_token_id, text.bos_token_id = ids["pad"], ids["im_end"], None
    config.audio_token_index = ids["audio_token"]
    canonical = canonical_name(name)
    if canonical == QWEN_OMNI:
        config.image_token_index, config.video_token_index = ids["image_token"], ids["video_token"]
        config.audio_start_token_id, config.audio_end_token_id = ids["audio_bos_token"], ids["audio_eos_token"]
        config.vision_start_token_id = ids["vision_bos_token"]
        config.user_token_id = int(tokenizer.encode("user", add_special_tokens=False)[0])
    torch.manual_seed(seed)
    with torch.device(device):  # initialised in place on the device, in the target dtype
        model = model_class(config)._from_config(config, dtype=dtype or torch.float32).eval()
    _set_generation_defaults(model, tokenizer)
    if canonical == QWEN2_AUDIO:
        from transformers import Qwen2AudioProcessor

        from rrs.models.qwen2_audio import Qwen2AudioLALM

        processor = Qwen2AudioProcessor(feature_extractor=tiny_feature_extractor(), tokenizer=tokenizer,
                                        chat_template=QWEN2_AUDIO_CHAT_TEMPLATE)
        return Qwen2AudioLALM(model, processor, name=f"{canonical}-shaped-random")
    from rrs.models.qwen_omni import QwenOmniLALM, omni_audio_processor_class

    processor = omni_audio_processor_class()(feature_extractor=tiny_feature_extractor(), tokenizer=tokenizer,
                                             chat_template=QWEN_OMNI_CHAT_TEMPLATE)
    return QwenOmniLALM(model, processor, name=f"{canonical}-shaped-random")
