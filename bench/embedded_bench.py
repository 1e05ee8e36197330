"""Embedded model: cold assembly vs cached load, hidden-state extraction throughput, peak RAM.

    python bench/embedded_bench.py [--cold] [--n 32]

``--cold`` assembles the model into a temporary cache first (about a minute and a half on 2 cores).
Prints a table; figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import print_table  # noqa: E402 - the folder is put on the path just above


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also time assembly from the weight packages")
    parser.add_argument("--n", type=int, default=32, help="samples per batch-size setting")
    args = parser.parse_args()

    import torch

    from rrs.embedded.questions import benign_questions
    from rrs.models.base import Query
    from rrs.models.embedded.assemble import load_embedded, prepare
    from rrs.speech import synthesize_cached, voice_for

    rows = []
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RRS_CACHE"] = tmp
            start = time.time()
            prepare("embedded", progress=False)
            rows.append(("cold assembly (join GGUF, dequantise, convert Whisper, bridge)", time.time() - start, ""))
            os.environ.pop("RRS_CACHE")
    prepare("embedded", progress=False)
    start = time.time()
    model = load_embedded("embedded", progress=False)
    rows.append(("cached load", time.time() - start, ""))

    texts = benign_questions("heldout")[: args.n]
    waves = [synthesize_cached(t, voice_for(t, 1)) for t in texts]
    queries = [Query(t, w) for t, w in zip(texts, waves, strict=True)]
    start = time.time()
    model.hear(waves)
    front = time.time() - start
    rows.append(("speech front end (Whisper decode + bridge), per clip", front / len(waves), "s/clip"))
    torch.set_num_threads(os.cpu_count() or 2)
    for batch in (1, 4, 8, 16):
        start = time.time()
        with torch.no_grad():
            for i in range(0, len(queries), batch):
                model.last_hidden(queries[i : i + batch], "audio-text")
        elapsed = time.time() - start
        rows.append((f"last-hidden extraction, batch {batch}", len(queries) / elapsed, "samples/s"))
    rows.append(("peak RSS of this process", peak_rss_gib(), "GiB"))

    print_table(rows, "")


if __name__ == "__main__":
    main()
