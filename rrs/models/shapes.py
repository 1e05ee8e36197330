"""The published shapes of the real models, as ``transformers`` configs, without their weights.

Two built-in names (plus aliases) stand for the released checkpoints the project targets:

* ``qwen2-audio-7b-instruct``: ``Qwen/Qwen2-Audio-7B-Instruct`` (``Qwen2AudioForConditionalGeneration``);
* ``qwen2.5-omni-7b``: the THINKER of ``Qwen/Qwen2.5-Omni-7B`` (``Qwen2_5OmniThinkerForConditionalGeneration``),
  which is all that :class:`rrs.models.qwen_omni.QwenOmniLALM` loads. The thinker holds the audio encoder, the
  vision encoder and the LLM; the vision encoder is never used on audio, but it is part of the thinker's
  checkpoint and is loaded (and kept in memory) with it, so it is included here. The talker and token2wav
  (speech output) are not.

Every number is written out below, with where it comes from. Qwen2-Audio's published ``config.json`` is
sparse: its ``text_config`` gives ``vocab_size`` 156,032, ``intermediate_size`` 11,008,
``max_position_embeddings`` 8,192, ``rope_theta`` 10,000 and ``rms_norm_eps`` 1e-5, and relies on the
``Qwen2Config`` defaults for the rest (hidden 4096, 32 layers, 32 heads, 32 KV heads). Those defaults are
also written out here, so that the shapes do not change if ``transformers`` changes its defaults (its
``Qwen2Config`` default ``intermediate_size`` is 22,016, not the model's 11,008: a tool that fills the gaps
from a different model's defaults gets the size wrong).

For Qwen2.5-Omni, ``transformers``' ``Qwen2_5OmniVisionEncoderConfig`` defaults ``hidden_size`` to 3584 (the
LLM width), while the released checkpoint's vision tower is 1280 wide (the Qwen2.5-VL ViT: 32 blocks, 16
heads, MLP 3420, merger to 3584); the block width is read from ``hidden_size`` in ``transformers`` 5, so
it is set to 1280 explicitly. ``Qwen2_5OmniTextConfig`` defaults ``tie_word_embeddings`` to True, while the
released thinker has its own ``lm_head``; it is set to False explicitly.

``builtin_config(name, n_layers=...)`` gives the config (optionally with fewer layers, for CPU tests at full
width); ``build_on_meta(name)`` builds the whole model on the meta device (shapes, no memory);
``rrs.testing.shapes.random_lalm(name, ...)`` builds it with random weights inside its project family, with a working processor
(``tests/test_shapes_cpu.py`` runs the full-width path on CPU at one layer; ``bench/gpu_check.py`` the whole
7B-shaped model on a GPU).
"""

from __future__ import annotations

from typing import Any

QWEN2_AUDIO = "qwen2-audio-7b-instruct"
QWEN_OMNI = "qwen2.5-omni-7b"
ALIASES = {
    QWEN2_AUDIO: QWEN2_AUDIO,
    "qwen2-audio-7b": QWEN2_AUDIO,
    "qwen/qwen2-audio-7b-instruct": QWEN2_AUDIO,
    QWEN_OMNI: QWEN_OMNI,
    "qwen2.5-omni-7b-thinker": QWEN_OMNI,
    "qwen/qwen2.5-omni-7b": QWEN_OMNI,
}

# ---- Qwen/Qwen2-Audio-7B-Instruct -----------------------------------------------------------------
# Source: the model's config.json on the Hugging Face Hub (audio_config, audio_token_index and the sparse
# text_config); the LLM sizes it leaves out are the Qwen2Config defaults it relies on (hidden_size 4096,
# num_hidden_layers 32, num_attention_heads 32, num_key_value_heads = num_attention_heads, i.e. no GQA,
# tie_word_embeddings False), checked against transformers 5 ``Qwen2Config``. Qwen2-Audio's technical
# report (arXiv 2407.10759) describes the LLM as Qwen-7B and the encoder as Whisper-large-v3 (1280 wide,
# 32 layers), which these numbers match.
QWEN2_AUDIO_TEXT = dict(
    model_type="qwen2",
    vocab_size=156_032,  # config.json text_config.vocab_size
    hidden_size=4096,  # Qwen2Config default (not in config.json)
    intermediate_size=11_008,  # config.json text_config.intermediate_size
    num_hidden_layers=32,  # Qwen2Config default
    num_attention_heads=32,  # Qwen2Config default
    num_key_value_heads=32,  # Qwen2Config: defaults to num_attention_heads (no GQA)
    max_position_embeddings=8192,  # config.json
    rms_norm_eps=1e-5,  # config.json
    rope_theta=10_000.0,  # config.json
    bos_token_id=151_643,  # config.json
    eos_token_id=151_645,  # config.json
    tie_word_embeddings=False,  # Qwen2Config default; the checkpoint has a separate lm_head
)
QWEN2_AUDIO_ENCODER = dict(
    model_type="qwen2_audio_encoder",
    num_mel_bins=128,  # config.json audio_config (and preprocessor_config.json feature_size)
    encoder_layers=32,  # config.json audio_config
    encoder_attention_heads=20,  # config.json audio_config
    encoder_ffn_dim=5120,  # config.json audio_config
    d_model=1280,  # config.json audio_config
    max_source_positions=1500,  # config.json audio_config (3000 mel frames after the stride-2 conv)
)
QWEN2_AUDIO_TOKEN_INDEX = 151_646  # config.json audio_token_index

# ---- Qwen/Qwen2.5-Omni-7B, thinker ----------------------------------------------------------------
# Source: config.json thinker_config of the released checkpoint, which the transformers 5
# ``Qwen2_5OmniThinkerConfig`` / ``Qwen2_5OmniTextConfig`` / ``Qwen2_5OmniAudioEncoderConfig`` defaults
# reproduce (their docstrings cite Qwen/Qwen2.5-Omni-7B; third-party copies of the released thinker
# text_config agree: hidden 3584, 28 layers, 28 heads, 4 KV heads, MLP 18,944, vocab 152,064); the LLM is
# Qwen2.5-7B's shape.
QWEN_OMNI_TEXT = dict(
    vocab_size=152_064,
    hidden_size=3584,
    intermediate_size=18_944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,  # GQA: 7 query heads per KV head
    max_position_embeddings=32_768,
    rms_norm_eps=1e-6,
    # mRoPE: (time, height, width) sections of the rotary half-dimension (64 = 128 / 2).
    rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
    tie_word_embeddings=False,  # separate thinker lm_head (the text-config class defaults to True)
)
QWEN_OMNI_AUDIO = dict(
    num_mel_bins=128,
    encoder_layers=32,
    encoder_attention_heads=20,
    encoder_ffn_dim=5120,
    d_model=1280,
    max_source_positions=1500,
    n_window=100,
    output_dim=3584,  # the encoder's own projection to the LLM width
)
QWEN_OMNI_VISION = dict(
    depth=32,
    # The tower is Qwen2.5-VL's 1280-wide ViT (Qwen2.5-VL-7B's vision_config: hidden_size 1280). transformers 5
    # sizes the blocks from hidden_size, whose class default (3584) is the LLM width, not the tower's; with
    # 1280 the tower has 676.6M parameters, the ViT's size. Checked against the transformers 5 modeling
    # code and Qwen2.5-VL's published config, not against an Omni config.json file.
    hidden_size=1280,
    intermediate_size=3420,
    num_heads=16,
    in_channels=3,
    patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    window_size=112,
    out_hidden_size=3584,
    fullatt_block_indexes=[7, 15, 23, 31],
)
QWEN_OMNI_TOKENS = dict(
    audio_token_index=151_646,
    image_token_index=151_655,
    video_token_index=151_656,
    audio_start_token_id=151_647,
    audio_end_token_id=151_648,
    vision_start_token_id=151_652,
    user_token_id=872,
)


def canonical_name(name: str) -> str:
    """The built-in name for ``name`` (case-insensitive, hub ids accepted); ``KeyError`` if unknown."""
    key = name.strip().lower()
    if key not in ALIASES:
        raise KeyError(f"unknown built-in model {name!r}; choose one of {', '.join(sorted(set(ALIASES.values())))}")
    return ALIASES[key]


def is_builtin(name: str) -> bool:
    return name.strip().lower() in ALIASES


def builtin_config(
    name: str,
    n_layers: int | None = None,
    *,
    audio_layers: int | None = None,
    vision_layers: int | None = None,
) -> Any:
    """The ``transformers`` config of a built-in model.

    ``n_layers`` reduces the LLM's decoder layers, ``audio_layers`` the audio encoder's layers and
    ``vision_layers`` (Omni only) the vision tower's blocks; widths, vocabulary and token ids stay full.
    """
    from transformers import Qwen2AudioConfig
    from transformers.models.qwen2_5_omni.configuration_qwen2_5_omni import Qwen2_5OmniThinkerConfig

    name = canonical_name(name)
    if name == QWEN2_AUDIO:
        text = dict(QWEN2_AUDIO_TEXT)
        audio = dict(QWEN2_AUDIO_ENCODER)
        if n_layers is not None:
            text["num_hidden_layers"] = int(n_layers)
        if audio_layers is not None:
            audio["encoder_layers"] = int(audio_layers)
        return Qwen2AudioConfig(
            audio_config=audio, text_config=text, audio_token_index=QWEN2_AUDIO_TOKEN_INDEX
        )
    text = dict(QWEN_OMNI_TEXT, rope_parameters=dict(QWEN_OMNI_TEXT["rope_parameters"]))
    audio = dict(QWEN_OMNI_AUDIO)
    vision = dict(QWEN_OMNI_VISION, fullatt_block_indexes=list(QWEN_OMNI_VISION["fullatt_block_indexes"]))
    if n_layers is not None:
        text["num_hidden_layers"] = int(n_layers)
        text["max_window_layers"] = int(n_layers)
    if audio_layers is not None:
        audio["encoder_layers"] = int(audio_layers)
    if vision_layers is not None:
        vision["depth"] = int(vision_layers)
        vision["fullatt_block_indexes"] = [i for i in vision["fullatt_block_indexes"] if i < vision_layers] or [
            int(vision_layers) - 1
        ]
    return Qwen2_5OmniThinkerConfig(
        text_config=text, audio_config=audio, vision_config=vision, tie_word_embeddings=False, **QWEN_OMNI_TOKENS
    )


def model_class(config: Any) -> Any:
    """The ``transformers`` model class that a built-in (or checkpoint) config instantiates."""
    from transformers import (
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2AudioForConditionalGeneration,
        Qwen2ForCausalLM,
    )

    kind = getattr(config, "model_type", "")
    if kind == "qwen2_audio":
        return Qwen2AudioForConditionalGeneration
    if kind == "qwen2_5_omni_thinker":
        return Qwen2_5OmniThinkerForConditionalGeneration
    if kind == "qwen2":
        return Qwen2ForCausalLM
    raise ValueError(f"no model class for model_type {kind!r}")


def build_on_meta(name_or_config: Any, **config_kwargs: Any) -> Any:
    """The whole model with every tensor on the meta device: true shapes, no memory, no initialisation cost.

    ``name_or_config`` is a built-in name (``config_kwargs`` go to :func:`builtin_config`) or a config.
    """
    import torch

    config = builtin_config(name_or_config, **config_kwargs) if isinstance(name_or_config, str) else name_or_config
    with torch.device("meta"):
        return model_class(config)(config)


def count_parameters(model: Any) -> int:
    """Distinct parameters (a tied ``lm_head`` counted once), as ``model.parameters()`` yields them."""
    return sum(p.numel() for p in model.parameters())
