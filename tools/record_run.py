"""Copy a finished training run into a recorded bundle (e.g. ``examples/rrs-demo``) that ships with the project.

Kept: config, metrics, timings, status, features, frozen targets, the probe set and its audio, every epoch's
snapshot and the maps already computed. Left out: the adapters (18 MB for the 1.5B demo: weights do not go
into the repository; rerun the recorded command to get them), optimiser state, the job record, the lock and
the log.

    python tools/record_run.py runs/rrs-demo examples/rrs-demo

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

from rrs.store import RunFolder  # noqa: E402

KEEP_FILES = ("config.json", "metrics.jsonl", "timings.jsonl", "status.json", "probe.json", "targets.safetensors")
KEEP_DIRS = ("features", "probe_audio", "snapshots")


def record(src: Path, dest: Path) -> Path:
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
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    print(record(args.src, args.dest))


if __name__ == "__main__":
    main()
