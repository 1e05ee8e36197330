"""What a training run's per-epoch probe costs, by part and by batch size, at the demo configuration.

    python bench/probe_bench.py [--model embedded] [--batches 8,16,32] [--windows 16,32] [--dtype bfloat16]

Builds the demo's probe set as a run does (100 + 100 held-out Mirror validation items, audio-text) and
attaches the demo's LoRA (as a run's probe sees the model: a peft model whose base weights are frozen),
then times, with the precision a run would use on this machine:

- the probe representations (one forward pass per item, the final-norm state at the last prompt token),
  for each batch size in ``--batches``, and as every epoch after the first computes them: replaying the
  tuned layers only (``rrs.models.prefix``);
- the generation probe (16 + 16 items, 2 sampled answers of 16 tokens), generating ``--windows`` queries
  per call.

``--dtype bfloat16`` loads the whole model in bf16 instead of fp32 weights under bf16 autocast (norms and
residual adds too), which CPUs without native bf16 elementwise kernels run far slower; docs/BENCHMARKS.md
has the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import print_table  # noqa: E402 - the folder is put on the path just above


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _replayed(model, cfg, probe, batch, reference, rows) -> None:
    """The representations as every epoch after the first computes them: the tuned layers only."""
    import torch

    from rrs.data.prompts import EXTRACTION_PROMPT
    from rrs.models.prefix import FrozenPrefix

    prefix = FrozenPrefix(model, min(cfg.lora_layers))
    for i in range(0, len(probe), batch):  # the first epoch: full passes, keeping the first tuned layer's input
        prefix.last_hidden(i, probe[i : i + batch], cfg.modality, EXTRACTION_PROMPT)
    start = time.perf_counter()
    replayed = torch.cat([prefix.last_hidden(i, probe[i : i + batch], cfg.modality, EXTRACTION_PROMPT)
                          for i in range(0, len(probe), batch)]).float()
    rows.append((f"representations, batch {batch}, layers {prefix.start}+ replayed", time.perf_counter() - start, "s"))
    rows.append((f"  max |Δ| vs the full pass, batch {batch}", float((replayed - reference).abs().max()), ""))
    rows.append(("  states kept", prefix.bytes / 2**20, "MiB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--batches", type=_ints, default=[8, 16, 32], help="probe representation batch sizes")
    parser.add_argument("--windows", type=_ints, default=[16, 32], help="queries per generation call")
    parser.add_argument("--dtype", default="auto", help="weights: auto (fp32 on CPU), float32 or bfloat16")
    parser.add_argument("--generation-only", action="store_true", help="skip the representations")
    args = parser.parse_args()

    import torch

    from rrs import data
    from rrs.data.prompts import EXTRACTION_PROMPT
    from rrs.data.splits import stratified_take
    from rrs.hardware import resolve_precision
    from rrs.models.loader import load_model
    from rrs.tuning import DEMO_CONFIG, attach_lora
    from rrs.tuning.generation_probe import generation_probe

    cfg = replace(DEMO_CONFIG, model=args.model)
    precision = resolve_precision(cfg.precision, "cpu")
    model = load_model(cfg.model, "cpu", args.dtype, progress=False)
    _train, val = data.split_pairs(data.mirror_pairs(), cfg.val_fraction, cfg.seed)
    pairs = stratified_take(val, cfg.probe_per_label)
    items = [p.harmful for p in pairs] + [p.benign for p in pairs]
    probe = data.to_queries(items, cfg.seed, progress=False)
    if hasattr(model, "hear"):  # the front end's output is cached during a run, so time the LLM only
        model.hear([q.audio for q in probe])
    torch.manual_seed(0)
    attach_lora(model, cfg)

    rows: list[tuple[str, float, str]] = [("probe items", len(probe), "items")]
    reference = None
    with torch.no_grad(), model.computing_in(precision):
        model.last_hidden(probe[:4], cfg.modality, EXTRACTION_PROMPT)  # warm-up
        for batch in [] if args.generation_only else args.batches:
            start = time.perf_counter()
            reps = torch.cat([model.last_hidden(probe[i : i + batch], cfg.modality, EXTRACTION_PROMPT)
                              for i in range(0, len(probe), batch)]).float()
            rows.append((f"representations, batch {batch}", time.perf_counter() - start, "s"))
            if reference is None:
                reference = reps
            else:  # other padding, same states up to rounding
                rows.append((f"  max |Δ| vs batch {args.batches[0]}", float((reps - reference).abs().max()), ""))
        if not args.generation_only:
            _replayed(model, cfg, probe, args.batches[0], reference, rows)
        for window in args.windows:
            start = time.perf_counter()
            result = generation_probe(model, cfg, probe, items, window=window)
            rows.append((f"generation probe, {window} queries a call", time.perf_counter() - start, "s"))
            rows.append((f"  ASR / ORR (n {result['n_harmful']} / {result['n_benign']})",
                         result["asr"], f"/ {result['orr']} %"))
    print_table(rows, f", model {args.model}, {args.dtype} weights, {precision} compute")


if __name__ == "__main__":
    main()
