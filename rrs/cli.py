"""Command line: ``python -m rrs {features,train,eval,steer,compare,report,project,export,plan} --help``.

Every job command takes ``--out FOLDER`` and ``--config FILE``: its flags are the fields of the job's config
dataclass (:mod:`rrs.runs.configs`, :class:`rrs.tuning.TuneConfig`, :class:`rrs.compare.CompareConfig`), so
``python -m rrs train --config runs/x/config.json --out runs/x`` repeats (or resumes) a run exactly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rrs.compare import ALL_METHODS, CompareConfig, parse_runs, run_comparison
from rrs.data import EVAL_SETS
from rrs.evaluation.judges import JUDGES
from rrs.evaluation.metrics import EvalResult
from rrs.evaluation.report import write_report
from rrs.models.base import MODALITIES
from rrs.parallel import Parallel
from rrs.plan import add_plan_arguments, run_plan
from rrs.projection import METHODS as MAP_METHODS
from rrs.runs import commands
from rrs.runs.configs import EvalJob, FeaturesJob, ProjectionJob, SteerJob
from rrs.runs.flags import add_config, add_fields, config_from, same_file
from rrs.runs.maps import project
from rrs.store import DiskFull, FolderBusy, RunFolder
from rrs.tuning import DEMO_CONFIG, METHODS, RRSTrainer, TuneConfig, export_adapter, export_merged
from rrs.tuning.epoch_choice import resolve_epoch

MODEL_HELPS = {
    "model": "embedded, embedded-small, embedded-smol, a local checkpoint folder, or a model id in the local HF cache",
    "device": "auto (CUDA if present), cpu, cuda, cuda:1, ...",
    "dtype": "auto (bf16 on GPU, fp32 on CPU), float32, bfloat16",
}
LAYERS = "'all', a range '16-23', or a list '20,21,22,23'"


BY_LENGTH_HELP = "batch queries of similar length together: less padding (faster on a GPU), other sampled answers"


def _log(item: Any) -> None:
    print(item if isinstance(item, str) else json.dumps(item, indent=1 if "chosen" in item else None))


def _folder_config(cfg: Any, out: Path, args: argparse.Namespace) -> None:
    """Keep the config beside the results, unless it was read from there."""
    if not same_file(args.config, out / RunFolder.CONFIG):
        cfg.save(out / RunFolder.CONFIG)


def _in_folder(out: Path, message: str, cfg: Any, args: argparse.Namespace, parallel: Parallel,
               body: Callable[[], Any]) -> Any:
    """Run ``body`` as the job of folder ``out``: rank 0 holds its lock, status and config; under
    ``accelerate launch`` the other ranks only compute (:mod:`rrs.parallel`)."""
    if not parallel.is_main:
        return body()
    with commands.tracked(out, message):
        _folder_config(cfg, out, args)
        return body()


def cmd_features(args: argparse.Namespace) -> int:
    cfg = config_from(args, FeaturesJob)
    out = Path(args.out)
    parallel = Parallel()  # several ranks under `accelerate launch` share the forward passes
    summary = _in_folder(out, "computing features", cfg, args, parallel,
                         lambda: commands.run_features(cfg, out, parallel))
    if parallel.is_main:
        print(json.dumps(summary, indent=1))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    run = RunFolder(args.out)
    own = same_file(args.config, run.config)  # the run's own config: start it, or continue it
    if args.resume and run.config.is_file() and not args.config:
        cfg = TuneConfig.from_dict(run.read_config())
    else:
        cfg = config_from(args, TuneConfig, DEMO_CONFIG if args.demo else TuneConfig())
    RRSTrainer(cfg, run.path).train(resume=args.resume or own)
    print(f"run finished: {run.path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    cfg = config_from(args, EvalJob)
    out = Path(args.out)
    parallel = Parallel()  # several ranks under `accelerate launch`: rank 0 owns the folder
    if out.suffix == ".json":  # the older form: --out names the results file itself
        payload = commands.run_eval(cfg, out, parallel)
    else:
        payload = _in_folder(out, "evaluating", cfg, args, parallel,
                             lambda: commands.run_eval(cfg, RunFolder(out).results, parallel))
    print(json.dumps({k: payload[k] for k in ("method", "modality", "judge", "asr", "orr", "n_harmful",
                                              "n_benign")}, indent=1))
    return 0


def cmd_steer(args: argparse.Namespace) -> int:
    cfg = config_from(args, SteerJob)
    out = Path(args.out)
    parallel = Parallel()  # several ranks under `accelerate launch` share the forward passes and answers
    _in_folder(out, "computing steering vectors", cfg, args, parallel,
               lambda: commands.run_steer(cfg, out, log=_log, parallel=parallel))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    cfg = config_from(args, CompareConfig, convert={"runs": parse_runs})
    out = Path(args.out)
    parallel = Parallel()  # several ranks under `accelerate launch`: training and answers are shared
    meta = _in_folder(out, "comparing", cfg, args, parallel, lambda: run_comparison(cfg, out, parallel=parallel))
    if not parallel.is_main:
        return 0
    print((out / "table" / "table3.md").read_text())
    print(f"{len([c for per in meta['cells'].values() for c in per])} cells in {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    results: dict[str, dict[str, Any]] = {}
    for spec in args.results:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = RunFolder(path).results if Path(path).is_dir() else Path(path)
        payload = json.loads(path.read_text())
        method = name or payload.get("method") or path.stem
        result = EvalResult.from_dict({k: v for k, v in payload.items() if k != "method"})
        results.setdefault(method, {})[result.modality] = result
    paths = write_report(results, args.out, baseline=args.baseline)
    print(Path(paths["markdown"]).read_text())
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    cfg = config_from(args, ProjectionJob)
    out = Path(args.out)
    with commands.tracked(out, f"computing the {cfg.method} map"):
        _folder_config(cfg, out, args)
        print(project(cfg))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    epoch = resolve_epoch(args.run, args.epoch)
    out = (export_merged if args.merged else export_adapter)(args.run, args.out, epoch)
    print(f"exported epoch {epoch} of {args.run} ({'merged LLM' if args.merged else 'adapter'}) to {out}")
    return 0


def _train_parser(p: argparse.ArgumentParser) -> None:
    add_fields(p, TuneConfig, {
        **MODEL_HELPS,
        "method": ("rrs (default) or an SFT baseline of the paper: sft-full (Basic), sft-shallow-mirror, "
                  "sft-shallow-parallel, sft-deep (see rrs/sft.py)", {"choices": list(METHODS)}),
        "pairs": "'mirror' or a CSV/JSONL pairs file", "modality": ("", {"choices": list(MODALITIES)}),
        "top_percent": ("top m% of safety features", {"flags": ("--top-percent", "--top")}),
        "epochs": "", "lr": "", "batch_size": "", "grad_accum": "", "lora_r": "", "lora_alpha": "",
        "lora_dropout": "", "lora_layers": LAYERS, "penalty": "λ of the weight-change penalty (0 turns it off)",
        "pairs_per_category": "", "probe_per_label": "", "seed": "",
        "pair_selection": ("which pairs per category: the first ones, or those whose benign twin is most "
                           "harmful-like (near the refusal boundary)", {"choices": ["first", "boundary"]}),
        "benign_anchors": ("RRS: per category, this many extra benign questions without their harmful twins, "
                           "the most harmful-like of the pairs not selected (0: none)"),
        "gen_probe_per_label": "harmful probe items (and their benign twins) answered by sampling every epoch for "
                               "the ASR/ORR curves (0: off)",
        "gen_probe_samples": "sampled answers per item of that probe", "gen_probe_tokens": "new tokens per answer",
        "probe_batch_size": "probe queries per forward pass (larger is cheaper on a CPU)",
        "gen_probe_window": "probe queries per generate call (each call has its own seed)",
        "gradient_checkpointing": "recompute activations in the backward pass: less memory, more compute",
        "precision": ("auto: bf16 autocast where the device multiplies bf16 natively, else fp32",
                      {"choices": ["auto", "bf16", "fp32"]})})
    p.add_argument("--demo", action="store_true", help="start from the CPU demo configuration (docs/RESULTS.md)")
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last complete epoch")
    add_config(p, "the run directory")


def _eval_parser(p: argparse.ArgumentParser) -> None:
    add_fields(p, EvalJob, {
        **MODEL_HELPS, "adapter": "a run directory (last complete epoch) or an adapter folder",
        "epoch": "which checkpoint of a run directory: last, best (the most harmful probe questions refused with "
                 "benign refusal up by at most 2 points; docs/RESULTS.md) or an epoch number",
        "name": "method name in reports (default: vanilla or the run name)",
        "steer": "a folder of SARSteer vectors (python -m rrs steer) to apply",
        "alpha": "steering strength (default: the vectors' alpha)",
        "ablate": ("steer with the raw refusal vector d (no ablation)", {"flags": ("--no-ablate",)}),
        "harmful": f"a CSV/JSONL file or one of {', '.join(EVAL_SETS)}", "benign": "a CSV/JSONL file or a built-in set name",
        "limit": "use at most this many items per set", "modality": "",
        "samples": "sampled answers per query (AIAH: 5)", "max_new_tokens": "", "batch_size": "",
        "judge": ("", {"choices": list(JUDGES)}), "seed": "", "by_length": BY_LENGTH_HELP,
        "precision": ("auto: bf16 autocast where the device multiplies bf16 natively, else fp32",
                      {"choices": ["auto", "bf16", "fp32"]})})
    add_config(p, "the evaluation folder (results.json, results.records.jsonl); a path ending in .json is "
                  "the results file itself, its per-item records beside it")


def _steer_parser(p: argparse.ArgumentParser) -> None:
    add_fields(p, SteerJob, {
        **MODEL_HELPS, "pairs": "'figstep' (SARSteer's train/test split), 'mirror' or a pairs file",
        "n_pairs": "training pairs to use (reference: 100)", "layers": LAYERS,
        "k": "rank of the benign subspace", "lam": "ablation strength λ (0: plain steering)",
        "alpha": "default steering strength α", "modality": "",
        "refusal_prompt": "text appended to the instruction to ask for a refusal: 'default' (\"I cannot assist "
                          "with that.\"), one of the reference's longer variants (safety-check, sorry, examples), "
                          "or your own text",
        "sweep": "comma-separated α values to evaluate on the validation split",
        "max_orr_rise": "the sweep only picks settings whose ORR rises by at most this many points",
        "sweep_layers": "layer sets the sweep (and --first-token) tries with every α, separated by ';', "
                        "e.g. 'all;12-23;18-23'",
        "sweep_limit": "validation pairs used by the sweep",
        "sweep_skip": "skip this many validation pairs first (e.g. those a comparison evaluates on)",
        "precision": ("auto: bf16 autocast for the sweep where the device multiplies bf16 natively, else fp32",
                      {"choices": ["auto", "bf16", "fp32"]}),
        "vectors": "use saved vectors (a folder from an earlier steer or compare run) instead of computing; "
                   "the extraction options (--layers, --k, --lam, --refusal-prompt, --n-pairs) are then ignored",
        "first_token": "comma-separated α values: first-token refusal probability of the validation pairs, "
                       "SARSteer and plain steering (no generation; cheap)",
        "samples": "", "max_new_tokens": "", "seed": ""})
    add_config(p, "folder for vectors.safetensors, steering.json, sweep.json")


def _compare_parser(p: argparse.ArgumentParser) -> None:
    add_fields(p, CompareConfig, {
        **MODEL_HELPS, "methods": f"comma-separated subset of {','.join(ALL_METHODS)}", "modalities": "",
        "harmful": "as for eval", "benign": "as for eval",
        "pairs": "training pairs of the tuned methods and the SARSteer vectors: 'mirror' or a pairs file",
        "limit": ("items per set (0: all)", {"type": lambda s: int(s) or None}),
        "samples": "", "max_new_tokens": "", "batch_size": "", "by_length": BY_LENGTH_HELP,
        "judge": ("", {"choices": list(JUDGES)}), "seed": "",
        "demo": ("train with the paper's settings (10 epochs, all pairs) instead of the CPU demo config",
                 {"flags": ("--paper-config",), "action": "store_false"}),
        "train_overrides": ("epochs of the methods trained here (default: the demo config's 4)",
                            {"flags": ("--train-epochs",), "type": lambda s: {"epochs": int(s)}, "metavar": "N"}),
        "runs": ("reuse a finished run directory for a trained method (repeatable)",
                 {"flags": ("--run",), "action": "append", "type": str, "metavar": "METHOD=DIR"}),
        "steer_pairs": "training pairs for the SARSteer vectors",
        "steer_k": ("rank of SARSteer's benign subspace", {"flags": ("--k",)}),
        "steer_alpha": ("fixed steering α (default: sweep and pick by NSI)", {"flags": ("--alpha",)}),
        "sweep_alphas": ("α values of the sweep", {"flags": ("--sweep",)}),
        "max_orr_rise": "the α sweep only picks settings whose ORR rises by at most this many points",
        "sweep_limit": "Mirror validation pairs after the evaluated ones, used by the sweep",
        "precision": ("generation precision of the cells and the sweep; auto: bf16 autocast where the device "
                      "multiplies bf16 natively, else fp32", {"choices": ["auto", "bf16", "fp32"]})})
    add_config(p, "the comparison folder")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rrs", description="RRS / SARSteer safety tools for audio LLMs")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="ΔV̄, per-feature contributions w_I·ΔV̄, top-m%% selection and preview")
    add_fields(p, FeaturesJob, {
        **MODEL_HELPS, "pairs": "'mirror' or a CSV/JSONL pairs file (harmful, benign, category)", "modality": "",
        "top_percent": ("keep the top m% of features (paper: 12.5, 25, 51)", {"flags": ("--top-percent", "--top")}),
        "pairs_per_category": "use at most this many training pairs per category", "batch_size": "", "seed": ""})
    add_config(p, "folder for summary.json and features.safetensors")
    p.set_defaults(func=cmd_features)
    for name, text, build, func in (
            ("train", "RRS tuning or an SFT baseline into a run directory (resumable)", _train_parser, cmd_train),
            ("eval", "ASR / ORR with n sampled answers per query, judged", _eval_parser, cmd_eval),
            ("steer", "SARSteer: per-layer refusal vectors with the benign subspace ablated", _steer_parser,
             cmd_steer),
            ("compare", "every method on the same held-out sets: Table 2/3 with NSI (resumable)", _compare_parser,
             cmd_compare)):
        p = sub.add_parser(name, help=text)
        build(p)
        p.set_defaults(func=func)
    p = sub.add_parser("report", help="the paper's Table 3 layout (Markdown, CSV, LaTeX) from eval results")
    p.add_argument("results", nargs="+", help="results JSON files or evaluation folders, optionally NAME=path")
    p.add_argument("--baseline", default="vanilla")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("project", help="a training run's t-SNE / UMAP / PCA map across epochs (cached)")
    add_fields(p, ProjectionJob, {"run": "the training run's folder", "method": ("", {"choices": list(MAP_METHODS)}),
                                  "seed": ""})
    add_config(p, "the job's folder (RUN/projections/<method>); the map itself goes to RUN/projections/<method>.npz")
    p.set_defaults(func=cmd_project)
    p = sub.add_parser("export", help="a run's adapter (peft format), or the LLM with it merged, from a chosen epoch")
    p.add_argument("run", help="the training run's folder")
    p.add_argument("--epoch", default="last", help="last, best (by the run's probe, as eval --epoch) or a number")
    p.add_argument("--merged", action="store_true", help="save the LLM with the adapter merged into its weights "
                   "(save_pretrained layout) instead of the adapter alone")
    p.add_argument("--out", required=True, help="the folder to write")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("plan", help="parameters, peak memory, FLOPs and projected time of a run, before running it")
    add_plan_arguments(p)
    p.set_defaults(func=run_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A job started from a non-interactive shell's background (nohup ... &, a service) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: restore it so that Stop always works.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, FileExistsError, FolderBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DiskFull as err:
        print(f"error: {err.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept (resume with the same command and --resume)", file=sys.stderr)
        return 130
