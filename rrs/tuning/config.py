"""The tuning contract: :class:`TuneConfig` (everything that defines a run, saved as ``config.json``), the
methods it can run, and the CPU demo configuration :data:`DEMO_CONFIG`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rrs.config import ConfigMixin
from rrs.hardware import PRECISIONS
from rrs.pair_selection import PAIR_SELECTIONS

__all__ = ["DEMO_CONFIG", "LORA_MODULES", "METHODS", "PRESETS", "TuneConfig"]

LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: ``python -m rrs train --method``: RRS and the four SFT baselines (paper §5.1).
METHODS = ("rrs", "sft-full", "sft-shallow-mirror", "sft-shallow-parallel", "sft-deep")


@dataclass(frozen=True)
class TuneConfig(ConfigMixin):
    """Everything that defines an RRS run. Serialised to ``config.json``; the contract with the UI/CLI."""

    model: str = "embedded"
    method: str = "rrs"
    pairs: str = "mirror"
    modality: str = "audio-text"
    top_percent: float = 25.0
    penalty: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 4
    lora_dropout: float = 0.1
    lora_modules: tuple[str, ...] = LORA_MODULES
    lora_layers: tuple[int, ...] | None = None
    lr: float = 5e-5
    epochs: int = 10
    batch_size: int = 4
    grad_accum: int = 2
    weight_decay: float = 0.001
    betas: tuple[float, float] = (0.9, 0.98)
    max_grad_norm: float = 1.0
    seed: int = 0
    pairs_per_category: int | None = None
    #: which ``pairs_per_category`` pairs: "first" (input order) or "boundary" (the pairs whose benign twin
    #: is most harmful-like, see rrs.pair_selection)
    pair_selection: str = "first"
    #: RRS only: per category, this many extra benign training questions without their harmful twins, the
    #: most harmful-like of the pairs not selected (rrs.pair_selection.benign_anchors); 0 adds none
    benign_anchors: int = 0
    val_fraction: float = 0.2
    probe_per_label: int = 50
    #: Per-epoch generation probe (the paper's ASR/ORR on a small sample): this many harmful and as many
    #: benign probe items, each answered ``gen_probe_samples`` times by sampling, judged by keywords;
    #: 0 turns it off.
    gen_probe_per_label: int = 0
    gen_probe_samples: int = 2
    gen_probe_tokens: int = 24
    #: Probe queries per forward pass (representations) and per ``generate`` call (the generation probe).
    #: Larger is cheaper on a CPU; the generation probe seeds each call, so a run keeps its window.
    probe_batch_size: int = 8
    gen_probe_window: int = 16
    device: str = "auto"
    dtype: str = "auto"
    #: training-step precision: "auto" = bf16 autocast where the device multiplies bf16 natively (CPUs with
    #: AMX or AVX-512 BF16, CUDA with bf16), else fp32. A run records the resolved value in its config.json.
    precision: str = "auto"
    #: Recompute each decoder layer's activations in the backward pass instead of keeping them: less memory
    #: (what a 7B model needs on one GPU, see ``python -m rrs plan``), about a third more compute.
    gradient_checkpointing: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if not 0 < self.top_percent <= 100:
            raise ValueError("top_percent must lie in (0, 100]")
        if self.penalty < 0:
            raise ValueError("penalty (λ) must be >= 0")
        if self.gen_probe_per_label < 0 or self.gen_probe_samples < 1 or self.gen_probe_tokens < 1:
            raise ValueError("gen_probe_per_label must be >= 0, gen_probe_samples and gen_probe_tokens >= 1")
        for name in ("epochs", "batch_size", "grad_accum", "lora_r", "probe_batch_size", "gen_probe_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.benign_anchors < 0 or (self.benign_anchors and self.method != "rrs"):
            raise ValueError("benign_anchors must be >= 0, and only RRS takes benign anchors")
        if self.pair_selection not in PAIR_SELECTIONS:
            raise ValueError(f"pair_selection must be one of {', '.join(PAIR_SELECTIONS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        unknown = set(self.lora_modules) - set(LORA_MODULES)
        if unknown:
            raise ValueError(f"unknown LoRA modules {sorted(unknown)}; choose from {', '.join(LORA_MODULES)}")


#: The demo configuration: sized to finish in about 15 minutes on a 2-core CPU with the 1.5B embedded model
#: (28 layers; LoRA on the top half), measured in docs/RESULTS.md. The 24-layer ``embedded-small`` takes
#: ``--lora-layers 12-23``. It samples 16 + 16 probe answers twice per epoch for the ASR/ORR curves.
DEMO_CONFIG = TuneConfig(
    pairs_per_category=6, epochs=4, batch_size=8, grad_accum=1, lr=3e-4, lora_r=8, lora_alpha=16,
    lora_layers=tuple(range(14, 28)), probe_per_label=100, gen_probe_per_label=16, gen_probe_samples=2,
    gen_probe_tokens=16,
)

#: The Tune form's presets: a quick look (a few minutes: every category, two epochs, small probes), the demo,
#: and the paper's reference settings (all Mirror training pairs, 10 epochs, batch 4 x 2, lr 5e-5, r 16).
PRESETS: dict[str, TuneConfig] = {
    "quick look": TuneConfig.from_dict({**DEMO_CONFIG.to_dict(), "pairs_per_category": 2, "epochs": 2,
                                        "probe_per_label": 28, "gen_probe_per_label": 14, "gen_probe_samples": 1}),
    "demo": DEMO_CONFIG,
    "paper": TuneConfig(),
}
