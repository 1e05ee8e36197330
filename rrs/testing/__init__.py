"""Tiny random Qwen2-Audio and Qwen2.5-Omni models, built in code, for tests, benchmarks and demos.

Nothing is downloaded: :mod:`~rrs.testing.tokenizer` trains a real byte-level BPE on a few hundred
generated sentences, and :mod:`~rrs.testing.models` builds the real ``transformers`` classes with small
random weights (and a seeded test clip, :func:`tiny_audio`). The library itself never imports this package.
"""

from rrs.testing.models import (
    save_tiny,
    tiny_audio,
    tiny_feature_extractor,
    tiny_qwen2_audio,
    tiny_qwen2_audio_config,
    tiny_qwen_omni,
    tiny_qwen_omni_thinker_config,
)
from rrs.testing.tokenizer import IM_END, SPECIAL_TOKENS, tiny_corpus, tiny_tokenizer

__all__ = [
    "IM_END",
    "SPECIAL_TOKENS",
    "save_tiny",
    "tiny_audio",
    "tiny_corpus",
    "tiny_feature_extractor",
    "tiny_qwen2_audio",
    "tiny_qwen2_audio_config",
    "tiny_qwen_omni",
    "tiny_qwen_omni_thinker_config",
    "tiny_tokenizer",
]
