"""``python -m rrs.plan``: parameters, peak memory, FLOPs and projected time of a run, before running it.

    python -m rrs.plan --model qwen2-audio-7b-instruct --method rrs
    python -m rrs.plan --model qwen2.5-omni-7b --batch 16 --devices 2 --tflops 300
    python -m rrs.plan --model /path/to/checkpoint   # any folder with a config.json

No weights are read: a built-in name uses the published shapes (``rrs.models.shapes``), a folder only its
``config.json``. The formulas, and what each row means, are in ``rrs/planning.py``'s docstring. The
command is meant to be wired in as ``python -m rrs plan``: :func:`add_plan_arguments` builds its arguments
on any parser and :func:`run_plan` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rrs.planning import Workload, plan_dict, shape_from_config

#: The issue's target run: 1,368 samples x 10 epochs.
TARGET_SAMPLES = 1368
TARGET_EPOCHS = 10
GIB = 2**30


def load_shape(model: str) -> Any:
    """A :class:`rrs.planning.Shape` for a built-in name or a checkpoint folder holding ``config.json``."""
    from rrs.models.shapes import builtin_config, canonical_name, is_builtin

    if is_builtin(model):
        name = canonical_name(model)
        return shape_from_config(builtin_config(name), name)
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        raise SystemExit(
            f"{model!r} is neither a built-in model (qwen2-audio-7b-instruct, qwen2.5-omni-7b) nor a folder "
            "with a config.json"
        )
    from transformers import AutoConfig

    return shape_from_config(AutoConfig.from_pretrained(folder, local_files_only=True), folder.name)  # nosec B615 # a local folder, never downloaded


def add_plan_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--model", default="qwen2-audio-7b-instruct",
                        help="qwen2-audio-7b-instruct, qwen2.5-omni-7b, or a checkpoint folder with config.json")
    parser.add_argument("--method", default="rrs",
                        help="rrs or an SFT baseline (same LoRA, same memory plan; SFT adds answer tokens)")
    parser.add_argument("--batch", type=int, default=16, help="samples per optimiser step, all devices (paper: 16)")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="samples per device per forward (default: batch / devices; rest is accumulation)")
    parser.add_argument("--seq-len", type=int, default=None,
                        help="prompt tokens per sample (default: 25 audio tokens/s of --audio-seconds + --text-tokens)")
    parser.add_argument("--audio-seconds", type=float, default=5.0, help="speech per clip")
    parser.add_argument("--text-tokens", type=int, default=48, help="template + instruction tokens per prompt")
    parser.add_argument("--new-tokens", type=int, default=256, help="generated tokens per answer")
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank (rrs.tuning default 16)")
    parser.add_argument("--lora-dropout", type=float, default=0.1, help="LoRA dropout (rrs.tuning default 0.1)")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                        help="the tuning row and run time use checkpointing (both rows are always printed)")
    parser.add_argument("--materialised-attention", action="store_true",
                        help="count T x T attention scores (eager attention, CPU); default: flash/SDPA kernels")
    parser.add_argument("--penalty", choices=["materialised", "gram"], default="gram",
                        help="how the λ‖B·A‖² penalty is formed: from r x r Gram matrices, as rrs.tuning does "
                             "(no large tensors), or with every full B·A in fp32 (the naive form)")
    parser.add_argument("--devices", type=int, default=1, help="data-parallel devices")
    parser.add_argument("--tflops", type=float, default=400.0, help="sustained matmul rate per device, TFLOP/s")
    parser.add_argument("--samples", type=int, default=TARGET_SAMPLES, help="training samples per epoch")
    parser.add_argument("--epochs", type=int, default=TARGET_EPOCHS)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON instead of tables")
    return parser


def workload_from_args(args: argparse.Namespace) -> Workload:
    return Workload(batch=args.batch, micro_batch=args.micro_batch, audio_seconds=args.audio_seconds,
                    text_tokens=args.text_tokens, seq_len=args.seq_len, new_tokens=args.new_tokens,
                    dtype=args.dtype, lora_r=args.lora_r, lora_dropout=args.lora_dropout, devices=args.devices,
                    materialised_attention=args.materialised_attention,
                    penalty_materialised=args.penalty == "materialised")


def _gib(n: float) -> str:
    return f"{n / GIB:,.1f} GiB"


def _params(n: int) -> str:
    return f"{n:,} ({n / 1e9:.2f} B)" if n >= 1e8 else f"{n:,} ({n / 1e6:.1f} M)"


def _time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def _rows(title: str, rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [title, *(f"  {k.ljust(width)}  {v}" for k, v in rows), ""]


def format_plan(plan: dict[str, Any], checkpointing: bool = True) -> str:
    s, w, p, m = plan["shape"], plan["workload"], plan["params"], plan["memory"]
    flops = plan["flops"] if checkpointing else plan["flops_no_checkpointing"]
    run = plan["run"] if checkpointing else plan["run_no_checkpointing"]
    lines = [f"plan: {s['name']}  (dtype {w['dtype']}, {w['devices']} device(s), micro-batch {w['micro_batch']} "
             f"of batch {w['batch']}, {w['tokens']} prompt tokens/sample, LoRA r {w['lora_r']})", ""]
    gqa = f"{s['kv_heads']} KV heads" + ("" if s["kv_heads"] != s["heads"] else " (no GQA)")
    lines += _rows("model", [
        ("LLM", f"{s['layers']} layers, hidden {s['hidden']:,}, {s['heads']} heads, {gqa}, MLP {s['intermediate']:,}, "
                f"vocab {s['vocab']:,}"),
        ("audio encoder", f"{s['audio_layers']} layers, d_model {s['audio_width']}, FFN {s['audio_ffn']}, "
                          f"{w['audio_positions']} positions/clip" if s["audio"] else "none"),
    ])
    lines += _rows("parameters", [
        ("total", _params(p["total"])),
        ("  LLM (embeddings + decoder)", _params(p["llm"])),
        ("  lm_head", _params(p["lm_head"]) if p["lm_head"] else "tied to the embeddings"),
        ("  audio encoder", _params(p["audio_encoder"])),
        ("  projector", _params(p["projector"]) if p["projector"] else "-"),
        ("  vision tower (loaded, unused)", _params(p["vision"]) if p["vision"] else "-"),
        ("trainable (LoRA q/k/v/o/gate/up/down)", _params(plan["lora_params"])),
    ])
    lines += _rows("peak memory per device", [
        ("weights", _gib(m["weights"])),
        ("LoRA weights, grads, AdamW state (fp32)", _gib(m["lora_state"])),
        ("LoRA penalty's B·A tensors (fp32, in tuning)", _gib(m["penalty"]) if m["penalty"] else "none (Gram form)"),
        ("extraction (forward, no grad)", _gib(m["extraction"])),
        ("tuning, LoRA + AdamW, checkpointing", _gib(m["tuning_checkpointed"])),
        ("tuning, LoRA + AdamW, no checkpointing", _gib(m["tuning"])),
        (f"generation (KV cache {_gib(m['kv_cache'])})", _gib(m["generation"])),
    ])
    rate = plan["tflops"]
    lines += _rows(f"FLOPs and time at {rate:g} TFLOP/s per device (a floor)", [
        ("extraction per sample", f"{flops['extraction_per_sample'] / 1e12:.2f} TFLOP"),
        ("tuning step" + (" (checkpointing)" if checkpointing else ""),
         f"{flops['tuning_step'] / 1e12:.1f} TFLOP -> {_time(run['step_s'])}"),
        (f"generation per sample ({w['new_tokens']} new tokens)", f"{flops['generation_per_sample'] / 1e12:.2f} TFLOP"),
        (f"run: {plan['samples']:,} samples x {plan['epochs']} epochs",
         f"{run['steps']:,} steps, {_time(run['tuning_s'])} tuning + {_time(run['targets_s'])} targets "
         f"= {_time(run['total_s'])}"),
    ])
    return "\n".join(lines).rstrip() + "\n"


def run_plan(args: argparse.Namespace) -> int:
    shape = load_shape(args.model)
    plan = plan_dict(shape, workload_from_args(args), args.samples, args.epochs, args.tflops)
    plan["method"] = args.method
    if args.json:
        print(json.dumps(plan, indent=1))
    else:
        print(format_plan(plan, args.gradient_checkpointing), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_plan_arguments(argparse.ArgumentParser(prog="python -m rrs.plan", description=__doc__.split("\n")[0]))
    return run_plan(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
