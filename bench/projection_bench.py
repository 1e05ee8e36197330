"""How fast the Tune page switches epochs: cached map load + figure building for 1,400 points × 11 epochs.

    .venv/bin/python bench/projection_bench.py [--points 1400] [--epochs 11] [--hidden 896] [--repeat 5]

Writes random snapshots into a temporary run directory, computes the PCA map once (cache miss), then
times what a rerun of the page does: read the cached map (``rrs.projection.cached_projection``), build the
plotly figure with its animation frames (``dashboard.tune_view.map_figure``) and serialise it to JSON
(what ``st.plotly_chart`` sends to the browser). Target: cached load + figure < 0.5 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.tune_view import map_figure  # noqa: E402
from rrs.projection import cached_projection  # noqa: E402


def write_run(run: Path, points: int, epochs: int, hidden: int, seed: int = 0) -> list[dict]:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    (run / "snapshots").mkdir(parents=True)
    base = rng.standard_normal((points, hidden)).astype(np.float32)
    drift = rng.standard_normal((points, hidden)).astype(np.float32)
    for e in range(epochs):
        save_file({"representations": base + 0.1 * e * drift}, str(run / "snapshots" / f"epoch_{e:03d}.safetensors"))
    categories = [f"category_{i % 14}" for i in range(points)]
    return [{"uid": f"u{i}", "prompt": f"Question number {i} about something fairly long to hover over?",
             "label": "harmful" if i < points // 2 else "benign", "category": categories[i], "audio": None}
            for i in range(points)]


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1400)
    parser.add_argument("--epochs", type=int, default=11)
    parser.add_argument("--hidden", type=int, default=896)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slow", action="store_true", help="also time the t-SNE and UMAP cache misses (minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        probe = write_run(run, args.points, args.epochs, args.hidden)
        start = time.perf_counter()
        emap = cached_projection(run, "pca")
        miss = time.perf_counter() - start
        assert emap is not None and emap.computed
        load, emap = timed(lambda: cached_projection(run, "pca"), args.repeat)
        assert not emap.computed, "the second call must be a cache hit"
        rows = [("PCA map, cache miss (fit + write)", miss), ("cached map load", load)]
        for color_by in ("label", "category"):
            build, fig = timed(lambda c=color_by: map_figure(emap, probe, emap.epochs[-1], c),
                               args.repeat)
            to_json, payload = timed(lambda f=fig: f.to_json(validate=False), args.repeat)
            rows += [(f"figure build (colour by {color_by})", build), (f"figure to JSON ({len(payload) / 1e6:.1f} MB)",
                                                                       to_json)]
            rows.append((f"epoch switch total, by {color_by} (load + build)", load + build))
        for method in ("tsne", "umap") if args.slow else ():
            start = time.perf_counter()
            cached_projection(run, method)
            rows.append((f"{method} map, cache miss (background job)", time.perf_counter() - start))
            rows.append((f"{method} cached map load", timed(lambda m=method: cached_projection(run, m), args.repeat)[0]))
    print(f"{args.points} points x {args.epochs} epochs, hidden {args.hidden} (best of {args.repeat})")
    width = max(len(name) for name, _ in rows)
    print(f"{'step':<{width}}  milliseconds")
    print(f"{'-' * width}  ------------")
    for name, seconds in rows:
        print(f"{name:<{width}}  {1000 * seconds:12.1f}")
    total = max(s for n, s in rows if n.startswith("epoch switch"))
    print(f"\ntarget < 0.5 s for an epoch switch: {'OK' if total < 0.5 else 'MISSED'} ({total:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
