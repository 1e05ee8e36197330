"""Measure the peak memory of one job on a small random Qwen2 model, in a fresh process (used by test_plan).

    MALLOC_MMAP_THRESHOLD_=65536 python tests/plan_probe.py extraction:2:32 tuning:2:32 tuning:16:128:ckpt

Prints one JSON line: per case (job:batch:seq, ``ckpt`` for gradient checkpointing), the measured bytes and
the plan's prediction for the same shape and workload.

How it measures: the process high-water mark of resident memory (``VmHWM`` in ``/proc/self/status``), which
counts every byte torch's CPU allocator really holds, reset through ``/proc/self/clear_refs`` once the model
is built. Before the baseline is read, the same job runs once on a throwaway model with the same code paths,
so that lazily loaded kernels, thread pools and allocator caches do not count as the job's memory.

``MALLOC_MMAP_THRESHOLD_`` fixes glibc's threshold for serving a block with its own mapping. By default it
grows with every freed block, so freed activations end up in the heap and stay resident: the process then
peaks well above its live tensors (about 1.4x here in LoRA tuning), and by an amount that depends on
history. With the threshold fixed, freed tensors go back to the system and the peak is that of live tensors,
which is what the plan predicts. Cases run one after the other in one process, each with its own baseline.

* baseline   = resident memory after imports and the warm-up (no model);
* peak       = high-water mark after building the model and running the job once;
* measured   = peak - baseline: weights, LoRA state, activations and allocator slack of the job.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1))


def settle() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover
        pass


def build(hidden: int, layers: int, heads: int, kv_heads: int, mlp: int, vocab: int, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, tie_word_embeddings=False,
                         max_position_embeddings=4096)
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config).eval(), config


def run_job(model, job: str, batch: int, seq: int, r: int, dropout: float, checkpointing: bool = False) -> None:
    """One extraction forward (no grad, last position) or one RRS-like LoRA step (as rrs.tuning runs it)."""
    import torch

    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    if job == "extraction":
        with torch.no_grad():
            out = model.model(input_ids=ids, attention_mask=mask, use_cache=False)
            _ = model.lm_head(out.last_hidden_state[:, -1])
        return
    from peft import LoraConfig, get_peft_model

    from rrs.tuning import LORA_MODULES, lora_delta_penalty

    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=4, lora_dropout=dropout,
                                                  target_modules=list(LORA_MODULES), bias="none"))
    peft_model.train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=5e-5, betas=(0.9, 0.98), weight_decay=0.001)
    hidden = peft_model.base_model.model.model(input_ids=ids, attention_mask=mask, use_cache=False)
    pred = hidden.last_hidden_state[:, -1].float()
    loss = ((pred - torch.zeros_like(pred)) ** 2).sum(-1).mean() + lora_delta_penalty(peft_model)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimiser.step()


def measure(job: str, batch: int, seq: int, checkpointing: bool, args: argparse.Namespace) -> dict:
    """One case: baseline, build, reset the high-water mark, run the job, read it."""
    import torch

    from rrs.planning import Workload, memory_plan, shape_from_config

    settle()
    baseline = status_kib("VmRSS") * 1024
    if args.llm_folder:  # a saved checkpoint, e.g. the embedded model's LLM
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.llm_folder, dtype=torch.float32).eval()
        config = model.config
        with torch.no_grad():  # weights may be mapped from the file and paged in lazily: make them resident
            for param in model.parameters():
                param.data = param.data.clone()
    else:
        model, config = build(args.hidden, args.layers, args.heads, args.kv_heads, args.mlp, args.vocab)
    settle()
    Path("/proc/self/clear_refs").write_text("5")
    ready = status_kib("VmRSS") * 1024
    run_job(model, job, batch, seq, args.lora_r, args.lora_dropout, checkpointing)
    peak = status_kib("VmHWM") * 1024
    shape = shape_from_config(config, "probe")
    # CPU attention: torch's SDPA picks its fused CPU kernel here, so no T x T scores are counted.
    work = Workload(batch=batch, seq_len=seq, dtype="fp32", lora_r=args.lora_r, lora_dropout=args.lora_dropout,
                    devices=1, device="cpu")
    plan = memory_plan(shape, work)
    key = "extraction" if job == "extraction" else "tuning_checkpointed" if checkpointing else "tuning"
    del model
    return {"job": job, "batch": batch, "seq": seq, "checkpointing": checkpointing, "measured": peak - baseline,
            "model_resident": ready - baseline, "predicted": plan[key], "predicted_weights": plan["weights"],
            "predicted_penalty": plan["penalty"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases", nargs="+", help="job:batch:seq[:ckpt], job = extraction or tuning")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--mlp", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-dropout", type=float, default=0.1)
    parser.add_argument("--llm-folder", default=None, help="measure a saved causal LM instead of a random one")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    cases = []
    for case in args.cases:
        job, batch, seq, *rest = case.split(":")
        cases.append((job, int(batch), int(seq), bool(rest and rest[0] == "ckpt")))
    # Warm-up on a throwaway model: the same ops, so kernels and pools are loaded before any baseline.
    for job, _, _, ckpt in cases:
        warm, _ = build(32, 1, 2, 1, 64, 64)
        run_job(warm, job, 2, 8, 2, args.lora_dropout, ckpt)
        del warm
    print(json.dumps([measure(job, batch, seq, ckpt, args) for job, batch, seq, ckpt in cases]))


if __name__ == "__main__":
    main()
