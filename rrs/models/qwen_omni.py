"""Qwen2.5-Omni as an LALM family: the THINKER only.

Qwen2.5-Omni checkpoints hold three models: the thinker (audio/vision encoders + the LLM that writes text),
the talker (text-to-speech-codec LM) and token2wav (codec-to-waveform). This family loads only
``Qwen2_5OmniThinkerForConditionalGeneration``; talker and token2wav weights are never instantiated. In
transformers 5 the thinker's modules are

* ``model.audio_tower``     audio encoder, including its output projection ``proj`` (frozen in tuning)
* ``model.visual``          vision encoder (unused here, frozen)
* ``model.language_model``  the Qwen2 decoder: ``embed_tokens``, ``layers``, ``norm``
* ``lm_head``               output projection

Full checkpoints store these as ``thinker.audio_tower.*``, ``thinker.visual.*``, ``thinker.model.*`` and
``thinker.lm_head.*``; the thinker class's checkpoint conversion drops the ``thinker.`` prefix and maps
``model.*`` to ``model.language_model.*``, and the talker/token2wav keys are left unused.

Audio here is always a standalone clip, never the sound track of a video, so ``use_audio_in_video`` stays
at its default (False): the thinker's 3-D (mRoPE) positions are then the plain sequential positions of the
attention mask on all three axes. The audio encoder needs ``feature_attention_mask`` (it packs only the valid
mel frames of each clip), which the processor returns and ``build_inputs`` passes on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from rrs.models.qwen2_audio import Qwen2AudioLALM

FAMILY = "qwen2.5-omni"
#: ``model_type`` values accepted: a full Omni checkpoint, or a thinker saved on its own.
MODEL_TYPES = ("qwen2_5_omni", "qwen2_5_omni_thinker")
#: The system prompt Qwen2.5-Omni is released with (its model card asks for it verbatim).
OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory "
    "and visual inputs, as well as generating text and speech."
)
#: Tokenizer attributes the Omni processor reads, with the released checkpoint's token strings as fallback.
OMNI_PROCESSOR_TOKENS = {
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}


@functools.cache
def omni_audio_processor_class() -> type:
    """``Qwen2_5OmniProcessor`` restricted to text and audio (built on first use; transformers is heavy).

    The stock processor also requires an image processor and a torchvision-backed video processor, and
    refuses to construct (or load) without torchvision, which this project does not install. The subclass
    keeps the stock chat-template rendering, audio featurization and ``<|AUDIO|>`` expansion unchanged and
    only drops the vision sub-processors. It loads from a released checkpoint directory: the feature extractor
    from its preprocessor config, the tokenizer, and the chat template.
    """
    from transformers import Qwen2_5OmniProcessor
    from transformers.processing_utils import ProcessorMixin

    class QwenOmniAudioProcessor(Qwen2_5OmniProcessor):
        """Qwen2.5-Omni processor for text + audio only (no image/video sub-processors)."""

        def __init__(self, feature_extractor: Any = None, tokenizer: Any = None, chat_template: Any = None):
            ProcessorMixin.__init__(self, feature_extractor, tokenizer, chat_template=chat_template)
            for attribute, default in OMNI_PROCESSOR_TOKENS.items():
                token = getattr(tokenizer, attribute, None) or default
                setattr(self, attribute, token)
                setattr(self, f"{attribute}_id", tokenizer.convert_tokens_to_ids(token))

        @property
        def model_input_names(self) -> list[str]:
            names = self.tokenizer.model_input_names + self.feature_extractor.model_input_names
            return list(dict.fromkeys([*names, "feature_attention_mask"]))

    return QwenOmniAudioProcessor


class QwenOmniLALM(Qwen2AudioLALM):
    """The Qwen2.5-Omni thinker wrapped for RRS / SARSteer.

    It shares Qwen2-Audio's module layout (``model.language_model``, ``lm_head``) and prompt assembly; it
    differs in its frozen parts, its system-turn format and its default system prompt. ``system_prompt``
    defaults to Omni's own; ``None`` sends no system turn (the chat template then inserts "You are a
    helpful assistant.").
    """

    family = FAMILY
    system_as_parts = True

    def __init__(
        self, model: Any, processor: Any, *, name: str, system_prompt: str | None = OMNI_SYSTEM_PROMPT
    ) -> None:
        super().__init__(model, processor, name=name, system_prompt=system_prompt)

    @property
    def frozen_modules(self) -> list[str]:
        return ["model.audio_tower", "model.visual"]

    # ---- loading ------------------------------------------------------------------------------
    # ``from_pretrained`` (inherited) takes a full Omni checkpoint (``model_type`` ``qwen2_5_omni``, as
    # released) or a thinker saved on its own (``qwen2_5_omni_thinker``) and loads only the thinker.
    checkpoint_types = MODEL_TYPES
    checkpoint_family = "Qwen2.5-Omni"
    default_system_prompt = OMNI_SYSTEM_PROMPT

    @classmethod
    def _load_model(cls, root: Path, torch_dtype: Any, device: str) -> Any:
        from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

        # Reads ``thinker_config`` out of a full Omni config.json (or a thinker's own config) without building
        # the talker and token2wav configs.
        thinker_config = Qwen2_5OmniThinkerConfig.from_pretrained(root, local_files_only=True)  # nosec B615 # a local folder, never downloaded
        return Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(  # nosec B615 # a local folder, never downloaded
            root, config=thinker_config, dtype=torch_dtype, local_files_only=True, device_map=device
        )

    @classmethod
    def _load_processor(cls, root: Path) -> Any:
        return omni_audio_processor_class().from_pretrained(root, local_files_only=True)
