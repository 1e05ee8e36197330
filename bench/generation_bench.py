"""Sampled answers with and without a shared prompt prefill (rrs.models.shared_prompt).

    python bench/generation_bench.py [--model embedded] [--n 16] [--samples 5] [--tokens 32] [--batch 16]

Times ``model.generate`` on ``--n`` held-out spoken questions (audio-text), ``--samples`` sampled answers each,
``--tokens`` new tokens, in batches of ``--batch`` questions, in the precision ``auto`` picks on this machine:
with the prompt computed once per question and the frozen weights cast to bf16 once per call (the default
path), then with autocast casting them at every token, then also with ``generate`` copying each prompt
``--samples`` times (plain ``transformers``). Speech and its front-end states are computed before the timing.
Prints a table; figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import print_table  # noqa: E402 - the folder is put on the path just above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--n", type=int, default=16, help="questions")
    parser.add_argument("--samples", type=int, default=5, help="sampled answers per question")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per answer")
    parser.add_argument("--batch", type=int, default=16, help="questions per generate call")
    args = parser.parse_args()

    from rrs.embedded.questions import benign_questions
    from rrs.hardware import resolve_precision
    from rrs.models.base import GenerationSettings, Query
    from rrs.models.loader import load_model
    from rrs.speech import synthesize_cached, voice_for

    model = load_model(args.model, device="cpu", progress=False)
    precision = resolve_precision("auto", "cpu")
    texts = benign_questions("heldout")[: args.n]
    queries = [Query(t, synthesize_cached(t, voice_for(t, 1))) for t in texts]
    model.hear([q.audio for q in queries])  # the front end's states, cached before the timing
    settings = GenerationSettings(max_new_tokens=args.tokens, do_sample=True, num_return_sequences=args.samples)

    def answer_all() -> float:
        start = time.perf_counter()
        with model.computing_in(precision):
            for i in range(0, len(queries), args.batch):
                model.generate(queries[i : i + args.batch], "audio-text", None, settings)
        return time.perf_counter() - start

    answer_all()  # warm-up: allocator, kernels
    both = answer_all()
    with mock.patch("rrs.models.base.frozen_linears_in_bf16") as off:  # autocast casts at every token
        off.return_value.__enter__.return_value = 0
        shared = answer_all()
        with mock.patch("rrs.models.base.can_share_prompt", return_value=False):
            plain = answer_all()
    n = len(queries)
    rows = [
        ("plain generate (prompt copied per answer, weights cast every token)", plain / n, "s"),
        ("shared prompt prefill, weights cast every token", shared / n, "s"),
        ("shared prompt prefill, frozen weights cast once per call (default)", both / n, "s"),
        ("speed-up, default against plain", plain / both, "x"),
    ]
    print_table(rows, f", {args.model}, {precision}, {n} questions × {args.samples} answers × {args.tokens} tokens, "
                      f"batch {args.batch}")


if __name__ == "__main__":
    main()
