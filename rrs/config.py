"""One way to serialise every job's configuration: the :class:`ConfigMixin` of the frozen config dataclasses.

A config is the contract between the UI, the command line and the job: the dashboard builds one (its
``__post_init__`` validates it once), the launcher writes it to ``FOLDER/config.json`` with :meth:`save`, and
``python -m rrs <command> --config FOLDER/config.json`` reads it back with :meth:`load`.

JSON has no tuples, so :meth:`from_dict` turns lists back into tuples wherever the field's type says
``tuple`` (``layers``, ``betas``, ``methods``, ...). Unknown keys are dropped when reading files written by
older versions, and refused with ``strict=True`` (a config file someone wrote by hand).
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from rrs.store import atomic_write_json

C = TypeVar("C", bound="ConfigMixin")


def _wants_tuple(hint: Any) -> bool:
    """Whether a (resolved) type hint is a tuple, or a union holding one."""
    if typing.get_origin(hint) is tuple or hint is tuple:
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_wants_tuple(arg) for arg in typing.get_args(hint))
    return False


class ConfigMixin:
    """``to_dict`` / ``from_dict`` / ``save`` / ``load`` for a (frozen) dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[call-overload]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each field's default value (the form defaults of the dashboard come from here)."""
        out = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.default is not MISSING:
                out[f.name] = f.default
            elif f.default_factory is not MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], strict: bool = False) -> C:
        """Build (and so validate) a config from ``to_dict``'s output; ``ValueError`` for bad values."""
        names = cls.field_names()
        unknown = sorted(set(data) - set(names))
        if strict and unknown:
            raise ValueError(f"unknown {cls.__name__} settings {unknown}; known: {', '.join(names)}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            if key not in names:
                continue
            if isinstance(value, list) and _wants_tuple(hints.get(key)):
                value = tuple(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except TypeError as err:  # a missing required field
            raise ValueError(f"{cls.__name__}: {err}") from err

    # The older spelling of the same two methods, kept for existing callers.
    def to_json(self) -> dict[str, Any]:
        return self.to_dict()

    @classmethod
    def from_json(cls: type[C], data: dict[str, Any]) -> C:
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON (atomically)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[C], path: str | os.PathLike, strict: bool = True) -> C:
        """Read a config written by :meth:`save` (or by hand); ``ValueError`` if it is not one."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} holds no {cls.__name__} (a JSON object is expected)")
        return cls.from_dict(data, strict=strict)


# ---- the one grammar of layer lists ----------------------------------------------------------------
def parse_layers(text: str) -> tuple[int, ...] | None:
    """``"all"`` -> ``None``; ``"16-23"`` -> ``(16, ..., 23)``; ``"20,21,22"`` -> ``(20, 21, 22)``.

    ``ValueError`` for anything else (a range that runs backwards, empty items, words).
    """
    text = str(text).replace(" ", "").lower()
    if text == "all":
        return None
    if re.fullmatch(r"\d+-\d+", text):
        lo, hi = (int(x) for x in text.split("-"))
        if lo > hi:
            raise ValueError(f"layer range {text!r} runs backwards")
        return tuple(range(lo, hi + 1))
    if re.fullmatch(r"\d+(,\d+)*", text):
        return tuple(int(x) for x in text.split(","))
    raise ValueError(f"layers {text!r}: write 'all', a range like '16-23' or a list like '20,21,22'")


def layers_text(layers: Sequence[int] | None) -> str:
    """The inverse of :func:`parse_layers`: ``(16, ..., 23)`` -> ``"16-23"``; ``None`` -> ``"all"``."""
    if not layers:
        return "all"
    layers = sorted(int(x) for x in layers)
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))
