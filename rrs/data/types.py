"""The data types: an :class:`Item` (one question), a :class:`Pair` (harmful + benign), a
:class:`BasicItem` (question + target response), and :class:`DataError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_CATEGORY", "LABELS", "BasicItem", "DataError", "Item", "Label", "Pair", "flatten", "normalise"]

Label = Literal["harmful", "benign"]
LABELS: tuple[Label, ...] = ("harmful", "benign")

DEFAULT_CATEGORY = "uncategorised"


class DataError(ValueError):
    """A data file or set can't be used; the message names the file, row and column at fault."""


def normalise(text: str) -> str:
    """The form prompts are compared in: lower case, stripped, runs of whitespace collapsed to one space."""
    return " ".join(text.lower().split())


def _uid(source: str, label: str, prompt: str) -> str:
    return hashlib.sha1(f"{source}\x00{label}\x00{prompt}".encode(), usedforsecurity=False).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    """One question. ``uid`` (12 hex digits) is derived from ``(source, label, prompt)`` when not given."""

    prompt: str
    label: Label
    category: str = DEFAULT_CATEGORY
    audio_path: str | None = None
    source: str = "user"
    uid: str = ""

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("an Item needs a non-empty prompt")
        if self.label not in LABELS:
            raise ValueError(f"label must be 'harmful' or 'benign', got {self.label!r}")
        if not self.uid:
            object.__setattr__(self, "uid", _uid(self.source, self.label, self.prompt))


@dataclass(frozen=True)
class Pair:
    """A harmful question and a benign one (its twin in Mirror, an unrelated question in Parallel)."""

    harmful: Item
    benign: Item
    category: str

    def __post_init__(self) -> None:
        if self.harmful.label != "harmful" or self.benign.label != "benign":
            raise ValueError(
                f"a Pair needs a harmful and a benign item, got {self.harmful.label}/{self.benign.label}"
            )


@dataclass(frozen=True)
class BasicItem:
    """A Basic (SFT-full) example: a question and its target response.

    ``response is None`` means "use the vanilla model's own answer as the target": BeaverTails' safe
    responses are not shipped offline, so the trainer self-distils benign targets.
    """

    item: Item
    response: str | None


def flatten(pairs: Iterable[Pair]) -> list[Item]:
    """The items of ``pairs``: harmful then benign, pair by pair."""
    return [item for pair in pairs for item in (pair.harmful, pair.benign)]

