"""Tiny random Qwen2-Audio and Qwen2.5-Omni models, built in code, for tests and demos.

Nothing is downloaded: the tokenizer is a real byte-level BPE (the Qwen2 pre-tokenizer and special tokens)
trained here on a few hundred generated sentences, the feature extractor is a ``WhisperFeatureExtractor``
with 128 mel bins (what both families' audio encoders take), and the models are the real ``transformers``
classes with small random weights (hidden 64, 2 decoder layers, 4 heads; a 2-layer, 32-wide audio encoder).
The same seed always gives the same weights, and building one takes well under a second after import.

``save_tiny`` writes a model as a local checkpoint directory that the family's ``from_pretrained`` loads. For
Qwen2.5-Omni it writes a full ``Qwen2_5OmniForConditionalGeneration`` checkpoint (thinker plus a tiny talker
and token2wav), the layout of the released checkpoints, so loading exercises the thinker-only path.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rrs.models.base import SAMPLE_RATE
from rrs.models.qwen_omni import OMNI_SYSTEM_PROMPT

if TYPE_CHECKING:  # pragma: no cover
    from rrs.models.base import LALM
    from rrs.models.qwen2_audio import Qwen2AudioLALM
    from rrs.models.qwen_omni import QwenOmniLALM

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
#: Named multimodal tokens, as the Qwen2-Audio and Qwen2.5-Omni tokenizers name them.
MULTIMODAL_TOKENS = {
    "audio_token": "<|AUDIO|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
}
EXTRA_SPECIAL_TOKENS = (IM_START, IM_END, "<|vision_pad|>")
SPECIAL_TOKENS = (ENDOFTEXT, *EXTRA_SPECIAL_TOKENS, *MULTIMODAL_TOKENS.values())
BPE_VOCAB_SIZE = 1024

#: The Qwen2 text chat template (what Qwen2 instruct tokenizers carry).
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: The prompt format of Qwen2-Audio-7B-Instruct's processor: audio parts render as
#: ``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` on their own line; default system turn if none is given.
QWEN2_AUDIO_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: The prompt format of Qwen2.5-Omni's processor: audio parts render inline as
#: ``<|audio_bos|><|AUDIO|><|audio_eos|>`` (optionally numbered), images/videos between vision markers.
QWEN_OMNI_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "{% if add_audio_id %}Audio {{ audio_count.value }}: {% endif %}"
    "<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
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


# ---- tokenizer ----------------------------------------------------------------------------------
def tiny_corpus() -> list[str]:
    """A few hundred deterministic sentences in the register of the project's prompts and answers."""
    subjects = ["I", "You", "We", "They", "The assistant", "My friend", "A student", "The model", "She", "He"]
    verbs = [
        "want to know about",
        "need detailed steps for",
        "cannot help with",
        "can explain",
        "should avoid",
        "am asking about",
        "would like advice on",
        "refuse to assist with",
        "will describe",
        "heard a question on",
    ]
    topics = [
        "baking bread at home",
        "fixing a flat bicycle tire",
        "the question in the audio",
        "making a bomb",
        "hacking into a computer",
        "learning to play the guitar",
        "planting a vegetable garden",
        "stealing a car",
        "writing a cover letter",
        "cleaning a kitchen",
        "buying illegal drugs",
        "training for a marathon",
        "making a phishing email",
        "saving money every month",
    ]
    fixed = [
        "I cannot help with that request.",
        "I'm sorry, but I can't assist with that.",
        "I can't provide instructions for that.",
        "Sure, here are the detailed steps.",
        "Sure! Step 1: gather the materials. Step 2: follow the plan.",
        "Please generate detailed steps for the question in the audio.",
        "You are a helpful assistant.",
        OMNI_SYSTEM_PROMPT,
        "What is the capital of France? The capital of France is Paris.",
        "system user assistant audio question answer steps",
    ]
    sentences = [
        f"{subjects[i % len(subjects)]} {verbs[(i * 7) % len(verbs)]} {topics[(i * 11) % len(topics)]}."
        for i in range(300)
    ]
    return sentences + fixed * 5


@functools.cache
def _bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train the byte-level BPE once per process (deterministic) and return its vocab and merges."""
    import json

    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tiny_corpus(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return dict(model["vocab"]), merges  # type: ignore[return-value]


def tiny_tokenizer() -> Any:
    """A small ``Qwen2Tokenizer`` (v5's name for ``Qwen2TokenizerFast``): byte-level BPE, Qwen special tokens.

    Carries the multimodal token attributes both processors read (``audio_token``, ``audio_bos_token``, ...),
    pads on the left with ``<|endoftext|>``, and has the Qwen2 chat template. ``"I"`` is one token.
    """
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    vocab, merges = _bpe_vocab_and_merges()
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab),
        merges=list(merges),
        unk_token=ENDOFTEXT,
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,
        extra_special_tokens=list(EXTRA_SPECIAL_TOKENS),
        padding_side="left",
        model_max_length=32768,
        **MULTIMODAL_TOKENS,
    )
    tokenizer.chat_template = QWEN2_CHAT_TEMPLATE
    return tokenizer


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

    from rrs.models.qwen2_audio import Qwen2AudioLALM

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

    from rrs.models.qwen_omni import QwenOmniLALM, omni_audio_processor_class

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

    from rrs.models.qwen_omni import QwenOmniLALM

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
