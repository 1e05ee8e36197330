"""Casting the frozen weights to bf16 once per ``generate`` call, not once per token, on a CPU.

Under bf16 autocast every ``nn.Linear`` casts its fp32 weight to bf16 on each call, and autocast keeps no
copy of weights that do not train. In generation that is once per new token: for the 1.5B embedded model,
6 GB read and 3 GB written per token on a CPU. :func:`frozen_linears_in_bf16` casts those weights once on the
way in and puts the fp32 tensors back on the way out (the same objects, so an optimiser holding them sees no
change). Autocast would have made the same bf16 numbers, so the answers are the same; only the time changes.
Norms and embeddings are left alone. It acts only without gradients: nothing is trained inside.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rrs.hardware import available_gib

__all__ = ["frozen_linears_in_bf16"]


@contextlib.contextmanager
def frozen_linears_in_bf16(model: Any, enabled: bool = True) -> Iterator[int]:
    """Inside the block the frozen fp32 ``nn.Linear`` weights of ``model`` are bf16; yields how many.

    Skipped (yields 0) when not ``enabled``, with gradients on, off the CPU, or when the bf16 copies would
    not fit in half of the memory still available."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)
               and m.weight.dtype == torch.float32 and m.weight.device.type == "cpu"]
    extra_gib = sum(m.weight.numel() for m in linears) * 2 / 2**30
    if not enabled or torch.is_grad_enabled() or not linears or extra_gib > available_gib() / 2:
        yield 0
        return
    kept = [(m, m.weight) for m in linears]
    try:
        for module, weight in kept:
            module.weight = torch.nn.Parameter(weight.detach().to(torch.bfloat16), requires_grad=False)
        yield len(kept)
    finally:
        for module, weight in kept:
            module.weight = weight
