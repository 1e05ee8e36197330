"""SARSteer's vectors: refusal directions ``d_l``, safe subspaces ``U_l`` and ablated vectors ``v_l`` per layer
(:func:`compute_vectors`), saved and loaded as a folder (:class:`SteeringVectors`).

torch, safetensors and tqdm are imported when used.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrs.models.base import LALM, Query
from rrs.parallel import Parallel
from rrs.steering.config import SteeringConfig, refused_prompt_inputs
from rrs.store import atomic_write, atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    import torch


__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "SteeringVectors",
    "ablate",
    "batched",
    "compute_vectors",
    "safe_subspace",
]

WEIGHTS_FILE = "vectors.safetensors"
CONFIG_FILE = "steering.json"


@dataclass
class SteeringVectors:
    """Per steered layer: the raw refusal direction ``d``, the safe subspace ``U`` and the ablated ``v``.

    ``d`` and ``v`` are ``(n_layers, hidden)``, ``U`` is ``(n_layers, k, hidden)`` (orthonormal rows),
    float32 on the CPU; row ``i`` belongs to decoder layer ``layers[i]``.
    """

    layers: tuple[int, ...]
    d: torch.Tensor
    U: torch.Tensor
    v: torch.Tensor
    config: SteeringConfig
    #: Provenance: model name and fingerprint, sample counts, the k actually used.
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = tuple(int(i) for i in self.layers)
        n, hidden = len(self.layers), self.d.shape[-1]
        if self.d.shape != (n, hidden) or self.v.shape != (n, hidden) or self.U.shape[::2] != (n, hidden):
            raise ValueError(
                f"shapes do not fit {n} layers: d {tuple(self.d.shape)}, U {tuple(self.U.shape)}, "
                f"v {tuple(self.v.shape)}"
            )

    @property
    def k(self) -> int:
        return int(self.U.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.d.shape[-1])

    def vector(self, layer: int, ablated: bool = True) -> torch.Tensor:
        """``v_l`` (ablated) or ``d_l`` of decoder layer ``layer``."""
        if layer not in self.layers:
            raise KeyError(f"no steering vector for layer {layer}; have {list(self.layers)}")
        i = self.layers.index(layer)
        return (self.v if ablated else self.d)[i]

    def with_lam(self, lam: float) -> SteeringVectors:
        """The same d and U with ``v`` recomputed for another ablation strength (no new extraction)."""
        return replace(self, v=ablate(self.d, self.U, lam), config=replace(self.config, lam=float(lam)))

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``vectors.safetensors`` (d, U, v) and ``steering.json`` (layers, config, meta) to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        tensors = {name: getattr(self, name).detach().float().cpu().contiguous() for name in ("d", "U", "v")}
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
        atomic_write_json(
            folder / CONFIG_FILE,
            {"layers": list(self.layers), "k": self.k, "config": self.config.to_dict(), "meta": self.meta},
        )
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SteeringVectors:
        from safetensors.torch import load_file

        folder = Path(folder)
        info = json.loads((folder / CONFIG_FILE).read_text())
        tensors = load_file(str(folder / WEIGHTS_FILE))
        return cls(
            layers=tuple(info["layers"]),
            d=tensors["d"],
            U=tensors["U"],
            v=tensors["v"],
            config=SteeringConfig.from_dict(info["config"]),
            meta=dict(info.get("meta", {})),
        )


def ablate(d: torch.Tensor, U: torch.Tensor, lam: float) -> torch.Tensor:
    """``v = d - lam * U^T U d`` per layer, for ``d`` ``(L, H)`` and orthonormal rows ``U`` ``(L, k, H)``."""
    import torch

    coords = torch.einsum("lkh,lh->lk", U, d)
    return d - lam * torch.einsum("lk,lkh->lh", coords, U)


def safe_subspace(benign: torch.Tensor, k: int) -> torch.Tensor:
    """Top-``k`` right singular vectors of the centred ``benign`` activations ``(L, n, H)``: ``(L, k, H)``."""
    import torch

    centred = benign - benign.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return vh[:, :k].contiguous()


def batched(items: Sequence[Query], size: int) -> Iterator[list[Query]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def compute_vectors(
    model: LALM,
    harmful_queries: Sequence[Query],
    benign_queries: Sequence[Query],
    cfg: SteeringConfig | None = None,
    batch_size: int = 8,
    progress: bool = True,
    parallel: Parallel | None = None,
) -> SteeringVectors:
    """Extract SARSteer's d, U and v for ``cfg.layers`` (all decoder layers when ``None``).

    Three prompt passes: harmful with and without the refusal prompt (for d), benign without (for U).
    Activations are accumulated in float64. ``k`` is capped at ``n_benign - 1`` (the rank of the centred
    benign activations) with a warning.
    """
    import torch
    from tqdm.auto import tqdm

    cfg = cfg or SteeringConfig()
    if not harmful_queries:
        raise ValueError("compute_vectors needs at least one harmful query")
    if len(benign_queries) < 2 and cfg.k > 0:
        raise ValueError("the safe subspace needs at least two benign queries (or k=0)")
    layers = list(range(model.n_layers)) if cfg.layers is None else list(cfg.layers)
    if any(i >= model.n_layers for i in layers):
        raise ValueError(f"layers {layers} out of range for a model with {model.n_layers} decoder layers")
    k = min(cfg.k, max(len(benign_queries) - 1, 0), model.hidden_size)
    if k < cfg.k:
        warnings.warn(f"k={cfg.k} capped at {k} by {len(benign_queries)} benign queries", stacklevel=2)
    refused_queries, refused_modality, refused_instruction = refused_prompt_inputs(harmful_queries, cfg)
    par = parallel if parallel is not None else Parallel.single()

    # Under ``accelerate launch`` rank r takes every world-th batch; the sums and the benign activations
    # are then exchanged, so every rank returns the vectors of one process.
    harmful_batches = list(zip(batched(harmful_queries, batch_size), batched(refused_queries, batch_size),
                               strict=True))[par.rank :: par.world]
    benign_batches = list(enumerate(batched(benign_queries, batch_size)))[par.rank :: par.world]
    bar = tqdm(total=len(harmful_batches) + len(benign_batches), disable=not progress or not par.is_main,
               desc="SARSteer vectors", unit="batch")
    try:
        diff_sum = torch.zeros(len(layers), model.hidden_size, dtype=torch.float64)
        for plain, refused in harmful_batches:
            h = model.layer_hidden(plain, cfg.modality, layers, cfg.instruction)
            h_ref = model.layer_hidden(refused, refused_modality, layers, refused_instruction)
            diff_sum += (h_ref.double() - h.double()).sum(dim=1).cpu()
            bar.update()
        benign_parts = []
        for index, batch in benign_batches:
            benign_parts.append((index, model.layer_hidden(batch, cfg.modality, layers, cfg.instruction).double().cpu()))
            bar.update()
    finally:
        bar.close()
    if par.world > 1:
        diff_sum = sum(par.gather(diff_sum), torch.zeros_like(diff_sum))
        benign_parts = [part for parts in par.gather(benign_parts) for part in parts]
    benign = [acts for _, acts in sorted(benign_parts, key=lambda part: part[0])]
    d = diff_sum / len(harmful_queries)
    if benign and k > 0:
        U = safe_subspace(torch.cat(benign, dim=1), k)
    else:
        U = torch.zeros(len(layers), 0, model.hidden_size, dtype=torch.float64)
    v = ablate(d, U, cfg.lam)
    meta = {
        "model": getattr(model, "name", type(model).__name__),
        "fingerprint": model.fingerprint() if hasattr(model, "fingerprint") else None,
        "n_harmful": len(harmful_queries),
        "n_benign": len(benign_queries),
        "k_used": k,
        "refused_instruction": refused_instruction,
        "refused_modality": refused_modality,
    }
    return SteeringVectors(tuple(layers), d.float(), U.float(), v.float(), cfg, meta)
