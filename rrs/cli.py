"""Command line: ``python -m rrs {features,train,eval,report} --help``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from rrs.data import EVAL_SETS
from rrs.tuning import METHODS


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="embedded",
                        help="embedded, embedded-smol, a local checkpoint folder, or a model id in the local HF cache")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16")


def cmd_features(args: argparse.Namespace) -> int:
    from rrs import data
    from rrs.features import FirstTokenPreview, compute_features, refusal_opener_ids
    from rrs.models.loader import load_model
    from rrs.representations import extract_pairs
    from rrs.store import atomic_write_json

    model = load_model(args.model, args.device, args.dtype)
    pairs = data.named_pairs(args.pairs, args.seed)
    pairs = data.pairs_per_category(pairs, args.pairs_per_category)
    harmful = data.to_queries([p.harmful for p in pairs], args.seed)
    benign = data.to_queries([p.benign for p in pairs], args.seed)
    reps = extract_pairs(model, harmful, benign, args.modality, data.EXTRACTION_PROMPT,
                         data.REFUSAL_EXTRACTION_PROMPT, batch_size=args.batch_size)
    feats = compute_features(reps, model.lm_head_row(model.refusal_token_id), args.top, model.refusal_token_id)
    out = Path(args.out)
    feats.save(out)
    bias = getattr(model.lm_head, "bias", None)
    preview = FirstTokenPreview(model.lm_head.weight, reps["harmful"], reps["benign"],
                                refusal_opener_ids(model.tokenizer), bias)
    summary = {**feats.summary(), "preview": preview.compare(feats), "n_pairs": len(pairs),
               "modality": args.modality, "model": model.name,
               "preview_by_top_percent": {str(m): preview.compare(feats.with_top(m))["after"]
                                          for m in (12.5, 25.0, 51.0, 100.0)}}
    atomic_write_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=1))
    return 0


def _tune_config(args: argparse.Namespace) -> Any:
    from rrs.tuning import DEMO_CONFIG, TuneConfig

    base = DEMO_CONFIG.to_json() if args.demo else TuneConfig().to_json()
    overrides = {"model": args.model, "pairs": args.pairs, "device": args.device, "dtype": args.dtype}
    for key in ("method", "top", "epochs", "lr", "batch_size", "grad_accum", "lora_r", "lora_alpha", "lora_dropout",
                "penalty", "pairs_per_category", "seed", "probe_per_label", "modality"):
        value = getattr(args, key)
        if value is not None:
            overrides["top_percent" if key == "top" else key] = value
    if args.lora_layers:
        overrides["lora_layers"] = _layers(args.lora_layers)
    return TuneConfig.from_json({**base, **overrides})


def _layers(text: str) -> list[int] | None:
    if text == "all":
        return None
    if "-" in text and "," not in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def cmd_train(args: argparse.Namespace) -> int:
    from rrs.tuning import RRSTrainer, TuneConfig

    run = Path(args.out)
    if args.resume and (run / "config.json").is_file():
        cfg = TuneConfig.from_json(json.loads((run / "config.json").read_text()))
    else:
        cfg = _tune_config(args)
    RRSTrainer(cfg, run).train(resume=args.resume)
    print(f"run finished: {run}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rrs import data
    from rrs.evaluation.judges import get_judge
    from rrs.evaluation.metrics import EvalConfig, EvalItem, evaluate
    from rrs.models.loader import load_model
    from rrs.tuning import RunDir, apply_adapter

    model = load_model(args.model, args.device, args.dtype)
    name = args.name or "vanilla"
    if args.adapter:
        adapter = Path(args.adapter)
        run = RunDir(adapter)
        if run.completed_epochs():
            adapter = run.checkpoint(run.completed_epochs()[-1])
        apply_adapter(model, adapter)
        name = args.name or Path(args.adapter).name
    needs_audio = args.modality != "text-only"
    wrapped = {}
    for label, spec in (("harmful", args.harmful), ("benign", args.benign)):
        items = data.eval_items(spec, label, args.limit, args.seed)
        queries = data.to_queries(items, args.seed, with_audio=needs_audio)
        wrapped[label] = [EvalItem(q, it.category) for q, it in zip(queries, items, strict=True)]
    cfg = EvalConfig(modality=args.modality, samples=args.samples, max_new_tokens=args.max_new_tokens,
                     batch_size=args.batch_size, seed=args.seed, judge=args.judge)
    judge = get_judge("llm", model=model) if args.judge == "llm" else get_judge(args.judge)
    out = Path(args.out)
    records = out.with_suffix(".records.jsonl")
    with contextlib.ExitStack() as stack:
        if args.steer:
            from rrs.steering import SteeringVectors, steer

            vectors = SteeringVectors.load(args.steer)
            stack.enter_context(steer(model, vectors, alpha=args.alpha, ablated=not args.no_ablate))
            if not args.name:
                name = ("rrs+" if args.adapter else "") + ("steer" if args.no_ablate else "sarsteer")
        result = evaluate(model, wrapped["harmful"], wrapped["benign"], cfg, judge, records_path=records)
    payload = result.to_dict()
    payload["method"] = name
    from rrs.store import atomic_write_json

    atomic_write_json(out, payload)
    print(json.dumps({k: payload[k] for k in ("method", "modality", "judge", "asr", "orr", "n_harmful", "n_benign")},
                     indent=1))
    return 0


def _steer_pairs(spec: str, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, validation) pairs for SARSteer: FigStep's own split, or a seeded split of Mirror / a file."""
    from rrs import data

    if spec == "figstep":
        return data.sarsteer_pairs("figstep", "train"), data.sarsteer_pairs("figstep", "test")
    return data.named_pairs(spec, seed, "train"), data.named_pairs(spec, seed, "val")


def cmd_steer(args: argparse.Namespace) -> int:
    from rrs import data
    from rrs.evaluation.judges import get_judge
    from rrs.evaluation.metrics import EvalConfig, EvalItem
    from rrs.models.loader import load_model
    from rrs.steering import (
        SteeringConfig,
        SteeringVectors,
        compute_vectors,
        pick_default,
        refusal_prompt_text,
        sweep,
    )
    from rrs.store import atomic_write_json

    model = load_model(args.model, args.device, args.dtype)
    train, val = _steer_pairs(args.pairs, args.seed)
    train = train[: args.n_pairs] if args.n_pairs else train
    cfg = SteeringConfig(layers=tuple(_layers(args.layers)) if _layers(args.layers) else None, k=args.k,
                         lam=args.lam, alpha=args.alpha, modality=args.modality,
                         refusal_prompt=refusal_prompt_text(args.refusal_prompt))
    out = Path(args.out)
    if args.vectors:
        vectors = SteeringVectors.load(args.vectors)
        print(f"using the SARSteer vectors in {args.vectors} ({len(vectors.layers)} layers)")
    else:
        harmful = data.to_queries([p.harmful for p in train], args.seed)
        benign = data.to_queries([p.benign for p in train], args.seed)
        vectors = compute_vectors(model, harmful, benign, cfg)
        vectors.save(out)
        print(f"saved SARSteer vectors for {len(vectors.layers)} layers to {out}")
    layer_sets = [_layers(spec.strip()) for spec in args.sweep_layers.split(";") if spec.strip()] or [None]
    val = val[args.sweep_skip : args.sweep_skip + args.sweep_limit]
    if (args.sweep or args.first_token) and not val:
        raise ValueError(f"no validation pairs left after --sweep-skip {args.sweep_skip}; lower it")
    if args.sweep:
        alphas = [float(a) for a in args.sweep.split(",")]
        wrap = {label: [EvalItem(q, it.category) for q, it in zip(
            data.to_queries(items, args.seed), items, strict=True)]
            for label, items in (("harmful", [p.harmful for p in val]), ("benign", [p.benign for p in val]))}
        settings = EvalConfig(modality=args.modality, samples=args.samples, max_new_tokens=args.max_new_tokens)
        rows = sweep(model, vectors, wrap["harmful"], wrap["benign"], alphas, layer_sets=layer_sets,
                     judge=get_judge("keyword"), settings=settings, records_dir=out / "sweep_records", progress=True)
        best = pick_default(rows, args.max_orr_rise)
        atomic_write_json(out / "sweep.json", {"rows": rows, "chosen": best})
        print(json.dumps({"chosen": best}, indent=1))
    if args.first_token:
        from rrs.features import refusal_opener_ids
        from rrs.steering import first_token_curve

        queries = {label: data.to_queries([getattr(p, label) for p in val], args.seed)
                   for label in ("harmful", "benign")}
        rows = first_token_curve(model, vectors, queries["harmful"], queries["benign"],
                                 [float(a) for a in args.first_token.split(",")], refusal_opener_ids(model.tokenizer),
                                 layer_sets=layer_sets, progress=True)
        atomic_write_json(out / "first_token.json", {"rows": rows, "n_pairs": len(val)})
        for row in rows:
            print(json.dumps(row))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rrs.compare import CompareConfig, parse_runs, run_comparison

    cfg = CompareConfig(
        model=args.model, methods=tuple(_csv(args.methods)), modalities=tuple(_csv(args.modalities)),
        harmful=args.harmful, benign=args.benign, limit=args.limit or None, samples=args.samples,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, judge=args.judge, seed=args.seed,
        demo=not args.paper_config, runs=parse_runs(args.run),
        train_overrides={"epochs": args.train_epochs} if args.train_epochs else {}, steer_pairs=args.steer_pairs, steer_k=args.k,
        steer_alpha=args.alpha, sweep_alphas=tuple(float(a) for a in _csv(args.sweep)),
        sweep_limit=args.sweep_limit, max_orr_rise=args.max_orr_rise, device=args.device, dtype=args.dtype)
    meta = run_comparison(cfg, args.out)
    print((Path(args.out) / "table" / "table3.md").read_text())
    print(f"{len([c for per in meta['cells'].values() for c in per])} cells in {args.out}")
    return 0


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_report(args: argparse.Namespace) -> int:
    from rrs.evaluation.metrics import EvalResult
    from rrs.evaluation.report import write_report

    results: dict[str, dict[str, Any]] = {}
    for spec in args.results:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        payload = json.loads(Path(path).read_text())
        method = name or payload.get("method") or Path(path).stem
        result = EvalResult.from_dict({k: v for k, v in payload.items() if k != "method"})
        results.setdefault(method, {})[result.modality] = result
    paths = write_report(results, args.out, baseline=args.baseline)
    print(Path(paths["markdown"]).read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rrs", description="RRS / SARSteer safety tools for audio LLMs")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="ΔV̄, per-feature contributions w_I·ΔV̄, top-m%% selection and preview")
    _model_args(p)
    p.add_argument("--pairs", default="mirror", help="'mirror' or a CSV/JSONL pairs file (harmful, benign, category)")
    p.add_argument("--modality", default="audio-text", choices=["audio-text", "text-only", "audio-only"])
    p.add_argument("--top", type=float, default=25.0, help="keep the top m%% of features (paper: 12.5, 25, 51)")
    p.add_argument("--pairs-per-category", type=int, default=None, help="use at most this many training pairs per category")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for summary.json and features.safetensors")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="RRS tuning or an SFT baseline into a run directory (resumable)")
    _model_args(p)
    p.add_argument("--method", default=None, choices=list(METHODS),
                   help="rrs (default) or an SFT baseline of the paper: sft-full (Basic), sft-shallow-mirror, "
                        "sft-shallow-parallel, sft-deep (see rrs/sft.py)")
    p.add_argument("--pairs", default="mirror")
    p.add_argument("--demo", action="store_true", help="start from the CPU demo configuration (docs/RESULTS.md)")
    p.add_argument("--top", type=float, default=None, help="top m%% of safety features")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--grad-accum", type=int, default=None)
    p.add_argument("--lora-r", type=int, default=None)
    p.add_argument("--lora-alpha", type=int, default=None)
    p.add_argument("--lora-dropout", type=float, default=None)
    p.add_argument("--lora-layers", default=None, help="'all', a range '16-23', or a list '20,21,22,23'")
    p.add_argument("--penalty", type=float, default=None, help="λ of the weight-change penalty (0 turns it off)")
    p.add_argument("--pairs-per-category", type=int, default=None)
    p.add_argument("--probe-per-label", type=int, default=None)
    p.add_argument("--modality", default=None, choices=["audio-text", "text-only", "audio-only"])
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last complete epoch")
    p.add_argument("--out", required=True, help="the run directory")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="ASR / ORR with n sampled answers per query, judged")
    _model_args(p)
    p.add_argument("--adapter", default=None, help="a run directory (last complete epoch) or an adapter folder")
    p.add_argument("--name", default=None, help="method name in reports (default: vanilla or the run name)")
    p.add_argument("--steer", default=None, help="a folder of SARSteer vectors (python -m rrs steer) to apply")
    p.add_argument("--alpha", type=float, default=None, help="steering strength (default: the vectors' alpha)")
    p.add_argument("--no-ablate", action="store_true", help="steer with the raw refusal vector d (no ablation)")
    p.add_argument("--harmful", default="harmbench", help=f"a CSV/JSONL file or one of {', '.join(EVAL_SETS)}")
    p.add_argument("--benign", default="overrefusal", help="a CSV/JSONL file or a built-in set name")
    p.add_argument("--limit", type=int, default=None, help="use at most this many items per set")
    p.add_argument("--modality", default="audio-text", choices=["audio-text", "text-only", "audio-only"])
    p.add_argument("--samples", type=int, default=5, help="sampled answers per query (AIAH: 5)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--judge", default="keyword", choices=["keyword", "first-token", "llm"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="results JSON; per-item records go beside it (.records.jsonl)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("steer", help="SARSteer: per-layer refusal vectors with the benign subspace ablated")
    _model_args(p)
    p.add_argument("--pairs", default="figstep", help="'figstep' (SARSteer's train/test split), 'mirror' or a pairs file")
    p.add_argument("--n-pairs", type=int, default=100, help="training pairs to use (reference: 100)")
    p.add_argument("--layers", default="all", help="'all', a range '8-20' or a list")
    p.add_argument("--k", type=int, default=10, help="rank of the benign subspace")
    p.add_argument("--lam", type=float, default=1.0, help="ablation strength λ (0: plain steering)")
    p.add_argument("--alpha", type=float, default=0.1, help="default steering strength α")
    p.add_argument("--modality", default="audio-text", choices=["audio-text", "text-only", "audio-only"])
    p.add_argument("--refusal-prompt", default="default",
                   help="text appended to the instruction to ask for a refusal: 'default' (\"I cannot assist with "
                        "that.\"), one of the reference's longer variants (safety-check, sorry, examples), or "
                        "your own text")
    p.add_argument("--sweep", default=None, help="comma-separated α values to evaluate on the validation split")
    p.add_argument("--max-orr-rise", type=float, default=None,
                   help="the sweep only picks settings whose ORR rises by at most this many points")
    p.add_argument("--sweep-layers", default="all",
                   help="layer sets the sweep (and --first-token) tries with every α, separated by ';', "
                        "e.g. 'all;12-23;18-23'")
    p.add_argument("--sweep-limit", type=int, default=40, help="validation pairs used by the sweep")
    p.add_argument("--sweep-skip", type=int, default=0,
                   help="skip this many validation pairs first (e.g. those a comparison evaluates on)")
    p.add_argument("--vectors", default=None,
                   help="use saved vectors (a folder from an earlier steer or compare run) instead of computing; "
                        "the extraction options (--layers, --k, --lam, --refusal-prompt, --n-pairs) are then "
                        "ignored")
    p.add_argument("--first-token", default=None,
                   help="comma-separated α values: first-token refusal probability of the validation pairs, "
                        "SARSteer and plain steering (no generation; cheap)")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for vectors.safetensors, steering.json, sweep.json")
    p.set_defaults(func=cmd_steer)

    from rrs.compare import ALL_METHODS, MODALITIES

    p = sub.add_parser("compare", help="every method on the same held-out sets: Table 2/3 with NSI (resumable)")
    _model_args(p)
    p.add_argument("--methods", default=",".join(ALL_METHODS), help="comma-separated subset of the default")
    p.add_argument("--modalities", default=",".join(MODALITIES))
    p.add_argument("--harmful", default="mirror-val-harmful", help="as for eval")
    p.add_argument("--benign", default="mirror-val-benign", help="as for eval")
    p.add_argument("--limit", type=int, default=60, help="items per set (0: all)")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--judge", default="keyword", choices=["keyword", "first-token", "llm"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paper-config", action="store_true",
                   help="train with the paper's settings (10 epochs, all pairs) instead of the CPU demo config")
    p.add_argument("--train-epochs", type=int, default=None,
                   help="epochs of the methods trained here (default: the demo config's 4)")
    p.add_argument("--run", action="append", default=[], metavar="METHOD=DIR",
                   help="reuse a finished run directory for a trained method (repeatable)")
    p.add_argument("--steer-pairs", type=int, default=100, help="Mirror training pairs for the SARSteer vectors")
    p.add_argument("--k", type=int, default=10, help="rank of SARSteer's benign subspace")
    p.add_argument("--alpha", type=float, default=None, help="fixed steering α (default: sweep and pick by NSI)")
    p.add_argument("--sweep", default="0.05,0.1,0.2,0.4", help="α values of the sweep")
    p.add_argument("--max-orr-rise", type=float, default=None,
                   help="the α sweep only picks settings whose ORR rises by at most this many points")
    p.add_argument("--sweep-limit", type=int, default=24,
                   help="Mirror validation pairs after the evaluated ones, used by the sweep")
    p.add_argument("--out", required=True, help="the comparison folder")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="the paper's Table 3 layout (Markdown, CSV, LaTeX) from eval results")
    p.add_argument("results", nargs="+", help="results JSON files, optionally NAME=path")
    p.add_argument("--baseline", default="vanilla")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A job started from a non-interactive shell's background (nohup ... &, a service) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: restore it so that Stop always works.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept (resume with the same command and --resume)", file=sys.stderr)
        return 130
