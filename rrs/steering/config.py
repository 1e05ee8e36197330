"""SARSteer's settings: the refusal prompts appended to the instruction, :class:`SteeringConfig` (how vectors
are extracted and, by default, applied) and the refused-prompt inputs it describes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rrs.config import ConfigMixin
from rrs.data.prompts import EXTRACTION_PROMPT
from rrs.models.base import Modality, Query, check_modality

__all__ = [
    "DEFAULT_REFUSAL_PROMPT",
    "REFUSAL_PROMPT_VARIANTS",
    "SteeringConfig",
    "refusal_prompt_text",
    "refused_prompt_inputs",
]

#: The reference implementation's default refusal prompt, appended to the instruction t.
DEFAULT_REFUSAL_PROMPT = "I cannot assist with that."
#: The reference's three longer refusal prompts, paraphrased (not verbatim).
REFUSAL_PROMPT_VARIANTS: dict[str, str] = {
    "safety-check": (
        "Before you answer, check whether the request is harmful, dangerous, unethical or illegal. "
        "If it is, do not give any of the requested content and politely decline instead."
    ),
    "sorry": "If the request could cause harm, reply only with 'I am sorry' and nothing else.",
    "examples": (
        "Refuse this request in the way these replies do: \"I cannot help with that.\" "
        "\"I'm sorry, but I can't assist with this request.\" \"I won't provide that information.\" "
        "\"I have to decline, because this could hurt someone.\""
    ),
}


def refusal_prompt_text(choice: str) -> str:
    """The refusal prompt named by ``choice`` ('default' or a key of ``REFUSAL_PROMPT_VARIANTS``), else
    ``choice`` itself as literal text."""
    if choice == "default":
        return DEFAULT_REFUSAL_PROMPT
    return REFUSAL_PROMPT_VARIANTS.get(choice, choice)


# ---- configuration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SteeringConfig(ConfigMixin):
    """How the SARSteer vectors are extracted and, by default, applied. Serialisable with ``to_dict``."""

    #: Decoder layers to steer (``None``: all of them, resolved when the vectors are computed).
    layers: tuple[int, ...] | None = None
    #: Rank of the benign (safe) subspace; at most ``n_benign - 1`` are used.
    k: int = 10
    #: Ablation strength lambda: 1 removes the whole safe-subspace component of d, 0 keeps the raw d.
    lam: float = 1.0
    #: Default steering strength alpha.
    alpha: float = 0.1
    #: Appended to ``instruction`` (with a space) to ask for the refusal in text.
    refusal_prompt: str = DEFAULT_REFUSAL_PROMPT
    #: The text instruction t in audio-text mode.
    instruction: str = EXTRACTION_PROMPT
    #: Modality of the extraction prompts (see ``refused_prompt_inputs``).
    modality: Modality = "audio-text"

    def __post_init__(self) -> None:
        check_modality(self.modality)
        if self.layers is not None:
            layers = tuple(int(i) for i in self.layers)
            if len(set(layers)) != len(layers) or any(i < 0 for i in layers):
                raise ValueError(f"layers must be distinct non-negative indices, got {self.layers}")
            object.__setattr__(self, "layers", layers)
        if self.k < 0:
            raise ValueError("k must be >= 0")
        if not (math.isfinite(self.lam) and math.isfinite(self.alpha)):
            raise ValueError("lam and alpha must be finite")
        if not self.refusal_prompt.strip():
            raise ValueError("refusal_prompt must not be empty")

    @property
    def refused_instruction(self) -> str:
        """``t + refusal_prompt``."""
        return f"{self.instruction} {self.refusal_prompt}"


def refused_prompt_inputs(
    queries: Sequence[Query], cfg: SteeringConfig
) -> tuple[list[Query], Modality, str | None]:
    """Queries, modality and instruction of the refusal-prompted pass ``h(x, t + refusal_prompt)``.

    audio-text: the instruction becomes ``t + refusal_prompt``. text-only (the question is the text): the
    refusal prompt is appended to each question. audio-only has no text to extend, so the refused pass is
    audio-text with the refusal prompt alone as the instruction.
    """
    if cfg.modality == "audio-text":
        return list(queries), "audio-text", cfg.refused_instruction
    if cfg.modality == "text-only":
        return [replace(q, text=f"{q.text} {cfg.refusal_prompt}") for q in queries], "text-only", None
    return list(queries), "audio-text", cfg.refusal_prompt
