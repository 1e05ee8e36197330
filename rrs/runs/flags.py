"""Command-line flags that are a config's fields: one ``--field-name`` per field, typed from the dataclass.

``add_fields`` declares them (no default: a flag not given leaves the field as the config file or the
dataclass has it); ``config_from`` builds the config from ``--config FILE`` plus the flags given, so the
config's own ``__post_init__`` is the only validation.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rrs.config import ConfigMixin, parse_layers


def csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _plain(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _kwargs(hint: Any, default: Any) -> dict[str, Any]:
    hint, _ = _plain(hint)
    origin = typing.get_origin(hint)
    if hint is bool:
        return {"action": "store_false" if default else "store_true"}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(hint))}
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if item is int:
            return {"type": parse_layers}
        return {"type": lambda text: tuple(item(x) for x in csv(text))}
    if hint in (int, float, str):
        return {"type": hint}
    raise TypeError(f"no flag for a field of type {hint}")


def _shown(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


def add_fields(parser: argparse.ArgumentParser, cls: type[ConfigMixin],
               helps: Mapping[str, str | tuple[str, dict[str, Any]]]) -> None:
    """``--field-name`` for each field named in ``helps`` (a help text, or one with extra argparse options,
    e.g. other flag names under ``"flags"``)."""
    hints, defaults = typing.get_type_hints(cls), cls.defaults()
    for name, spec in helps.items():
        text, extra = (spec, {}) if isinstance(spec, str) else spec
        extra = dict(extra)
        flags = extra.pop("flags", None) or ("--" + name.replace("_", "-"),)
        typed = "type" in extra or "action" in extra
        kwargs = {**({} if typed else _kwargs(hints[name], defaults.get(name))), **extra}
        default = defaults.get(name)
        if default not in (None, (), "", {}) and not isinstance(default, bool) and "default:" not in text:
            text = f"{text} (default: {_shown(default)})".lstrip()
        parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=text.replace("%", "%%"), **kwargs)


def add_config(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--config", default=None, help="a config.json to start from; flags override its fields")
    parser.add_argument("--out", required=True, help=out_help)


C = typing.TypeVar("C", bound=ConfigMixin)


def config_from(args: argparse.Namespace, cls: type[C], base: ConfigMixin | None = None,
                convert: Mapping[str, Callable[[Any], Any]] | None = None) -> C:
    """The config: ``--config`` (or ``base``, or the defaults) with the given flags on top; validated once."""
    if getattr(args, "config", None):
        try:
            start = json.loads(Path(args.config).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{args.config} is not JSON: {err}") from err
    else:
        start = base.to_dict() if base is not None else {}
    given = {k: v for k, v in vars(args).items() if k in cls.field_names()}
    for key, fn in (convert or {}).items():
        if key in given:
            given[key] = fn(given[key])
    return cls.from_dict({**start, **given}, strict=True)


def same_file(a: str | Path | None, b: str | Path) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()
