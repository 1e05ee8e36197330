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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rrs.models.base import LALM, Modality, Query, check_modality
from rrs.models.qwen2_audio import (
    check_checkpoint_dir,
    process_batch,
    process_batch_with_answers,
    qwen_conversation,
    resolve_device_and_dtype,
)

FAMILY = "qwen2.5-omni"
#: ``model_type`` values accepted: a full Omni checkpoint, or a thinker saved on its own.
MODEL_TYPES = ("qwen2_5_omni", "qwen2_5_omni_thinker")
LLM_PREFIX = "model.language_model"
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


class QwenOmniLALM(LALM):
    """The Qwen2.5-Omni thinker wrapped for RRS / SARSteer.

    ``system_prompt`` defaults to Omni's own system prompt; ``None`` sends no system turn (the chat template
    then inserts "You are a helpful assistant.").
    """

    family = FAMILY

    def __init__(
        self, model: Any, processor: Any, *, name: str, system_prompt: str | None = OMNI_SYSTEM_PROMPT
    ) -> None:
        super().__init__(model, processor.tokenizer, name=name, system_prompt=system_prompt)
        self.processor = processor
        self.tokenizer.padding_side = "left"

    # ---- where the parts are ------------------------------------------------------------------
    def _base(self) -> Any:
        """The thinker, also when ``model`` is wrapped by peft."""
        model = self.model
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        return model

    @property
    def decoder_layers(self) -> Any:
        return self._base().model.language_model.layers

    @property
    def final_norm(self) -> Any:
        return self._base().model.language_model.norm

    @property
    def lm_head(self) -> Any:
        return self._base().lm_head

    @property
    def llm_prefix(self) -> str:
        return LLM_PREFIX

    @property
    def frozen_modules(self) -> list[str]:
        return ["model.audio_tower", "model.visual"]

    # ---- prompts ------------------------------------------------------------------------------
    def conversation(self, query: Query, modality: Modality, instruction: str | None = None) -> list[dict]:
        """The chat messages for one query: optional system turn, then the user turn (audio part first)."""
        return qwen_conversation(query, modality, instruction, self.system_prompt, system_as_parts=True)

    def prompt_texts(
        self, queries: Sequence[Query], modality: Modality, instruction: str | None = None
    ) -> list[str]:
        """The rendered prompts (ending at the generation prompt), before audio-placeholder expansion."""
        modality = check_modality(modality)
        return [
            self.processor.apply_chat_template(
                self.conversation(q, modality, instruction), add_generation_prompt=True, tokenize=False
            )
            for q in queries
        ]

    def build_inputs(
        self, queries: Sequence[Query], modality: Modality, instruction: str | None = None
    ) -> dict[str, Any]:
        return process_batch(self, queries, modality, instruction)

    def prompt_with_answer(
        self,
        queries: Sequence[Query],
        modality: Modality,
        answers: Sequence[str],
        instruction: str | None = None,
    ) -> dict[str, Any]:
        """Teacher-forcing inputs: prompt + ``answer<|im_end|>``, right-padded; ``labels`` mask the prompt."""
        return process_batch_with_answers(self, queries, modality, answers, instruction)

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | None = "auto",
        dtype: Any = "auto",
        system_prompt: str | None = OMNI_SYSTEM_PROMPT,
    ) -> QwenOmniLALM:
        """Load the thinker of a local Qwen2.5-Omni checkpoint directory (never downloads).

        ``path`` is a full Omni checkpoint (``model_type`` ``qwen2_5_omni``, as released) or a thinker saved
        on its own (``qwen2_5_omni_thinker``). Raises ``FileNotFoundError`` if ``path`` or its
        ``config.json`` is missing and ``ValueError`` if the directory holds another kind of model.
        """
        from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

        root, _ = check_checkpoint_dir(path, MODEL_TYPES, "Qwen2.5-Omni")
        device, torch_dtype = resolve_device_and_dtype(device, dtype)
        # Reads ``thinker_config`` out of a full Omni config.json (or a thinker's own config) without building
        # the talker and token2wav configs.
        thinker_config = Qwen2_5OmniThinkerConfig.from_pretrained(root, local_files_only=True)
        model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
            root, config=thinker_config, dtype=torch_dtype, local_files_only=True, device_map=device
        )
        model.eval()
        processor = omni_audio_processor_class().from_pretrained(root, local_files_only=True)
        return cls(model, processor, name=root.name, system_prompt=system_prompt)
