"""Copy a finished training run into a recorded bundle (e.g. ``examples/rrs-demo``) that ships with the project.

Kept: config, metrics, timings, status, features, frozen targets, the probe set and its audio, every epoch's
snapshot, the maps already computed and, with ``--adapter``, the last epoch's adapter (18 MB for the 1.5B
demo, committed as parts below 5 MiB and joined on first use), so that ``python -m rrs eval --adapter
<bundle>`` works without training. Left out: the earlier
epochs' adapters, optimiser state, the job record, the lock and the log.

    python tools/record_run.py --adapter runs/rrs-demo examples/rrs-demo

Write the bundle's ``recorded.json`` by hand: it says what was recorded, when, and the commands.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rrs.store import RunFolder, atomic_write_json, split_file  # noqa: E402

KEEP_FILES = ("config.json", "metrics.jsonl", "timings.jsonl", "status.json", "probe.json", "targets.safetensors")
KEEP_DIRS = ("features", "probe_audio", "snapshots")




def record(src: Path, dest: Path, adapter: bool = False) -> Path:
    run = RunFolder(src)
    epochs = run.completed_epochs()
    if not epochs or run.read_status().get("state") != "done":
        raise SystemExit(f"{src} is not a finished run (state {run.read_status().get('state')!r})")
    dest.mkdir(parents=True, exist_ok=True)
    for name in KEEP_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
    for name in KEEP_DIRS:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name, dirs_exist_ok=True)
    for npz in (src / "projections").glob("*.npz"):
        (dest / "projections").mkdir(exist_ok=True)
        shutil.copy2(npz, dest / "projections" / npz.name)
    status = json.loads((dest / "status.json").read_text())
    status.pop("pid", None)
    (dest / "status.json").write_text(json.dumps(status, indent=1) + "\n")
    if adapter:
        _record_adapter(run, RunFolder(dest), epochs[-1])
    return dest


def _record_adapter(run: RunFolder, dest: RunFolder, epoch: int) -> None:
    """The last epoch's adapter, as a finished checkpoint of the bundle (no optimiser state, no model card)."""
    src, out = run.checkpoint(epoch), dest.checkpoint(epoch)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "adapter_model.safetensors", out / "adapter_model.safetensors")
    split_file(out / "adapter_model.safetensors")  # the parts are committed; the whole file is joined on use
    config = json.loads((src / "adapter_config.json").read_text())
    # peft writes the local path of the base weights; the bundle names the model spec instead
    config["base_model_name_or_path"] = run.read_config().get("model", "embedded")
    atomic_write_json(out / "adapter_config.json", config)
    shutil.copy2(src / "COMPLETE", out / "COMPLETE")  # last: the marker says the checkpoint is whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--adapter", action="store_true", help="keep the last epoch's adapter weights")
    args = parser.parse_args()
    print(record(args.src, args.dest, adapter=args.adapter))


if __name__ == "__main__":
    main()
