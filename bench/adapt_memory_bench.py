"""Resident memory of a CPU LoRA training loop with variable-length batches, with and without malloc_trim.

The modality adaptation of the 1.5B embedded model grew from 12 GB to 24 GB over 57 steps. This bench
reproduces the pattern on the embedded model's LLM (the loop of ``rrs.embedded.adapt``: bf16 autocast
where the CPU supports it, LoRA on q/v, batches whose length changes every step) and prints resident
memory per step for each variant, each in a fresh process:

* ``vary``: lengths drawn per step (what adaptation does), nothing else;
* ``vary-trim``: the same, with ``rrs.hardware.release_free_memory`` (glibc ``malloc_trim``) after each step;
* ``fixed``: one length for every step.

    python bench/adapt_memory_bench.py --model embedded-small --steps 12
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = ("vary", "vary-trim", "fixed")


def run_variant(model_key: str, variant: str, steps: int, batch: int) -> list[dict[str, float]]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rrs.hardware import release_free_memory, resolve_precision, rss_gib
    from rrs.models.embedded.assemble import checkpoint_dir, prepare

    prepare(model_key, progress=False)
    llm = AutoModelForCausalLM.from_pretrained(checkpoint_dir(model_key) / "llm", dtype=torch.float32)
    llm = get_peft_model(llm, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    params = [p for p in llm.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=1e-4)
    bf16 = resolve_precision("auto") == "bf16"
    base = llm.base_model.model
    rng = random.Random(0)
    rows = []
    for step in range(steps):
        length = 120 if variant == "fixed" else rng.randint(60, 180)
        x = torch.randn(batch, length, base.config.hidden_size) * 0.02
        start = time.time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = base.model(inputs_embeds=x, use_cache=False).last_hidden_state
        picked = hidden[:, -16:].reshape(-1, hidden.shape[-1]).contiguous()
        loss = base.lm_head(picked.float()).logsumexp(-1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        del loss, hidden, picked
        if variant.endswith("trim"):
            release_free_memory()
        rows.append({"step": step + 1, "length": length, "rss_gib": round(rss_gib(), 2),
                     "seconds": round(time.time() - start, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded-small", choices=["embedded", "embedded-small"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant in this process (internal)")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.model, args.variant, args.steps, args.batch)))
        return
    results = {}
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--steps", str(args.steps),
                              "--batch", str(args.batch), "--variant", variant],
                             check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    print(f"| variant | RSS after step 1 (GiB) | RSS after step {args.steps} (GiB) | growth per step (MiB) | s/step |")
    print("|---|---|---|---|---|")
    for variant, rows in results.items():
        first, last = rows[0]["rss_gib"], rows[-1]["rss_gib"]
        per_step = 1024 * (last - first) / max(1, len(rows) - 1)
        seconds = sum(r["seconds"] for r in rows) / len(rows)
        print(f"| {variant} | {first:.2f} | {last:.2f} | {per_step:.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
