"""How fast the Features page answers the top-m% slider: readouts from cached representations.

    .venv/bin/python bench/features_bench.py [--model embedded] [--pairs-per-category 8] [--repeat 5]

Loads the model, builds ``rrs.feature_analysis.FeatureAnalysis`` for Mirror training pairs (representations come
from the disk cache when they were extracted before, e.g. by ``python -m rrs features``), then times
``readouts(m)`` and ``category_norms(m)`` for several m. Target: < 300 ms per slider move.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--pairs-per-category", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from rrs.data.pairs import mirror_train_pairs
    from rrs.data.splits import pairs_per_category
    from rrs.feature_analysis import FeatureAnalysis
    from rrs.models.loader import load_model

    model = load_model(args.model, "cpu", "float32", progress=False)
    pairs = pairs_per_category(mirror_train_pairs(), args.pairs_per_category)
    start = time.perf_counter()
    fa = FeatureAnalysis.from_model(model, pairs, "audio-text")
    build = time.perf_counter() - start
    rows = [(f"build analysis for {len(pairs)} pairs (cache hits need no forward pass)", build * 1000)]
    for m in (12.5, 25.0, 51.0, 80.0):
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fa.readouts(m)
            fa.category_norms(m)
            best = min(best, time.perf_counter() - t0)
        rows.append((f"slider move to m = {m:g}% (readouts + per-category norms)", best * 1000))
    print(f"\n| {'measurement':<70} | {'ms':>9} |\n|{'-' * 72}|{'-' * 11}|")
    for name, ms in rows:
        print(f"| {name:<70} | {ms:>9.1f} |")


if __name__ == "__main__":
    main()
