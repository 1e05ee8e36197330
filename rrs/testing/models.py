"""Tiny random Qwen2-Audio and Qwen2.5-Omni models built in code: the real ``transformers`` classes with small
random weights (hidden 64, 2 decoder layers, 4 heads; a 2-layer, 32-wide audio encoder), and a test clip.

The same seed always gives the same weights, and building one takes well under a second after import.
``save_tiny`` writes a model as a local checkpoint directory that the family's ``from_pretrained`` loads. For
Qwen2.5-Omni it writes a full ``Qwen2_5OmniForConditionalGeneration`` checkpoint (thinker plus a tiny talker
and token2wav), the layout of the released checkpoints, so loading exercises the thinker-only path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rrs.models.base import LALM, SAMPLE_RATE
from rrs.models.qwen2_audio import Qwen2AudioLALM
from rrs.models.qwen_omni import OMNI_SYSTEM_PROMPT, QwenOmniLALM, omni_audio_processor_class
from rrs.testing.tokenizer import (
    ENDOFTEXT,
    IM_END,
    MULTIMODAL_TOKENS,
    QWEN2_AUDIO_CHAT_TEMPLATE,
    QWEN_OMNI_CHAT_TEMPLATE,
    tiny_tokenizer,
)

# Sizes of the tiny models.
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 128
AUDIO_WIDTH = 32
AUDIO_LAYERS = 2
AUDIO_HEADS = 4
MEL_BINS = 128
#: Mel frames after the encoder's stride-2 convolution for a 30 s window (3000 frames at 100 Hz).
AUDIO_POSITIONS = 1500
#: Larger than the usual 0.02 so that the random models' next-token distributions are not flat.
INIT_STD = 0.2


def tiny_feature_extractor() -> Any:
    """Whisper log-mel features with 128 bins at 16 kHz, padded to 30 s (3000 frames)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=MEL_BINS, sampling_rate=SAMPLE_RATE, return_attention_mask=True
    )


def _token_ids(tokenizer: Any) -> dict[str, int]:
    ids = {name: int(tokenizer.convert_tokens_to_ids(tok)) for name, tok in MULTIMODAL_TOKENS.items()}
    ids["pad"] = int(tokenizer.convert_tokens_to_ids(ENDOFTEXT))
    ids["im_end"] = int(tokenizer.convert_tokens_to_ids(IM_END))
    return ids


def _text_config(tokenizer: Any) -> dict[str, Any]:
    ids = _token_ids(tokenizer)
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=4096,
        initializer_range=INIT_STD,
        pad_token_id=ids["pad"],
        eos_token_id=ids["im_end"],
        tie_word_embeddings=False,
    )


def _audio_config() -> dict[str, Any]:
    return dict(
        d_model=AUDIO_WIDTH,
        encoder_layers=AUDIO_LAYERS,
        encoder_attention_heads=AUDIO_HEADS,
        encoder_ffn_dim=2 * AUDIO_WIDTH,
        num_mel_bins=MEL_BINS,
        max_source_positions=AUDIO_POSITIONS,
        initializer_range=INIT_STD,
    )


# ---- configs ------------------------------------------------------------------------------------
def tiny_qwen2_audio_config(tokenizer: Any) -> Any:
    from transformers import Qwen2AudioConfig

    return Qwen2AudioConfig(
        audio_config=_audio_config(),
        text_config=dict(model_type="qwen2", **_text_config(tokenizer)),
        audio_token_index=_token_ids(tokenizer)["audio_token"],
    )


def tiny_qwen_omni_thinker_config(tokenizer: Any) -> Any:
    from transformers.models.qwen2_5_omni.configuration_qwen2_5_omni import Qwen2_5OmniThinkerConfig

    ids = _token_ids(tokenizer)
    head_dim = HIDDEN // HEADS
    # mRoPE splits the rotary half-dimension over (time, height, width); the sections must sum to head_dim/2.
    third = head_dim // 2 // 3
    mrope = [head_dim // 2 - 2 * third, third, third]
    return Qwen2_5OmniThinkerConfig(
        audio_config=dict(_audio_config(), n_window=100, output_dim=HIDDEN),
        vision_config=dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=HIDDEN,
            fullatt_block_indexes=[0],
            initializer_range=INIT_STD,
        ),
        text_config=dict(
            _text_config(tokenizer),
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope},
        ),
        audio_token_index=ids["audio_token"],
        image_token_index=ids["image_token"],
        video_token_index=ids["video_token"],
        audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"],
        vision_start_token_id=ids["vision_bos_token"],
        user_token_id=int(tokenizer.encode("user", add_special_tokens=False)[0]),
        initializer_range=INIT_STD,
    )


def _tiny_omni_full_config(thinker_config: Any) -> Any:
    """A full Omni config around ``thinker_config``, with a tiny talker and token2wav."""
    from transformers import Qwen2_5OmniConfig

    t = thinker_config
    codec_vocab = 64
    talker = dict(
        vocab_size=codec_vocab,
        embedding_size=t.text_config.hidden_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [4, 2, 2]},
        tts_codec_start_token_id=codec_vocab - 4,
        tts_codec_end_token_id=codec_vocab - 3,
        tts_codec_pad_token_id=codec_vocab - 2,
        tts_codec_mask_token_id=codec_vocab - 1,
        tts_text_start_token_id=0,
        tts_text_end_token_id=0,
        tts_text_pad_token_id=0,
        audio_token_index=t.audio_token_index,
        image_token_index=t.image_token_index,
        video_token_index=t.video_token_index,
        audio_start_token_id=t.audio_start_token_id,
        audio_end_token_id=t.audio_end_token_id,
        vision_start_token_id=t.vision_start_token_id,
        vision_end_token_id=t.vision_start_token_id,
    )
    token2wav = dict(
        dit_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            head_dim=16,
            emb_dim=16,
            num_embeds=codec_vocab,
            mel_dim=16,
            enc_emb_dim=16,
            enc_dim=16,
            enc_channels=[16, 16, 16, 16, 48],
            enc_attention_channels=8,
            enc_se_channels=8,
            look_ahead_layers=[1],
            look_backward_layers=[0],
        ),
        bigvgan_config=dict(
            mel_dim=16, upsample_initial_channel=32, upsample_rates=[2, 2], upsample_kernel_sizes=[4, 4]
        ),
    )
    return Qwen2_5OmniConfig(
        thinker_config=t.to_dict(), talker_config=talker, token2wav_config=token2wav, enable_audio_output=True
    )


# ---- models -------------------------------------------------------------------------------------
def _seeded(seed: int, build: Any) -> Any:
    """Run ``build()`` with torch's global RNG seeded, leaving the caller's RNG state untouched."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _set_generation_defaults(model: Any, tokenizer: Any) -> None:
    ids = _token_ids(tokenizer)
    gen = model.generation_config
    gen.eos_token_id = [ids["im_end"], ids["pad"]]
    gen.pad_token_id = ids["pad"]
    gen.bos_token_id = None


def tiny_qwen2_audio(seed: int = 0, system_prompt: str | None = None) -> Qwen2AudioLALM:
    """A random Qwen2-Audio (``Qwen2AudioForConditionalGeneration`` + ``Qwen2AudioProcessor``), fp32, CPU."""
    from transformers import Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor


    tokenizer = tiny_tokenizer()
    config = tiny_qwen2_audio_config(tokenizer)
    model = _seeded(seed, lambda: Qwen2AudioForConditionalGeneration(config)).eval()
    _set_generation_defaults(model, tokenizer)
    processor = Qwen2AudioProcessor(
        feature_extractor=tiny_feature_extractor(),
        tokenizer=tokenizer,
        chat_template=QWEN2_AUDIO_CHAT_TEMPLATE,
    )
    return Qwen2AudioLALM(model, processor, name=f"tiny-qwen2-audio-s{seed}", system_prompt=system_prompt)


def tiny_qwen_omni(seed: int = 0, system_prompt: str | None = OMNI_SYSTEM_PROMPT) -> QwenOmniLALM:
    """A random Qwen2.5-Omni thinker (real ``Qwen2_5OmniThinkerForConditionalGeneration``), fp32, CPU."""
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration


    tokenizer = tiny_tokenizer()
    config = tiny_qwen_omni_thinker_config(tokenizer)
    model = _seeded(seed, lambda: Qwen2_5OmniThinkerForConditionalGeneration(config)).eval()
    _set_generation_defaults(model, tokenizer)
    processor = omni_audio_processor_class()(
        feature_extractor=tiny_feature_extractor(), tokenizer=tokenizer, chat_template=QWEN_OMNI_CHAT_TEMPLATE
    )
    return QwenOmniLALM(model, processor, name=f"tiny-qwen2.5-omni-s{seed}", system_prompt=system_prompt)


def save_tiny(lalm: LALM, path: str | Path, *, full_omni: bool = True) -> Path:
    """Write ``lalm`` (a tiny model from this module) as a local checkpoint directory and return its path.

    For Qwen2.5-Omni, ``full_omni=True`` wraps the thinker in a full ``Qwen2_5OmniForConditionalGeneration``
    (random tiny talker and token2wav) as the released checkpoints are laid out; ``False`` saves the thinker
    alone.
    """
    from transformers.utils import logging as hf_logging


    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    model = lalm.model
    verbosity = hf_logging.get_verbosity()
    # Serializing an Omni config diffs it against default sub-configs, whose stock token ids do not fit the
    # stock talker vocabulary; transformers warns about that on every save. Keep the output clean here.
    hf_logging.set_verbosity_error()
    try:
        if isinstance(lalm, QwenOmniLALM) and full_omni:
            from transformers import Qwen2_5OmniForConditionalGeneration

            full_config = _tiny_omni_full_config(model.config)
            full = _seeded(0, lambda: Qwen2_5OmniForConditionalGeneration(full_config))
            full.thinker.load_state_dict(model.state_dict())
            full.generation_config.eos_token_id = model.generation_config.eos_token_id
            full.generation_config.pad_token_id = model.generation_config.pad_token_id
            model = full
        model.save_pretrained(root)
        lalm.processor.save_pretrained(root)  # type: ignore[attr-defined]
    finally:
        hf_logging.set_verbosity(verbosity)
    return root


# ---- audio --------------------------------------------------------------------------------------
def tiny_audio(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A 16 kHz float32 test clip: a rising chirp with harmonics under light noise, seeded."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    f0 = 120.0 + 80.0 * rng.random()
    phase = 2 * np.pi * (f0 * t + 60.0 * t**2)
    wave = sum(np.sin(k * phase) / k for k in (1, 2, 3))
    envelope = np.minimum(1.0, 20 * t) * np.minimum(1.0, 20 * (t[-1] - t))
    wave = 0.3 * envelope * wave + 0.01 * rng.standard_normal(t.shape)
    return wave.astype(np.float32)
