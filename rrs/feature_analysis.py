"""The computations behind the dashboard's Features page (no Streamlit in here).

:class:`FeatureAnalysis`: representations (from the disk cache of :mod:`rrs.representations`),
:class:`~rrs.features.SafetyFeatures`, a :class:`~rrs.features.FirstTokenPreview` and per-category ΔV̄,
built once; :meth:`FeatureAnalysis.readouts` then answers "what if I keep the top m%" in one
matrix-vector product, so a slider never recomputes representations. torch and pandas are imported when
used.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rrs.data.pairs import pair_uid
from rrs.data.prompts import EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT
from rrs.data.queries import to_queries
from rrs.data.types import Pair
from rrs.features import (
    FirstTokenPreview,
    SafetyFeatures,
    compute_features,
    delta_mean,
    refusal_opener_ids,
)
from rrs.features import (
    n_selected as count_selected,
)
from rrs.models.base import LALM, check_modality
from rrs.representations import extract_pairs
from rrs.store import atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch


__all__ = ["FeatureAnalysis", "ProgressFn", "share_kept"]

#: ``progress(fraction in [0, 1], message)``
ProgressFn = Callable[[float, str], None]


def share_kept(contrib: np.ndarray | torch.Tensor, n_selected: int) -> float:
    """Share of the predicted "I"-logit change kept by the top ``n_selected`` features:
    ``Σ_{p∈S} c_p / Σ_{p: c_p>0} c_p`` with S the ``n_selected`` largest contributions.

    It rises to exactly 1.0 when S is precisely the positive features (``n_selected`` = number of
    ``c_p > 0``), then falls as negative contributions are added: at 100% it is ``Σ c_p / Σ c_p⁺``, which
    is 1.0 only if no contribution is negative. NaN when no contribution is positive.
    """
    c = np.sort(np.asarray(contrib, dtype=np.float64).reshape(-1))[::-1]
    positive = float(c[c > 0].sum())
    if positive <= 0.0:
        return float("nan")
    return float(c[: max(0, int(n_selected))].sum() / positive)


class FeatureAnalysis:
    """Everything the Features page shows for one (model, pairs, modality), computed once.

    Build it with :meth:`from_model`. Attributes: ``pairs``, ``modality``, ``seed``, ``reps`` (the three
    representation sets of :func:`~rrs.representations.extract_pairs`), ``features`` (SafetyFeatures at the
    build-time ``top_percent``), ``preview`` (FirstTokenPreview; its base logits computed once),
    ``category_deltas`` (category -> ΔV̄ over that category's pairs), ``model_name``, ``fingerprint``.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        modality: str,
        reps: dict[str, torch.Tensor],
        features: SafetyFeatures,
        preview: FirstTokenPreview,
        *,
        seed: int = 0,
        model_name: str = "",
        fingerprint: str = "",
    ) -> None:
        import torch

        self.pairs = tuple(pairs)
        self.modality = check_modality(modality)
        self.reps = reps
        self.features = features
        self.preview = preview
        self.seed = int(seed)
        self.model_name = model_name
        self.fingerprint = fingerprint
        if len(self.pairs) != reps["benign"].shape[0]:
            raise ValueError(f"{len(self.pairs)} pairs but {reps['benign'].shape[0]} representations")

        by_category: dict[str, list[int]] = {}
        for i, pair in enumerate(self.pairs):
            by_category.setdefault(pair.category, []).append(i)
        self.category_deltas = {
            c: delta_mean(reps["harmful_refusal"][idx], reps["benign"][idx]) for c, idx in by_category.items()
        }
        self.category_sizes = {c: len(idx) for c, idx in by_category.items()}

        # Precomputed once so that readouts() costs one small matvec and two small argmaxes.
        contrib = features.contrib.detach().float().cpu()
        self.order = torch.argsort(contrib, descending=True, stable=True)  # select_top's order
        self.sorted_contrib = contrib[self.order].numpy().astype(np.float64)
        self._cumsum = np.concatenate([[0.0], np.cumsum(self.sorted_contrib)])
        self.positive_sum = float(self.sorted_contrib[self.sorted_contrib > 0].sum())
        self.n_positive = int((self.sorted_contrib > 0).sum())
        self._delta = features.delta.detach().float().cpu()
        base = {k: np.ascontiguousarray(v.numpy()) for k, v in preview.base.items()}
        self._refusal_ids = preview.refusal_ids.numpy()
        self._before = {k: self._rate(v.argmax(axis=1)) for k, v in base.items()}
        self._vocab = self._reachable_tokens(base)
        with torch.no_grad():
            self._weight = preview.weight[torch.from_numpy(self._vocab)].contiguous()
        self._base = {k: np.ascontiguousarray(v[:, self._vocab]) for k, v in base.items()}
        self._buffer = {k: np.empty_like(v) for k, v in self._base.items()}
        self._memo: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _reachable_tokens(self, base: dict[str, np.ndarray], chunk: int = 4096) -> np.ndarray:
        """Token ids that can be a first-token argmax for some top-k selection (k = 0..hidden), ascending.

        For every token v the shift s_v(k) = Σ_{j<k} W[v, order_j]·ΔV̄[order_j] lies between the smallest
        and the largest of its prefix sums (D_v <= 0 <= U_v), computed once in one pass over W. A harmful
        row i (logits b_i + s) can only pick v if b_iv + U_v >= max_u (b_iu + D_u); benign rows (b_i − s)
        likewise with the roles of U and D swapped. Every other token is dropped, which keeps readouts
        exact (up to float rounding, covered by a margin) while touching a small part of the vocabulary.
        """
        import torch

        weight, vocab = self.preview.weight, self.preview.weight.shape[0]
        delta = self._delta[self.order]
        upper = torch.empty(vocab)
        lower = torch.empty(vocab)
        with torch.no_grad():
            for lo in range(0, vocab, chunk):
                sums = (weight[lo : lo + chunk][:, self.order] * delta).cumsum(dim=1)
                upper[lo : lo + chunk] = sums.max(dim=1).values.clamp(min=0.0)
                lower[lo : lo + chunk] = sums.min(dim=1).values.clamp(max=0.0)
        up, down = upper.numpy(), lower.numpy()
        margin = 1e-3 * (1.0 + float(max(up.max(initial=0.0), -down.min(initial=0.0))))
        keep = np.zeros(vocab, dtype=bool)
        for logits, plus, minus in ((base["harmful"], up, down), (base["benign"], -down, -up)):
            if logits.shape[0]:
                floor = (logits + minus).max(axis=1, keepdims=True)
                keep |= (logits + plus + margin >= floor - margin).any(axis=0)
        return np.flatnonzero(keep)

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: LALM,
        pairs: Sequence[Pair],
        modality: str = "audio-text",
        *,
        seed: int = 0,
        top_percent: float = 25.0,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
    ) -> FeatureAnalysis:
        """Speech (speech cache) -> f(d_h, t), f(d_h, t̃), f(d_b, t) (representation disk cache: only
        missing entries cost a forward pass) -> SafetyFeatures and FirstTokenPreview.

        ``progress(fraction, message)`` is called as work advances (speech 0-30%, representations to 95%).
        Note that only audio-text mode has a text instruction; in text-only and audio-only modes t and t̃
        render the same prompt, so ΔV̄ there is mean(f(d_h) − f(d_b)).
        """
        import torch

        modality = check_modality(modality)
        pairs = list(pairs)
        if not pairs:
            raise ValueError("no pairs to analyse")
        report = progress or (lambda _f, _m: None)
        with_audio = modality != "text-only"
        n = len(pairs)

        harmful, benign = [], []
        for i, pair in enumerate(pairs):
            if with_audio:
                report(0.3 * i / n, f"Speech {i + 1}/{n}")
            harmful += to_queries([pair.harmful], seed, with_audio=with_audio, progress=False)
            benign += to_queries([pair.benign], seed, with_audio=with_audio, progress=False)
        start = 0.3 if with_audio else 0.0

        parts: list[dict[str, torch.Tensor]] = []
        for lo in range(0, n, batch_size):
            report(start + (0.95 - start) * lo / n, f"Representations {lo}/{n} pairs")
            parts.append(
                extract_pairs(model, harmful[lo : lo + batch_size], benign[lo : lo + batch_size], modality,
                              EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT, batch_size=batch_size,
                              progress=False)
            )
        reps = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
        report(0.95, "First-token preview")
        features = compute_features(
            reps, model.lm_head_row(model.refusal_token_id), top_percent, model.refusal_token_id
        )
        features.refusal_token = model.refusal_token
        bias = getattr(model.lm_head, "bias", None)
        preview = FirstTokenPreview(model.lm_head.weight, reps["harmful"], reps["benign"],
                                    refusal_opener_ids(model.tokenizer), bias)
        analysis = cls(pairs, modality, reps, features, preview, seed=seed, model_name=model.name,
                       fingerprint=model.fingerprint())
        report(1.0, "Done")
        return analysis

    # ---- readouts ------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.sorted_contrib.size)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def n_selected(self, top_percent: float) -> int:
        return count_selected(self.hidden_size, top_percent)

    def mask(self, top_percent: float) -> torch.Tensor:
        """The top-m% selection (the same as ``features.with_top(top_percent).mask``)."""
        import torch

        mask = torch.zeros(self.hidden_size, dtype=torch.bool)
        mask[self.order[: self.n_selected(top_percent)]] = True
        return mask

    def selection(self, top_percent: float) -> SafetyFeatures:
        return self.features.with_top(top_percent)

    def _rate(self, top_tokens: np.ndarray) -> float:
        """Refusal % among first tokens (argmax token ids)."""
        if top_tokens.size == 0:
            return float("nan")
        return 100.0 * float(np.isin(top_tokens, self._refusal_ids).mean())

    @property
    def n_reachable_tokens(self) -> int:
        """Size of the vocabulary part readouts() has to look at (see :meth:`_reachable_tokens`)."""
        return int(self._vocab.size)

    def readouts(self, top_percent: float) -> dict[str, Any]:
        """What keeping the top ``top_percent``% features means, without touching the model:

        * ``n_selected``, ``hidden_size``, ``top_percent``
        * ``predicted_delta_logit``: Σ_{p∈S} c_p, the predicted change of the "I" logit from adding ΔV̄ˢ
        * ``share_of_predicted_logit_kept``: Σ_{p∈S} c_p / Σ_{p: c_p>0} c_p (see :func:`share_kept`): 1.0
          exactly when S is the set of positive contributions, Σc/Σc⁺ at 100%, NaN if none is positive
        * ``harmful_refusal_before/after``: first-token refusal % of the harmful prompts f(d_h, t) without
          and with +ΔV̄ˢ; ``benign_refusal_before/after``: of the benign ones, with −ΔV̄ˢ
          (as :meth:`FirstTokenPreview.compare`)
        * ``safety_vector_norm``: ‖ΔV̄ˢ‖

        Cost: one matvec and two argmaxes over the tokens that can win at all (found once at construction,
        usually a small part of the vocabulary; at worst all of it); results are memoised per selection size.
        """
        k = self.n_selected(top_percent)
        with self._lock:
            if k not in self._memo:
                self._memo[k] = self._compute(k)
            out = dict(self._memo[k])
        out["top_percent"] = float(top_percent)
        return out

    def _compute(self, k: int) -> dict[str, Any]:
        import torch

        idx = self.order[:k]
        vector = torch.zeros(self.hidden_size)
        vector[idx] = self._delta[idx]
        with torch.no_grad():
            shift = (self._weight @ vector).numpy()  # W @ ΔV̄ˢ on the reachable tokens only
        harmful = np.add(self._base["harmful"], shift, out=self._buffer["harmful"])
        benign = np.subtract(self._base["benign"], shift, out=self._buffer["benign"])
        after = {
            "harmful": self._rate(self._vocab[harmful.argmax(axis=1)]) if harmful.size else math.nan,
            "benign": self._rate(self._vocab[benign.argmax(axis=1)]) if benign.size else math.nan,
        }
        predicted = float(self._cumsum[k])
        return {
            "n_selected": k,
            "hidden_size": self.hidden_size,
            "predicted_delta_logit": predicted,
            "share_of_predicted_logit_kept": (
                predicted / self.positive_sum if self.positive_sum > 0 else math.nan
            ),
            "harmful_refusal_before": self._before["harmful"],
            "harmful_refusal_after": after["harmful"],
            "benign_refusal_before": self._before["benign"],
            "benign_refusal_after": after["benign"],
            "safety_vector_norm": float(vector.norm()),
        }

    def category_norms(self, top_percent: float | None = None) -> pd.DataFrame:
        """Per category: ``n_pairs``, ``delta_norm`` ‖ΔV̄_c‖ (ΔV̄ over that category's pairs),
        ``selected_norm`` ‖ΔV̄_c ⊙ mask‖ for the top-m% mask (NaN without ``top_percent``) and
        ``cosine`` between ΔV̄_c and the overall ΔV̄. Sorted by ``delta_norm``, largest first."""
        import pandas as pd
        import torch

        mask = None if top_percent is None else self.mask(top_percent).float()
        overall = self._delta
        rows = []
        for category, delta in self.category_deltas.items():
            cosine = float(torch.nn.functional.cosine_similarity(delta, overall, dim=0))
            selected = math.nan if mask is None else float((delta * mask).norm())
            rows.append((category, self.category_sizes[category], float(delta.norm()), selected, cosine))
        table = pd.DataFrame(rows, columns=["category", "n_pairs", "delta_norm", "selected_norm", "cosine"])
        return table.sort_values("delta_norm", ascending=False, kind="stable").reset_index(drop=True)

    def save(self, folder: str | Path, top_percent: float) -> Path:
        """Write the selection with :meth:`SafetyFeatures.save` plus ``analysis.json`` (pairs, modality,
        model, readouts) into ``folder``; returns the folder."""
        folder = self.selection(top_percent).save(folder)
        readouts = self.readouts(top_percent)
        atomic_write_json(
            Path(folder) / "analysis.json",
            {
                "model": self.model_name,
                "model_fingerprint": self.fingerprint,
                "modality": self.modality,
                "seed": self.seed,
                "n_pairs": self.n_pairs,
                "categories": dict(self.category_sizes),
                "pair_uids": [pair_uid(p) for p in self.pairs],
                "readouts": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                             for k, v in readouts.items()},
            },
        )
        return Path(folder)
