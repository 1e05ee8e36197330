"""LoRA on the LLM: which projections to adapt, attaching a fresh adapter, the weight-change penalty
‖θ − θ0‖² of Eq. 13, and loading a saved adapter. peft and torch are imported when used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rrs.store import join_parts
from rrs.tuning.config import TuneConfig

__all__ = ["apply_adapter", "attach_lora", "lora_delta_penalty", "lora_targets"]


def lora_targets(model: Any, modules: Sequence[str], layers: Sequence[int] | None) -> list[str]:
    """Full names of the LLM projections to adapt, optionally restricted to some decoder layers."""
    names = [n for n in model.lora_target_modules if n.rsplit(".", 1)[-1] in modules]
    if layers is not None:
        wanted = {int(i) for i in layers}
        names = [n for n in names if int(re.search(r"layers\.(\d+)\.", n).group(1)) in wanted]
    if not names:
        raise ValueError("no LoRA target modules matched the chosen modules/layers")
    return names


def attach_lora(model: Any, cfg: TuneConfig) -> Any:
    """Wrap ``model.model`` with a fresh peft LoRA adapter (everything else frozen)."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, cfg.lora_modules, cfg.lora_layers)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none")
    model.model = get_peft_model(model.model, lora)
    return model.model


def lora_delta_penalty(peft_model: Any) -> Any:
    """Σ over adapted modules of ‖scaling · B·A‖²_F, i.e. ‖θ − θ0‖² for LoRA (Eq. 13's penalty).

    Computed from r × r Gram matrices, ‖s·BA‖²_F = s²·Σ (BᵀB) ⊙ (AAᵀ), never forming the d_out × d_in
    update: the same value, without the ~24 GiB of full-size updates autograd would keep on a 7B model
    (``python -m rrs plan``).
    """
    import torch
    from peft.tuners.lora import LoraLayer

    total = torch.zeros((), dtype=torch.float32)
    for module in peft_model.modules():
        if not isinstance(module, LoraLayer):
            continue
        for name in module.active_adapters:
            if name not in module.lora_A:
                continue
            a = module.lora_A[name].weight.float()
            b = module.lora_B[name].weight.float()
            gram = ((b.T @ b) * (a @ a.T)).sum() * module.scaling[name] ** 2
            total = total + gram.to(total.device)
    return total


def apply_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """Load a saved adapter into ``model`` and merge it (for evaluation and export)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_dir} holds no adapter (adapter_config.json missing)")
    join_parts(adapter_dir / "adapter_model.safetensors")  # a recorded bundle commits its weights in parts
    model.model = PeftModel.from_pretrained(model.model, str(adapter_dir)).merge_and_unload()
    model.invalidate_fingerprint()
    return model
