"""Training runs side by side, as the Markdown table docs/RESULTS.md shows for ablations.

    python tools/runs_table.py examples/rrs-demo runs/ablation-m12.5 runs/ablation-lambda0

For each run: the settings that differ from the first run, and at its last epoch the probe's first-token
refusal rates (Wilson 95% intervals), the sampled-answer ASR/ORR of the generation probe with their intervals,
and the separation scores. Rates of different runs whose intervals overlap are not told apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rrs.evaluation.intervals import wilson  # noqa: E402 - the project is put on the path just above
from rrs.store import RunFolder  # noqa: E402


def _rate(percent: float, n: int) -> str:
    low, high = wilson(round(percent * n / 100), n)
    return f"{percent:.0f} [{100 * low:.0f}, {100 * high:.0f}]"


def _ci(gen: dict, key: str) -> str:
    low, high = gen[f"{key}_ci"]
    return f"{gen[key]:.0f} [{low:.0f}, {high:.0f}]"


def row(folder: str, base: dict) -> str:
    run = RunFolder(folder)
    config = run.read_config()
    epochs = [r for r in run.read_metrics() if r.get("type") == "epoch"]
    if not epochs:
        return f"| {folder} | (no finished epoch) |"
    last = epochs[-1]
    sep, gen = last.get("separation") or {}, last.get("generation") or {}
    changed = ", ".join(f"{k}={config[k]}" for k in sorted(config) if k in base and config[k] != base[k]
                        and k not in ("notes",)) or "(reference)"
    n_h, n_b = sep.get("n_harmful", 0), sep.get("n_benign", 0)
    cells = [folder, changed, str(last["epoch"]), _rate(last["harmful_refusal"], n_h), _rate(last["benign_refusal"], n_b),
             _ci(gen, "asr") if gen else "–", _ci(gen, "orr") if gen else "–",
             f"{sep.get('silhouette', float('nan')):.2f}", f"{100 * sep.get('probe_accuracy', float('nan')):.1f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders; the first is the reference")
    args = parser.parse_args()
    base = RunFolder(args.runs[0]).read_config()
    print("| run | differs from the first | epoch | first-token refusal, harmful % | benign % | "
          "sampled ASR % | sampled ORR % | silhouette | probe accuracy % |")
    print("|---|---|---|---|---|---|---|---|---|")
    for folder in args.runs:
        print(row(folder, base))


if __name__ == "__main__":
    main()
