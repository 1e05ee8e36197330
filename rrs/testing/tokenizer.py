"""The tiny models' tokenizer: a real byte-level BPE (the Qwen2 pre-tokenizer and special tokens) trained here
on a few hundred generated sentences, plus the chat templates of the two families' processors.

Nothing is downloaded; ``tokenizers`` and ``transformers`` are imported when a tokenizer is built.
"""

from __future__ import annotations

import functools
from typing import Any

from rrs.models.qwen_omni import OMNI_SYSTEM_PROMPT

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

#: The message loop both processors' templates share: a default system turn, then each message's role and
#: its content, a string or a list of parts (rendered between _TURN_OPEN and _TURN_CLOSE).
_TURN_OPEN = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
)
_TURN_CLOSE = (
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: The prompt format of Qwen2-Audio-7B-Instruct's processor: audio parts render as
#: ``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>`` on their own line; default system turn if none is given.
QWEN2_AUDIO_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    + _TURN_OPEN
    + "{% if 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    + _TURN_CLOSE
)

#: The prompt format of Qwen2.5-Omni's processor: audio parts render inline as
#: ``<|audio_bos|><|AUDIO|><|audio_eos|>`` (optionally numbered), images/videos between vision markers.
QWEN_OMNI_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    + _TURN_OPEN
    + "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
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
    + _TURN_CLOSE
)


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
