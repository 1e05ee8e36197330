"""Exporting a tuning run: its adapter (peft format) or the LLM with the adapter merged into its weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rrs.models.loader import load_model
from rrs.store import join_parts
from rrs.tuning.config import TuneConfig
from rrs.tuning.lora import apply_adapter
from rrs.tuning.run_dir import RunDir

__all__ = ["export_adapter", "export_merged"]


def export_adapter(run_dir: str | Path, out: str | Path, epoch: int | None = None) -> Path:
    """Copy a run's adapter (peft format) to ``out``; the last complete epoch by default."""
    run = RunDir(run_dir)
    done = run.completed_epochs()
    if not done:
        raise FileNotFoundError(f"{run_dir} has no complete epoch to export")
    src = run.checkpoint(epoch or done[-1])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    join_parts(src / "adapter_model.safetensors")  # a recorded bundle commits its weights in parts
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copyfile(src / name, out / name)
    return out


def export_merged(run_dir: str | Path, out: str | Path, epoch: int | None = None) -> Path:
    """Save the tuned LLM with the adapter merged into its weights (``save_pretrained`` layout)."""
    run = RunDir(run_dir)
    cfg = TuneConfig.from_json(json.loads(run.config.read_text()))
    done = run.completed_epochs()
    if not done:
        raise FileNotFoundError(f"{run_dir} has no complete epoch to export")
    model = apply_adapter(load_model(cfg.model, cfg.device, cfg.dtype), run.checkpoint(epoch or done[-1]))
    out = Path(out)
    model.model.save_pretrained(str(out))
    model.tokenizer.save_pretrained(str(out))
    return out
