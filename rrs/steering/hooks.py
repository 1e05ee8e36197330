"""Applying SARSteer: :func:`steer` adds ``alpha * v_l`` to the last position of each steered layer's output
through forward hooks that are always removed when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rrs.models.base import LALM
from rrs.steering.vectors import SteeringVectors

if TYPE_CHECKING:  # pragma: no cover
    import torch


__all__ = ["steer"]

def _add_at_last_position(delta: torch.Tensor):
    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        import torch

        hidden = output[0] if isinstance(output, tuple) else output
        shift = delta.to(device=hidden.device, dtype=hidden.dtype)
        steered = torch.cat([hidden[:, :-1], hidden[:, -1:] + shift], dim=1)  # out of place
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    return hook


@contextlib.contextmanager
def steer(
    model: LALM,
    vectors: SteeringVectors,
    alpha: float | None = None,
    layers: Sequence[int] | None = None,
    ablated: bool = True,
) -> Iterator[list[int]]:
    """While active, add ``alpha * v_l`` (``d_l`` if not ``ablated``) to the last position of layer ``l``.

    ``alpha`` defaults to ``vectors.config.alpha``; ``layers`` (a subset of ``vectors.layers``) to all of
    them. Yields the steered layers. Hooks are always removed, also when the body raises. Contexts nest
    (their shifts add up).
    """
    alpha = vectors.config.alpha if alpha is None else float(alpha)
    chosen = list(vectors.layers) if layers is None else [int(i) for i in layers]
    if vectors.hidden_size != model.hidden_size:
        raise ValueError(f"vectors have width {vectors.hidden_size}, the model {model.hidden_size}")
    if any(i >= model.n_layers for i in chosen):
        raise ValueError(f"layers {chosen} out of range for a model with {model.n_layers} decoder layers")
    unknown = sorted(set(chosen) - set(vectors.layers))
    if unknown:
        raise ValueError(f"no steering vectors for layers {unknown}; have {list(vectors.layers)}")
    deltas = {i: alpha * vectors.vector(i, ablated) for i in chosen}
    handles = []
    try:
        for i in chosen:
            handles.append(model.decoder_layers[i].register_forward_hook(_add_at_last_position(deltas[i])))
        yield chosen
    finally:
        for handle in handles:
            handle.remove()
