"""Safety features of the last hidden state (RRS paper §4.1, Eq. 9-10).

* ``ΔV̄ = mean_n(Ṽ(d_h_n) − V(d_b_n))``                                     (Eq. 9)
* ``c_p = w_I[p] · ΔV̄[p]``: feature p's contribution to the change of the "I" logit (Eq. 5)
* keep the features whose ``c_p`` is in the top m% (sorted descending)       (Eq. 10)
* ``ΔV̄ˢ``: ΔV̄ with the other features set to zero; ``Σ_{p∈S} c_p`` is the predicted change of the
  "I" logit when ΔV̄ˢ is added to a representation.

``FirstTokenPreview`` answers "what if" without training: it adds +ΔV̄ˢ to harmful and −ΔV̄ˢ to benign
representations, pushes them through ``lm_head`` and reports first-token refusal rates. Base logits are
computed once, so each new m costs one vector product and an argmax.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrs.store import atomic_write, atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    import torch

PAPER_TOP_PERCENTS = (12.5, 25.0, 51.0)


def delta_mean(harmful_refusal: torch.Tensor, benign: torch.Tensor) -> torch.Tensor:
    """Eq. 9: mean over aligned pairs of f(d_h, t̃) − f(d_b, t)."""
    if harmful_refusal.shape != benign.shape:
        raise ValueError(f"pair sets differ in shape: {tuple(harmful_refusal.shape)} vs {tuple(benign.shape)}")
    if harmful_refusal.shape[0] == 0:
        raise ValueError("no pairs given")
    return (harmful_refusal.double() - benign.double()).mean(0).float()


def contributions(w_refusal: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """c = w_I ⊙ ΔV̄."""
    return w_refusal.detach().float().cpu() * delta.float().cpu()


def n_selected(hidden_size: int, top_percent: float) -> int:
    if not 0.0 < top_percent <= 100.0:
        raise ValueError("top_percent must lie in (0, 100]")
    return max(1, min(hidden_size, math.ceil(hidden_size * top_percent / 100.0 - 1e-9)))


def select_top(contrib: torch.Tensor, top_percent: float) -> torch.Tensor:
    """Boolean mask of the features whose contribution is in the top m% (ties broken by index)."""
    import torch

    k = n_selected(contrib.numel(), top_percent)
    order = torch.argsort(contrib, descending=True, stable=True)
    mask = torch.zeros(contrib.numel(), dtype=torch.bool)
    mask[order[:k]] = True
    return mask


@dataclass
class SafetyFeatures:
    """ΔV̄, the contributions and one top-m% selection."""

    delta: torch.Tensor
    contrib: torch.Tensor
    top_percent: float
    refusal_token: str = "I"
    refusal_token_id: int = -1

    @property
    def mask(self) -> torch.Tensor:
        return select_top(self.contrib, self.top_percent)

    @property
    def safety_vector(self) -> torch.Tensor:
        """ΔV̄ˢ (Eq. 10)."""
        return self.delta * self.mask.float()

    @property
    def predicted_delta_logit(self) -> float:
        return float(self.contrib[self.mask].sum())

    @property
    def total_delta_logit(self) -> float:
        return float(self.contrib.sum())

    @property
    def positive_share(self) -> float:
        """Share of features with c_p > 0 (the paper's "safety features", ≈ 51%)."""
        return float((self.contrib > 0).float().mean())

    def with_top(self, top_percent: float) -> SafetyFeatures:
        return SafetyFeatures(self.delta, self.contrib, top_percent, self.refusal_token, self.refusal_token_id)

    def summary(self) -> dict[str, Any]:
        mask = self.mask
        return {
            "hidden_size": int(self.delta.numel()),
            "top_percent": self.top_percent,
            "n_selected": int(mask.sum()),
            "predicted_delta_logit": self.predicted_delta_logit,
            "total_delta_logit": self.total_delta_logit,
            "positive_share": self.positive_share,
            "refusal_token": self.refusal_token,
            "refusal_token_id": self.refusal_token_id,
            "safety_vector_norm": float(self.safety_vector.norm()),
        }

    def save(self, folder: str | Path) -> Path:
        """``features.safetensors`` (delta, contrib, mask, safety vector) + ``features.json``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        tensors = {"delta": self.delta.contiguous(), "contrib": self.contrib.contiguous(),
                   "mask": self.mask.to(dtype=self.delta.dtype), "safety_vector": self.safety_vector.contiguous()}
        atomic_write(folder / "features.safetensors", lambda tmp: save_file(tensors, tmp))
        atomic_write_json(folder / "features.json", self.summary())
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SafetyFeatures:
        from safetensors.torch import load_file

        folder = Path(folder)
        tensors = load_file(folder / "features.safetensors")
        meta = json.loads((folder / "features.json").read_text())
        return cls(tensors["delta"], tensors["contrib"], float(meta["top_percent"]), meta["refusal_token"],
                   int(meta["refusal_token_id"]))


def compute_features(
    reps: dict[str, torch.Tensor], w_refusal: torch.Tensor, top_percent: float, refusal_token_id: int = -1
) -> SafetyFeatures:
    """From ``extract_pairs`` output and the lm_head row of the refusal token."""
    delta = delta_mean(reps["harmful_refusal"], reps["benign"])
    return SafetyFeatures(delta, contributions(w_refusal, delta), top_percent, "I", refusal_token_id)


class FirstTokenPreview:
    """Predicted first-token refusal rates before/after shifting representations by ±ΔV̄ˢ."""

    def __init__(
        self,
        lm_head_weight: torch.Tensor,
        harmful: torch.Tensor,
        benign: torch.Tensor,
        refusal_ids: Sequence[int],
        lm_head_bias: torch.Tensor | None = None,
    ) -> None:
        import torch

        self.weight = lm_head_weight.detach().float().cpu()
        self.bias = None if lm_head_bias is None else lm_head_bias.detach().float().cpu()
        self.refusal_ids = torch.tensor(sorted(set(int(i) for i in refusal_ids)))
        with torch.no_grad():
            self.base = {"harmful": self._logits(harmful), "benign": self._logits(benign)}

    def _logits(self, reps: torch.Tensor) -> torch.Tensor:
        out = reps.float().cpu() @ self.weight.T
        return out if self.bias is None else out + self.bias

    def _rate(self, logits: torch.Tensor) -> float:
        import torch

        if logits.shape[0] == 0:
            return float("nan")
        top = logits.argmax(-1)
        return 100.0 * float(torch.isin(top, self.refusal_ids).float().mean())

    def rates(self, safety_vector: torch.Tensor | None) -> dict[str, float]:
        """Refusal % for harmful (+ΔV̄ˢ) and benign (−ΔV̄ˢ); ``None`` gives the unshifted rates."""
        import torch

        with torch.no_grad():
            if safety_vector is None:
                shift = torch.zeros(self.weight.shape[0])
            else:
                shift = self.weight @ safety_vector.float().cpu()
            return {
                "harmful": self._rate(self.base["harmful"] + shift),
                "benign": self._rate(self.base["benign"] - shift),
            }

    def compare(self, features: SafetyFeatures) -> dict[str, dict[str, float]]:
        return {"before": self.rates(None), "after": self.rates(features.safety_vector)}


def refusal_opener_ids(tokenizer: Any, openers: Sequence[str] = ("I", "As", "Sorry")) -> list[int]:
    """Token ids of refusal openers that are single tokens (looked up, never hard-coded)."""
    ids = []
    for word in openers:
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if len(encoded) == 1:
            ids.append(int(encoded[0]))
    return ids
