"""Speaking voices: the :class:`Voice` type, the registered :data:`VOICES` and the per-sample draw
:func:`voice_for` (reproducible from ``(seed, key)``, as the RRS paper speaks each question in a random voice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["ENGINES", "VOICES", "Engine", "Voice", "voice_for"]

Engine = Literal["piper", "espeak"]
ENGINES: tuple[Engine, ...] = ("piper", "espeak")


@dataclass(frozen=True)
class Voice:
    """One speaking voice.

    ``engine`` is ``"piper"`` or ``"espeak"``. ``name`` is the Piper voice (only ``"joe"``) or an eSpeak
    voice name, optionally with a variant (``"en-us+f3"``). ``rate`` scales the speaking rate
    (1.0 = the engine's default, 1.2 = 20 % faster).
    """

    engine: Engine
    name: str
    rate: float = 1.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown TTS engine {self.engine!r}; choose one of {ENGINES}")
        if not self.name:
            raise ValueError("a Voice needs a name")
        if not (0.5 <= self.rate <= 2.0):
            raise ValueError(f"rate must be between 0.5 and 2.0, got {self.rate}")

    @property
    def label(self) -> str:
        """Short human-readable id, e.g. ``espeak:en-us+f3`` or ``piper:joe@1.1``."""
        rate = "" if self.rate == 1.0 else f"@{self.rate:g}"
        return f"{self.engine}:{self.name}{rate}"


#: The voices :func:`voice_for` draws from: one neural voice and five eSpeak voices that differ in sex,
#: pitch, accent and rate. The eSpeak variants were chosen among those Whisper tiny.en transcribes well
#: (plain ``en-us`` often turns "what will the weather" into "we'll never").
VOICES: tuple[Voice, ...] = (
    Voice("piper", "joe"),  # neural, US male
    Voice("espeak", "en-us+m2"),  # US male
    Voice("espeak", "en-us+f3"),  # US female
    Voice("espeak", "en-gb-x-rp"),  # British (received pronunciation) male
    Voice("espeak", "en-us+f5"),  # US female, different timbre
    Voice("espeak", "en-gb-x-rp+m3", rate=0.9),  # British male, deeper, a little slower
)


def voice_for(key: str, seed: int, voices: Sequence[Voice] = VOICES) -> Voice:
    """Draw the voice for one sample, reproducibly from ``(seed, key)``.

    The draw is a counter-based RNG: the sha256 of ``(seed, key)`` is a uniform 256-bit number, reduced
    to an index. It depends on nothing else (not on call order, Python or numpy version).
    """
    if not voices:
        raise ValueError("voices is empty")
    digest = hashlib.sha256(f"rrs-voice\x00{int(seed)}\x00{key}".encode()).digest()
    return voices[int.from_bytes(digest, "big") % len(voices)]

