"""What a model is asked: a :class:`Query` (text + 16 kHz speech), the three modalities it can be asked in,
and :class:`GenerationSettings` (how to decode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_INSTRUCTION",
    "MODALITIES",
    "SAMPLE_RATE",
    "GenerationSettings",
    "Modality",
    "Query",
    "check_modality",
    "needs_audio",
    "user_text",
]

Modality = Literal["audio-text", "text-only", "audio-only"]
MODALITIES: tuple[Modality, ...] = ("audio-text", "text-only", "audio-only")

#: The instruction the paper pairs with the spoken question in audio-text mode (RRS's extraction prompt t).
DEFAULT_INSTRUCTION = "Please generate detailed steps for the question in the audio."
SAMPLE_RATE = 16_000

#: ``system_prompt`` value that sends no system turn at all, not even the chat template's own default
#: ("You are Qwen, created by Alibaba Cloud..."). ``None`` keeps the template's default.
NO_SYSTEM_TURN = ""


@dataclass(frozen=True)
class Query:
    """One question: its text, and its speech as a 16 kHz mono float32 waveform (``None`` if text only)."""

    text: str
    audio: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode. Greedy by default; ``do_sample`` with a ``seed`` is reproducible."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    num_return_sequences: int = 1
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if self.num_return_sequences < 1:
            raise ValueError("num_return_sequences must be >= 1")
        if self.num_return_sequences > 1 and not self.do_sample:
            raise ValueError("num_return_sequences > 1 needs do_sample=True (greedy repeats one answer)")


def check_modality(modality: str) -> Modality:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    return modality  # type: ignore[return-value]


def user_text(query: Query, modality: Modality, instruction: str | None) -> str | None:
    """The text part of the user turn: the instruction (audio-text), the question (text-only) or none."""
    if modality == "text-only":
        return query.text
    if modality == "audio-text":
        return instruction if instruction is not None else DEFAULT_INSTRUCTION
    return None


def needs_audio(query: Query, modality: Modality) -> np.ndarray | None:
    if modality == "text-only":
        return None
    if query.audio is None:
        raise ValueError(f"modality {modality!r} needs audio, but the query {query.text[:60]!r} has none")
    return np.asarray(query.audio, dtype=np.float32)
