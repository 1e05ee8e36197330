"""Qwen2-Audio(-Instruct) as an LALM family.

The wrapped model is ``transformers``' ``Qwen2AudioForConditionalGeneration``. In transformers 5 its
modules are

* ``model.audio_tower``            Whisper-style audio encoder (frozen in tuning)
* ``model.multi_modal_projector``  linear map from audio features to the LLM width (frozen)
* ``model.language_model``         the Qwen2 decoder: ``embed_tokens``, ``layers``, ``norm``
* ``lm_head``                      output projection (a sibling of ``model``, not inside the language model)

Old checkpoints name them ``audio_tower``, ``multi_modal_projector``, ``language_model.model`` and
``language_model.lm_head``; transformers renames those keys while loading.

Prompts are rendered with the processor's own chat template (the one shipped with the checkpoint), with a
user turn holding ``{"type": "audio"}`` then ``{"type": "text"}`` parts as in the Qwen2-Audio-Instruct model
card. The processor then expands the single ``<|AUDIO|>`` placeholder into one token per audio frame of the
encoder output, so ``input_ids`` already has the final sequence length.

The helpers at the bottom (checkpoint checks, device/dtype resolution, prompt assembly, tensor placement) are
shared with the Qwen2.5-Omni family.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrs.models.base import (
    LALM,
    SAMPLE_RATE,
    Modality,
    Query,
    check_modality,
    needs_audio,
    resolve_device_dtype,
    user_text,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

FAMILY = "qwen2-audio"
#: ``model_type`` values in ``config.json`` that this family loads.
MODEL_TYPES = ("qwen2_audio",)
#: Where the language model lives inside ``Qwen2AudioForConditionalGeneration`` (transformers 5 naming).
LLM_PREFIX = "model.language_model"
END_OF_TURN = "<|im_end|>"


class Qwen2AudioLALM(LALM):
    """Qwen2-Audio wrapped for RRS / SARSteer.

    ``system_prompt=None`` sends no system turn; the checkpoint's chat template then applies its own default
    (Qwen2-Audio-Instruct's template inserts "You are a helpful assistant.").
    """

    family = FAMILY
    #: Whether the system turn's content is a list of parts (Omni) or a plain string (Qwen2-Audio).
    system_as_parts = False

    def __init__(self, model: Any, processor: Any, *, name: str, system_prompt: str | None = None) -> None:
        super().__init__(model, processor.tokenizer, name=name, system_prompt=system_prompt)
        self.processor = processor
        self.tokenizer.padding_side = "left"

    # ---- where the parts are ------------------------------------------------------------------

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
        return ["model.audio_tower", "model.multi_modal_projector"]

    # ---- prompts ------------------------------------------------------------------------------
    def conversation(self, query: Query, modality: Modality, instruction: str | None = None) -> list[dict]:
        """The chat messages for one query: optional system turn, then the user turn (audio part first)."""
        return qwen_conversation(query, modality, instruction, self.system_prompt, system_as_parts=self.system_as_parts)

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
        closes: Sequence[bool] | None = None,
        prefixes: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Teacher-forcing inputs: prompt + prefix + ``answer<|im_end|>``, right-padded; ``labels`` mask
        the prompt and the prefilled prefix. ``closes[i]`` False leaves the turn open (no ``<|im_end|>``)."""
        return process_batch_with_answers(self, queries, modality, answers, instruction, closes, prefixes)

    # ---- loading ------------------------------------------------------------------------------
    #: what a checkpoint folder's config.json must say, and the family's name in error messages
    checkpoint_types: Sequence[str] = MODEL_TYPES
    checkpoint_family = "Qwen2-Audio"
    #: the system prompt ``from_pretrained`` uses unless told otherwise
    default_system_prompt: str | None = None

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | None = "auto",
        dtype: Any = "auto",
        system_prompt: str | None | object = ...,
    ) -> Qwen2AudioLALM:
        """Load a local checkpoint directory of this family (never downloads).

        Raises ``FileNotFoundError`` if ``path`` or its ``config.json`` is missing and ``ValueError`` if the
        directory holds another kind of model. ``system_prompt`` defaults to the family's own.
        """
        root, _ = check_checkpoint_dir(path, cls.checkpoint_types, cls.checkpoint_family)
        device, torch_dtype = resolve_device_dtype(device, dtype)
        model = cls._load_model(root, torch_dtype, device).eval()
        prompt = cls.default_system_prompt if system_prompt is ... else system_prompt
        return cls(model, cls._load_processor(root), name=root.name, system_prompt=prompt)

    @classmethod
    def _load_model(cls, root: Path, torch_dtype: Any, device: str) -> Any:
        from transformers import Qwen2AudioForConditionalGeneration

        return Qwen2AudioForConditionalGeneration.from_pretrained(  # nosec B615 # a local folder, never downloaded
            root, dtype=torch_dtype, local_files_only=True, device_map=device
        )

    @classmethod
    def _load_processor(cls, root: Path) -> Any:
        from transformers import Qwen2AudioProcessor

        return Qwen2AudioProcessor.from_pretrained(root, local_files_only=True)  # nosec B615 # a local folder, never downloaded


# ---- helpers shared by the Qwen families --------------------------------------------------------
def check_checkpoint_dir(path: str | Path, model_types: Sequence[str], family: str) -> tuple[Path, dict]:
    """Check that ``path`` is a local checkpoint folder of one of ``model_types``; return it and config."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"{family} checkpoint directory not found: {root} (models load from local directories only)"
        )
    if not root.is_dir():
        raise ValueError(f"{family} checkpoint path {root} is not a directory")
    config_file = root / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{root} has no config.json, so it is not a Hugging Face {family} checkpoint")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_file} is not valid JSON: {err}") from err
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in model_types:
        raise ValueError(
            f"{root} is not a {family} checkpoint: config.json has model_type={model_type!r}, "
            f"expected {' or '.join(repr(t) for t in model_types)}"
        )
    return root, config


def qwen_conversation(
    query: Query,
    modality: Modality,
    instruction: str | None,
    system_prompt: str | None,
    *,
    system_as_parts: bool,
) -> list[dict]:
    """Messages for Qwen chat templates: ``[system], user[audio?, text?]``.

    ``system_as_parts`` writes the system content as a list of typed parts (the Qwen2.5-Omni model card's
    form) instead of a plain string (Qwen2-Audio's); both render the same.
    """
    content: list[dict[str, Any]] = []
    audio = needs_audio(query, modality)
    if audio is not None:
        content.append({"type": "audio", "audio": audio})
    text = user_text(query, modality, instruction)
    if text is not None:
        content.append({"type": "text", "text": text})
    messages: list[dict] = []
    if system_prompt is not None:
        system: Any = [{"type": "text", "text": system_prompt}] if system_as_parts else system_prompt
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    return messages


def _audio_batch(queries: Sequence[Query], modality: Modality) -> list[np.ndarray]:
    audios = [needs_audio(q, modality) for q in queries]
    return [a for a in audios if a is not None]


def _process(lalm: Any, texts: list[str], audios: list[np.ndarray], **text_kwargs: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(text=texts, return_tensors="pt", padding=True, **text_kwargs)
    if audios:
        kwargs.update(audio=audios, sampling_rate=SAMPLE_RATE)
    return to_model(dict(lalm.processor(**kwargs)), lalm.device, lalm.dtype)


def process_batch(
    lalm: Any, queries: Sequence[Query], modality: Modality, instruction: str | None
) -> dict[str, Any]:
    """Render, tokenize and featurize a batch with ``lalm.processor``; left-padded, on the model's device."""
    if len(queries) == 0:
        raise ValueError("build_inputs needs at least one query")
    modality = check_modality(modality)
    texts = lalm.prompt_texts(queries, modality, instruction)
    return _process(lalm, texts, _audio_batch(queries, modality), padding_side="left")


def process_batch_with_answers(
    lalm: Any,
    queries: Sequence[Query],
    modality: Modality,
    answers: Sequence[str],
    instruction: str | None,
    closes: Sequence[bool] | None = None,
    prefixes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Prompt, prefix, then ``answer + <|im_end|>`` per row, right-padded, with ``labels`` (-100 off the
    answer: the prompt and the prefilled prefix are not learnt)."""
    import torch

    if len(queries) != len(answers):
        raise ValueError(f"{len(queries)} queries but {len(answers)} answers")
    if len(queries) == 0:
        raise ValueError("prompt_with_answer needs at least one query")
    modality = check_modality(modality)
    prompts = lalm.prompt_texts(queries, modality, instruction)
    if prefixes:
        prompts = [p + f for p, f in zip(prompts, prefixes, strict=True)]
    ends = [END_OF_TURN if closes is None or closes[i] else "" for i in range(len(answers))]
    audios = _audio_batch(queries, modality)
    prompt_only = _process(lalm, prompts, audios, padding_side="right")
    full = _process(
        lalm,
        [p + a + e for p, a, e in zip(prompts, answers, ends, strict=True)],
        audios,
        padding_side="right",
    )
    prompt_lengths = prompt_only["attention_mask"].sum(dim=1)
    positions = torch.arange(full["input_ids"].shape[1], device=full["input_ids"].device)
    is_answer = (positions[None, :] >= prompt_lengths[:, None]) & full["attention_mask"].bool()
    full["labels"] = torch.where(is_answer, full["input_ids"], torch.full_like(full["input_ids"], -100))
    return full


def to_model(batch: dict[str, Any], device: Any, dtype: Any) -> dict[str, Any]:
    """Move tensors to ``device``; floating tensors (audio features) also to the model's ``dtype``."""
    import torch

    moved: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
        moved[key] = value
    return moved
