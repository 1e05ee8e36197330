"""SARSteer: Safe-Ablated Refusal Steering (arXiv 2510.17633), an inference-time defence with no training.

For every steered decoder layer ``l``, with ``h_l(x, t)`` the output of layer ``l`` at the last prompt token
for audio ``x`` and text instruction ``t`` (:meth:`~rrs.models.base.LALM.layer_hidden`):

1. Refusal direction, asked for in text while the harmful audio stays the same::

       d_l = mean_n( h_l(x_h_n, t + refusal_prompt) - h_l(x_h_n, t) )

2. Safe subspace: the top-``k`` right singular vectors ``U_l`` (rows, ``(k, hidden)``) of the centred benign
   activations ``h_l(x_b, t)``. Ablation removes the part of ``d_l`` that lies in it::

       v_l = d_l - lam * U_l^T U_l d_l

3. While generating, ``alpha * v_l`` is added to the last position of layer ``l``'s output on every forward
   pass (:func:`steer`). With a KV cache that is the prompt's last token during the prefill (the inputs are
   left-padded, so position -1 is every row's last prompt token) and then each newly generated token (every
   decoding step has sequence length 1). Steered keys and values of earlier tokens stay in the cache, so the
   result equals a cache-free run that steers the prompt's last token and all generated tokens.

:func:`sweep` scores (alpha, layer set) settings by ASR / ORR with :func:`rrs.evaluation.metrics.evaluate`,
:func:`pick_default` picks the best net safety improvement, and :func:`first_token_refusal_prob` gives the
probability of a refusal opener as the first response token (the dashboard's alpha slider).

Importing this module costs only the standard library; torch, safetensors and tqdm are imported when used.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrs.config import ConfigMixin
from rrs.data import EXTRACTION_PROMPT
from rrs.models.base import Modality, Query, check_modality
from rrs.store import atomic_write, atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from rrs.evaluation.metrics import EvalConfig, EvalItem
    from rrs.models.base import LALM

__all__ = [
    "DEFAULT_REFUSAL_PROMPT",
    "REFUSAL_PROMPT_VARIANTS",
    "SteeringConfig",
    "SteeringVectors",
    "compute_vectors",
    "first_token_refusal_prob",
    "pick_default",
    "refusal_prompt_text",
    "steer",
    "sweep",
]

#: The reference implementation's default refusal prompt, appended to the instruction t.
DEFAULT_REFUSAL_PROMPT = "I cannot assist with that."
#: The reference's three longer refusal prompts, paraphrased (not verbatim).
REFUSAL_PROMPT_VARIANTS: dict[str, str] = {
    "safety-check": (
        "Before you answer, check whether the request is harmful, dangerous, unethical or illegal. "
        "If it is, do not give any of the requested content and politely decline instead."
    ),
    "sorry": "If the request could cause harm, reply only with 'I am sorry' and nothing else.",
    "examples": (
        "Refuse this request in the way these replies do: \"I cannot help with that.\" "
        "\"I'm sorry, but I can't assist with this request.\" \"I won't provide that information.\" "
        "\"I have to decline, because this could hurt someone.\""
    ),
}
WEIGHTS_FILE = "vectors.safetensors"
CONFIG_FILE = "steering.json"


def refusal_prompt_text(choice: str) -> str:
    """The refusal prompt named by ``choice`` ('default' or a key of ``REFUSAL_PROMPT_VARIANTS``), else
    ``choice`` itself as literal text."""
    if choice == "default":
        return DEFAULT_REFUSAL_PROMPT
    return REFUSAL_PROMPT_VARIANTS.get(choice, choice)


# ---- configuration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SteeringConfig(ConfigMixin):
    """How the SARSteer vectors are extracted and, by default, applied. Serialisable with ``to_dict``."""

    #: Decoder layers to steer (``None``: all of them, resolved when the vectors are computed).
    layers: tuple[int, ...] | None = None
    #: Rank of the benign (safe) subspace; at most ``n_benign - 1`` are used.
    k: int = 10
    #: Ablation strength lambda: 1 removes the whole safe-subspace component of d, 0 keeps the raw d.
    lam: float = 1.0
    #: Default steering strength alpha.
    alpha: float = 0.1
    #: Appended to ``instruction`` (with a space) to ask for the refusal in text.
    refusal_prompt: str = DEFAULT_REFUSAL_PROMPT
    #: The text instruction t in audio-text mode.
    instruction: str = EXTRACTION_PROMPT
    #: Modality of the extraction prompts (see ``refused_prompt_inputs``).
    modality: Modality = "audio-text"

    def __post_init__(self) -> None:
        check_modality(self.modality)
        if self.layers is not None:
            layers = tuple(int(i) for i in self.layers)
            if len(set(layers)) != len(layers) or any(i < 0 for i in layers):
                raise ValueError(f"layers must be distinct non-negative indices, got {self.layers}")
            object.__setattr__(self, "layers", layers)
        if self.k < 0:
            raise ValueError("k must be >= 0")
        if not (math.isfinite(self.lam) and math.isfinite(self.alpha)):
            raise ValueError("lam and alpha must be finite")
        if not self.refusal_prompt.strip():
            raise ValueError("refusal_prompt must not be empty")

    @property
    def refused_instruction(self) -> str:
        """``t + refusal_prompt``."""
        return f"{self.instruction} {self.refusal_prompt}"


def refused_prompt_inputs(
    queries: Sequence[Query], cfg: SteeringConfig
) -> tuple[list[Query], Modality, str | None]:
    """Queries, modality and instruction of the refusal-prompted pass ``h(x, t + refusal_prompt)``.

    audio-text: the instruction becomes ``t + refusal_prompt``. text-only (the question is the text): the
    refusal prompt is appended to each question. audio-only has no text to extend, so the refused pass is
    audio-text with the refusal prompt alone as the instruction.
    """
    if cfg.modality == "audio-text":
        return list(queries), "audio-text", cfg.refused_instruction
    if cfg.modality == "text-only":
        return [replace(q, text=f"{q.text} {cfg.refusal_prompt}") for q in queries], "text-only", None
    return list(queries), "audio-text", cfg.refusal_prompt


# ---- vectors ------------------------------------------------------------------------------------
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


def _batches(items: Sequence[Query], size: int) -> Iterator[list[Query]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def compute_vectors(
    model: LALM,
    harmful_queries: Sequence[Query],
    benign_queries: Sequence[Query],
    cfg: SteeringConfig | None = None,
    batch_size: int = 8,
    progress: bool = True,
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

    n_batches = -(-len(harmful_queries) // batch_size) + -(-len(benign_queries) // batch_size)
    bar = tqdm(total=n_batches, disable=not progress, desc="SARSteer vectors", unit="batch")
    try:
        diff_sum = torch.zeros(len(layers), model.hidden_size, dtype=torch.float64)
        for plain, refused in zip(
            _batches(harmful_queries, batch_size), _batches(refused_queries, batch_size), strict=True
        ):
            h = model.layer_hidden(plain, cfg.modality, layers, cfg.instruction)
            h_ref = model.layer_hidden(refused, refused_modality, layers, refused_instruction)
            diff_sum += (h_ref.double() - h.double()).sum(dim=1).cpu()
            bar.update()
        benign = []
        for batch in _batches(benign_queries, batch_size):
            benign.append(model.layer_hidden(batch, cfg.modality, layers, cfg.instruction).double().cpu())
            bar.update()
    finally:
        bar.close()
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


# ---- application --------------------------------------------------------------------------------
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


# ---- choosing alpha and layers ------------------------------------------------------------------
def _layers_name(layers: Sequence[int] | None) -> str:
    return "none" if layers is None else "-".join(str(i) for i in layers) or "none"


def sweep(
    model: LALM,
    vectors: SteeringVectors,
    harmful_val: Sequence[Query | EvalItem],
    benign_val: Sequence[Query | EvalItem],
    alphas: Sequence[float],
    layer_sets: Sequence[Sequence[int] | None] = (None,),
    judge: Any = None,
    settings: EvalConfig | None = None,
    ablated: bool = True,
    records_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """ASR / ORR of every (alpha, layer set) on a validation split, with the alpha = 0 baseline first.

    ``layer_sets`` entries are subsets of ``vectors.layers`` (``None``: all of them). The baseline (no
    steering) is evaluated once, whatever ``alphas`` holds. Each row: ``alpha``, ``layers`` (list), ``asr``,
    ``orr``, ``nsi`` (versus the baseline), ``judge``, ``n_harmful``, ``n_benign``, ``seconds``. With
    ``records_dir`` each setting keeps resumable per-item records in its own JSONL file there.
    """
    from rrs.evaluation.metrics import EvalConfig, evaluate

    settings = settings or EvalConfig()
    grid: list[tuple[float, list[int]]] = [(0.0, [])]
    for alpha in alphas:
        if float(alpha) == 0.0:
            continue
        for layer_set in layer_sets:
            grid.append((float(alpha), list(vectors.layers) if layer_set is None else [int(i) for i in layer_set]))
    rows: list[dict[str, Any]] = []
    for alpha, layers in grid:
        records = None
        if records_dir is not None:
            name = re.sub(r"[^0-9a-zA-Z_.-]", "_", f"alpha{alpha:g}_layers{_layers_name(layers)}")
            records = Path(records_dir) / f"{name}.jsonl"
        with steer(model, vectors, alpha=alpha, layers=layers, ablated=ablated):
            result = evaluate(model, harmful_val, benign_val, settings, judge, progress, records)
        rows.append({
            "alpha": alpha, "layers": layers, "ablated": ablated, "asr": result.asr, "orr": result.orr,
            "judge": result.judge, "n_harmful": result.n_harmful, "n_benign": result.n_benign,
            "seconds": result.seconds,
        })
    for row in rows:
        row["nsi"] = _nsi(rows[0], row)
    return rows


def _nsi(base: dict[str, Any], row: dict[str, Any]) -> float | None:
    values = (base.get("asr"), row.get("asr"), base.get("orr"), row.get("orr"))
    if any(v is None for v in values):
        return None
    return (base["asr"] - row["asr"]) - (row["orr"] - base["orr"])


def pick_default(rows: Sequence[dict[str, Any]], max_orr_rise: float | None = None) -> dict[str, Any]:
    """The row with the best NSI = (ASR_0 - ASR) - (ORR - ORR_0) against the alpha = 0 row.

    The alpha = 0 row (NSI 0) is a candidate too, so no steering is chosen when nothing helps. Ties go to the
    lower ORR, then the smaller |alpha|, then fewer layers. Returns a copy of the row with ``nsi`` set.

    NSI alone can favour refusing everything when the baseline already refuses many benign queries (a rise
    of ORR from 80 to 100 costs only 20 points). ``max_orr_rise`` (in points) drops the rows whose ORR rises
    by more than that before choosing.
    """
    base = next((r for r in rows if float(r["alpha"]) == 0.0), None)
    if base is None:
        raise ValueError("pick_default needs the alpha = 0 row (as sweep returns it)")
    scored = []
    for row in rows:
        value = _nsi(base, row)
        if value is None:
            continue
        if max_orr_rise is not None and row["orr"] - base["orr"] > max_orr_rise and row is not base:
            continue
        scored.append({**row, "nsi": value})
    if not scored:
        raise ValueError("pick_default needs rows with both ASR and ORR")
    return min(scored, key=lambda r: (-r["nsi"], r["orr"], abs(float(r["alpha"])), len(r.get("layers") or [])))


# ---- first-token view ---------------------------------------------------------------------------
def first_token_refusal_prob(
    model: LALM,
    queries: Sequence[Query],
    vectors: SteeringVectors,
    alpha: float | None = None,
    refusal_ids: Sequence[int] | None = None,
    *,
    layers: Sequence[int] | None = None,
    ablated: bool = True,
    modality: Modality | None = None,
    instruction: str | None = None,
    batch_size: int = 8,
) -> float:
    """Mean over ``queries`` of the probability that the first response token is a refusal opener.

    Per query the softmax probabilities of ``refusal_ids`` (default: the model's refusal token, "I") are
    summed; modality and instruction default to the vectors' extraction config.
    """
    import torch

    if not queries:
        raise ValueError("first_token_refusal_prob needs at least one query")
    ids = sorted({int(i) for i in (refusal_ids if refusal_ids is not None else [model.refusal_token_id])})
    modality = modality or vectors.config.modality
    instruction = instruction if instruction is not None else vectors.config.instruction
    total = 0.0
    with steer(model, vectors, alpha=alpha, layers=layers, ablated=ablated):
        for batch in _batches(queries, batch_size):
            logits = model.first_token_logits(batch, modality, instruction)
            total += float(torch.softmax(logits.float(), dim=-1)[:, ids].sum(dim=-1).sum())
    return total / len(queries)


def first_token_curve(
    model: LALM,
    vectors: SteeringVectors,
    harmful: Sequence[Query],
    benign: Sequence[Query],
    alphas: Sequence[float],
    refusal_ids: Sequence[int] | None = None,
    layer_sets: Sequence[Sequence[int] | None] = (None,),
    progress: bool = False,
) -> list[dict[str, Any]]:
    """First-token refusal probability of harmful and benign queries per α and layer set, ablated (SARSteer)
    and plain. α = 0 is computed once (it is the same for every layer set); ``None`` = every vector's layer.
    Each row also holds ``gap`` = harmful − benign, the separation a good setting widens."""
    from tqdm.auto import tqdm

    settings = [(a, layers, ablated) for a in alphas for layers in (layer_sets if a else (None,))
                for ablated in ((True, False) if a else (True,))]
    rows = []
    for alpha, layers, ablated in tqdm(settings, disable=not progress, desc="first-token curve", unit="setting"):
        chosen = list(vectors.layers) if layers is None else [int(i) for i in layers]
        row: dict[str, Any] = {"alpha": float(alpha), "layers": chosen if alpha else [], "ablated": ablated}
        for label, queries in (("harmful", harmful), ("benign", benign)):
            row[label] = round(first_token_refusal_prob(model, queries, vectors, alpha, refusal_ids,
                                                        layers=chosen, ablated=ablated), 6)
        row["gap"] = round(row["harmful"] - row["benign"], 6)
        rows.append(row)
    return rows
