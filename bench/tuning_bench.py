"""RRS training throughput and peak memory at the demo configuration, beside the step's FLOP cost.

    python bench/tuning_bench.py [--model embedded] [--steps 6] [--weights bfloat16] [--cast-each-step]

Runs real RRS steps (forward with LoRA, representation loss, penalty, backward, AdamW) on Mirror samples
and prints a table: samples/s, seconds/step, peak RSS, and the forward+backward FLOPs of one step
against the measured matmul rate of this machine, so the gap to the hardware limit is visible. Under bf16
autocast on a CPU the frozen fp32 weights are held as bf16 copies for the steps, as a training run does;
``--cast-each-step`` leaves them to autocast, which casts them again in every forward pass.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import print_table  # noqa: E402 - the folder is put on the path just above


def matmul_gflops(dtype_name: str = "float32", n: int = 2048, repeats: int = 5) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--weights", default="float32", choices=("float32", "bfloat16"),
                        help="dtype of the frozen weights (LoRA and optimiser state stay float32)")
    parser.add_argument("--cast-each-step", action="store_true",
                        help="do not hold bf16 copies of the frozen weights: autocast casts them every step")
    args = parser.parse_args()

    import torch

    from rrs import data
    from rrs.hardware import resolve_precision
    from rrs.models.loader import load_model
    from rrs.tuning import DEMO_CONFIG, attach_lora, lora_delta_penalty

    cfg = replace(DEMO_CONFIG, model=args.model)
    precision = resolve_precision(cfg.precision, "cpu")  # what a run on this machine uses (bf16 where native)
    model = load_model(cfg.model, "cpu", args.weights, progress=False)
    pairs = data.split_pairs(data.mirror_pairs(), cfg.val_fraction, cfg.seed)[0][: cfg.batch_size * args.steps]
    queries = data.to_queries([p.harmful for p in pairs], cfg.seed, progress=False)
    if hasattr(model, "hear"):  # the embedded front end's output is cached, as it is during training
        model.hear([q.audio for q in queries])
    inputs = model.build_inputs(queries[: cfg.batch_size], cfg.modality, data.PROMPT_POOL[0])
    tokens_per_sample = float(inputs["attention_mask"].sum()) / cfg.batch_size

    torch.manual_seed(0)
    peft_model = attach_lora(model, cfg)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    target = torch.zeros(cfg.batch_size, model.hidden_size)
    times = []
    held = contextlib.nullcontext(0) if args.cast_each_step else model.frozen_weights_in_bf16(precision)
    with held as n_held:
        for step in range(args.steps):
            batch = queries[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            start = time.perf_counter()
            with model.computing_in(precision):
                pred = model.last_hidden(batch, cfg.modality, data.PROMPT_POOL[step % 10], grad=True).float()
            loss = ((pred - target[: len(batch)]) ** 2).sum(-1).mean() + cfg.penalty * lora_delta_penalty(peft_model)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            times.append(time.perf_counter() - start)
    steady = sorted(times[1:])[len(times[1:]) // 2]  # median, first step excluded (warm-up)

    n_params = sum(p.numel() for p in model.decoder_layers.parameters())  # the matmul weights per token
    layers = len(cfg.lora_layers) if cfg.lora_layers else model.n_layers
    frac = layers / model.n_layers
    tokens = tokens_per_sample * cfg.batch_size
    # forward 2·P per token; backward through the LoRA layers only: 2·P·frac (activation grads).
    flops = 2 * n_params * tokens * (1 + frac)
    rate = matmul_gflops("bfloat16" if precision == "bf16" else "float32")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = [
        ("batch size (demo config)", cfg.batch_size, ""),
        ("LoRA layers", layers, f"of {model.n_layers}"),
        ("mean prompt tokens per sample", tokens_per_sample, "tokens"),
        ("seconds per step (median after warm-up)", steady, "s"),
        ("training throughput", cfg.batch_size / steady, "samples/s"),
        ("forward+backward cost of one step (estimate)", flops / 1e12, "TFLOP"),
        (f"{precision} matmul rate of this machine (2048³)", rate, "GFLOP/s"),
        ("step time at that rate (lower bound)", flops / (rate * 1e9), "s"),
        ("frozen linear weights held in bf16 for the steps", n_held, "layers"),
        ("peak RSS", peak, "GiB"),
    ]
    print_table(rows, f", model {args.model}, {args.weights} frozen weights, {precision} compute")


if __name__ == "__main__":
    main()
