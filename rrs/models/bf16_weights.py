"""Frozen linear weights held in bf16 while a bf16-autocast ``generate`` runs on a CPU.

Under autocast a linear layer multiplies ``x.to(bf16)`` by ``weight.to(bf16)``. It keeps the bf16 copy of a
weight only while the weight requires grad, and frozen weights (all of them when answering) do not, so every
decoded token casts every weight again: on the 1.5B embedded model that is 6 GB read and 3 GB written per
token, more than the token's matmuls cost on two cores. Inside :func:`frozen_linears_in_bf16` the frozen
``nn.Linear`` weights are bf16 copies, cast once; autocast then has nothing to cast, and the products are the
same numbers (the same bf16 operands). On exit the fp32 weights are put back, tied ones included. The
copies take 2 bytes a weight (3 GB for the 1.5B); where the OS has not that much to spare, nothing is
swapped and autocast casts as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from typing import Any

from rrs.hardware import available_gib

__all__ = ["frozen_linears_in_bf16"]


@contextlib.contextmanager
def frozen_linears_in_bf16(module: Any, enabled: bool = True, keep: Collection[Any] = ()) -> Iterator[int]:
    """Within the block, every fp32 ``nn.Linear`` weight of ``module`` that does not require grad is a bf16
    copy, except those of the layers in ``keep``; yields how many were swapped. Use it only where every
    swapped layer runs under bf16 autocast (keep the others)."""
    import torch

    swapped: list[tuple[Any, Any]] = []
    kept = {id(layer) for layer in keep}
    layers = [layer for layer in module.modules() if enabled and isinstance(layer, torch.nn.Linear)
              and layer.weight.dtype == torch.float32 and not layer.weight.requires_grad and id(layer) not in kept]
    needed = sum(layer.weight.numel() * 2 for layer in layers) / 2**30
    free = available_gib()
    if free is not None and needed > 0.8 * free:  # no room for the copies: autocast keeps casting instead
        layers = []
    try:
        with torch.no_grad():
            for layer in layers:
                weight = layer.weight
                layer.weight = torch.nn.Parameter(weight.to(torch.bfloat16), requires_grad=False)
                swapped.append((layer, weight))
        yield len(swapped)
    finally:
        for layer, weight in swapped:
            layer.weight = weight
