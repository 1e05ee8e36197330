"""Where a model runs (device and dtype chosen automatically) and a fingerprint of its weights.
torch is imported when used."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["resolve_device_dtype", "weights_fingerprint"]


def weights_fingerprint(module: Any, extra: dict[str, Any] | None = None, sample: int = 256) -> str:
    """Hash of parameter names, shapes, dtypes and a strided sample of each tensor's values."""
    import torch

    digest = hashlib.sha256(json.dumps(extra or {}, sort_keys=True).encode())
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            flat = tensor.detach().reshape(-1)
            step = max(1, flat.numel() // sample)
            picked = flat[::step][:sample].float().cpu().numpy().tobytes()
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
            digest.update(picked)
    return digest.hexdigest()[:16]


def resolve_device_dtype(device: str | None = "auto", dtype: Any = "auto") -> tuple[str, Any]:
    """``auto`` picks CUDA + bf16 when a GPU is present, else CPU + fp32. ``dtype`` may be a torch.dtype."""
    import torch

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu")
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if isinstance(dtype, torch.dtype):
        torch_dtype = dtype
    elif dtype in (None, "auto"):
        torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif dtype in names:
        torch_dtype = names[dtype]
    else:
        raise ValueError(f"unknown dtype {dtype!r}; choose auto, float32, bfloat16 or float16")
    return device, torch_dtype
