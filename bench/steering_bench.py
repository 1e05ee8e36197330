"""SARSteer cost and effect: vector extraction time, steered vs plain generation time, and the first-token
refusal probability as alpha grows.

    python bench/steering_bench.py [--model tiny|embedded|PATH] [--n 8] [--alphas 0 0.1 0.5 1 2]

``tiny`` (default) is a random tiny Qwen2-Audio (timings only; its probabilities mean nothing). Other specs go
through ``rrs.models.loader.load_model``; the harmful / benign questions are then the first ``--n`` Mirror
pairs, spoken with the first voice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--n", type=int, default=8, help="harmful and benign queries each")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.5, 1.0, 2.0])
    parser.add_argument("--tokens", type=int, default=16, help="new tokens per generation")
    args = parser.parse_args()

    import torch

    from rrs.models.base import GenerationSettings, Query
    from rrs.steering import SteeringConfig, compute_vectors, first_token_refusal_prob, steer

    torch.set_num_threads(2)
    if args.model == "tiny":
        from rrs.testing import tiny_audio, tiny_qwen2_audio

        model = tiny_qwen2_audio(0)
        harmful = [Query(f"harmful {i}", tiny_audio(0.6 + 0.1 * i, seed=i)) for i in range(args.n)]
        benign = [Query(f"benign {i}", tiny_audio(0.6 + 0.1 * i, seed=100 + i)) for i in range(args.n)]
    else:
        from rrs.data import mirror_pairs
        from rrs.models.loader import load_model
        from rrs.speech import VOICES, synthesize_cached

        model = load_model(args.model, device="cpu", dtype="float32", progress=False)
        pairs = mirror_pairs()[: args.n]
        harmful = [Query(p.harmful.prompt, synthesize_cached(p.harmful.prompt, VOICES[0])) for p in pairs]
        benign = [Query(p.benign.prompt, synthesize_cached(p.benign.prompt, VOICES[0])) for p in pairs]

    start = time.perf_counter()
    vectors = compute_vectors(model, harmful, benign, SteeringConfig(k=min(10, args.n - 1)), progress=False)
    print(f"compute_vectors: {time.perf_counter() - start:.2f} s for {args.n}+{args.n} queries, "
          f"{len(vectors.layers)} layers, k={vectors.k}")
    print("layer  |d|      |v|      |v|/|d|")
    for i, layer in enumerate(vectors.layers):
        d, v = vectors.d[i].norm().item(), vectors.v[i].norm().item()
        print(f"{layer:5d}  {d:7.3f}  {v:7.3f}  {v / d if d else 0:.3f}")

    settings = GenerationSettings(max_new_tokens=args.tokens)
    for label, ctx in (("plain", None), ("steered", vectors)):
        start = time.perf_counter()
        if ctx is None:
            model.generate(harmful, "audio-text", None, settings)
        else:
            with steer(model, ctx, alpha=1.0):
                model.generate(harmful, "audio-text", None, settings)
        print(f"generate {label:8s}: {time.perf_counter() - start:.2f} s")

    print("alpha   P(refusal opener) harmful   benign")
    for alpha in args.alphas:
        ph = first_token_refusal_prob(model, harmful, vectors, alpha)
        pb = first_token_refusal_prob(model, benign, vectors, alpha)
        print(f"{alpha:5.2f}   {ph:.4f}                      {pb:.4f}")


if __name__ == "__main__":
    main()
