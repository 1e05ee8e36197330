"""An optimiser's state as safetensors + JSON (no pickle): what a run needs to resume its steps exactly.

``optimizer.safetensors`` holds every tensor of the state (``state.<param index>.<name>``, e.g. AdamW's
``exp_avg``, ``exp_avg_sq`` and ``step``); ``optimizer.json`` holds the parameter groups (learning rate, betas,
...) and any non-tensor state. Checkpoints written before this format (``optimizer.pt``) still load, with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rrs.store import atomic_write, atomic_write_json

__all__ = ["load_optimizer_state", "save_optimizer_state"]

TENSORS, META, LEGACY = "optimizer.safetensors", "optimizer.json", "optimizer.pt"


def save_optimizer_state(optimiser: Any, folder: str | Path) -> None:
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    state = optimiser.state_dict()
    tensors: dict[str, Any] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                plain.setdefault(str(index), {})[name] = value
    atomic_write(folder / TENSORS, lambda tmp: save_file(tensors, tmp))
    atomic_write_json(folder / META, {"param_groups": state["param_groups"], "plain_state": plain})


def load_optimizer_state(optimiser: Any, folder: str | Path) -> None:
    """Restore ``optimiser`` from ``folder`` (``FileNotFoundError`` if it holds no optimiser state)."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / TENSORS).is_file():
        if (folder / LEGACY).is_file():
            optimiser.load_state_dict(torch.load(folder / LEGACY, weights_only=True))
            return
        raise FileNotFoundError(f"{folder} holds no optimiser state ({TENSORS}); start the run again")
    meta = json.loads((folder / META).read_text())
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in load_file(folder / TENSORS).items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in meta.get("plain_state", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [{k: (v if k == "params" or not isinstance(v, list) else tuple(v)) for k, v in group.items()}
              for group in meta["param_groups"]]  # JSON has no tuples: betas come back as one
    optimiser.load_state_dict({"state": state, "param_groups": groups})
