"""Which benign probe items a training run pushed into refusal, and were they the most harmful-like before it?

    python tools/benign_flips.py examples/rrs-demo runs/ablation-m12.5

From a run's first and last probe snapshots and the model's ``lm_head``: the first-token probability mass on
refusal openers ("I", "As", "Sorry") of every probe item. A benign item *flips* when that mass ends above 0.5.
For the flipped items against the others, the AUROC of their epoch-0 *harmful-likeness*, i.e. the projection
of the epoch-0 state on (mean harmful − mean benign), with a bootstrap 95% interval. An AUROC near 1 says RRS
pushed the benign items that already sat nearest the harmful side; near 0.5 says the drift hit benign items
at random. The flipped items are listed with their harmful twins.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rrs.evaluation.intervals import auroc_interval  # noqa: E402 - the project is put on the path just above
from rrs.store import RunFolder  # noqa: E402


def refusal_mass(reps: Any, lm_head: Any, opener_ids: list[int]) -> Any:
    """Per row of ``reps``: the softmax probability of the first token being a refusal opener."""
    import torch

    return torch.softmax(reps.float() @ lm_head.float().T, -1)[:, opener_ids].sum(-1)


def flips(first: Any, last: Any, harmful: Any, lm_head: Any, opener_ids: list[int]) -> dict[str, Any]:
    """``first``/``last``: (N, hidden) probe states, ``harmful``: (N,) bool. Benign items that flipped and the
    AUROC of their epoch-0 harmful-likeness against the benign items that did not."""
    benign = ~harmful
    direction = first[harmful].mean(0) - first[benign].mean(0)
    likeness = first.float() @ direction.float()
    flipped = (refusal_mass(last, lm_head, opener_ids) > 0.5) & benign
    kept = benign & ~flipped
    stats = auroc_interval(likeness[flipped].tolist(), likeness[kept].tolist())
    return {"flipped": [int(i) for i in flipped.nonzero().flatten()], "n_benign": int(benign.sum()),
            "auroc": stats["auroc"], "ci": stats["ci"],
            "refused_harmful": float((refusal_mass(last, lm_head, opener_ids)[harmful] > 0.5).float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders with probe snapshots, trained on one model")
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file

    from rrs.features import refusal_opener_ids
    from rrs.models.loader import load_model

    model = load_model(RunFolder(args.runs[0]).read_config().get("model", "embedded"), "cpu", "float32",
                       progress=False)
    lm_head, ids = model.lm_head.weight.detach(), refusal_opener_ids(model.tokenizer)
    for folder in args.runs:
        run = RunFolder(folder)
        probe = json.loads(run.probe.read_text())
        snapshots = dict(run.snapshot_files())
        first, last = (next(iter(load_file(snapshots[e]).values())) for e in (min(snapshots), max(snapshots)))
        harmful = torch.tensor([p["label"] == "harmful" for p in probe])
        out = flips(first, last, harmful, lm_head, ids)
        n = len(probe) // 2  # the probe holds its harmful half, then the benign twins in the same order
        print(f"{folder}: {len(out['flipped'])} of {out['n_benign']} benign items flipped to refusal "
              f"(epoch {min(snapshots)} -> {max(snapshots)}); {100 * out['refused_harmful']:.0f}% of harmful refused; "
              f"AUROC of their epoch-{min(snapshots)} harmful-likeness {out['auroc']} {out['ci']}")
        for i in out["flipped"]:
            print(f"  {probe[i]['prompt']!r}  (twin: {probe[i - n]['prompt']!r})")


if __name__ == "__main__":
    main()
