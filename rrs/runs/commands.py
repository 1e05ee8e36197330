"""The bodies of ``python -m rrs features | eval | steer``, each taking its config and its output folder.

``train`` is :class:`rrs.tuning.RRSTrainer` and ``compare`` is :class:`rrs.compare.Comparison`; ``tracked``
keeps ``status.json`` for the commands that do not keep it themselves.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rrs import data
from rrs.evaluation.judges import get_judge
from rrs.evaluation.metrics import EvalConfig, EvalItem, evaluate
from rrs.features import FirstTokenPreview, compute_features, refusal_opener_ids
from rrs.hardware import resolve_precision
from rrs.models.loader import load_model
from rrs.parallel import Parallel
from rrs.representations import extract_pairs
from rrs.runs.configs import EvalJob, FeaturesJob, SteerJob
from rrs.runs.recorded import reproduce_command
from rrs.steering import SteeringVectors, compute_vectors, first_token_curve, pick_default, steer, sweep
from rrs.store import RunFolder, atomic_write_json, folder_lock
from rrs.tuning import apply_adapter
from rrs.tuning.epoch_choice import resolve_epoch


@contextlib.contextmanager
def tracked(folder: str | Path, message: str) -> Iterator[RunFolder]:
    """``status.json`` in ``folder``: running, then done, stopped (Ctrl-C / Stop) or failed."""
    run = RunFolder(folder)
    with folder_lock(run.path):  # a second job on this folder is refused before it writes anything
        run.write_status(state="running", pid=os.getpid(), message=message, started=time.time())
        try:
            yield run
        except KeyboardInterrupt:
            run.write_status(state="stopped", message="interrupted; run it again to continue")
            raise
        except BaseException as err:
            run.write_status(state="failed", message=f"{type(err).__name__}: {err}")
            raise
        run.write_status(state="done", message="finished")


def run_features(cfg: FeaturesJob, out: str | Path, parallel: Parallel | None = None) -> dict[str, Any]:
    """Features into ``out``. Under ``accelerate launch`` the ranks share the forward passes and rank 0 writes."""
    par = parallel if parallel is not None else Parallel.single()
    model = load_model(cfg.model, par.device(cfg.device), cfg.dtype, progress=par.is_main)
    pairs = data.pairs_per_category(data.named_pairs(cfg.pairs, cfg.seed), cfg.pairs_per_category)
    harmful = data.to_queries([p.harmful for p in pairs], cfg.seed, progress=par.is_main)
    benign = data.to_queries([p.benign for p in pairs], cfg.seed, progress=par.is_main)
    reps = extract_pairs(model, harmful, benign, cfg.modality, data.EXTRACTION_PROMPT,
                         data.REFUSAL_EXTRACTION_PROMPT, batch_size=cfg.batch_size, parallel=par,
                         progress=par.is_main)
    feats = compute_features(reps, model.lm_head_row(model.refusal_token_id), cfg.top_percent,
                             model.refusal_token_id)
    out = Path(out)
    bias = getattr(model.lm_head, "bias", None)
    preview = FirstTokenPreview(model.lm_head.weight, reps["harmful"], reps["benign"],
                                refusal_opener_ids(model.tokenizer), bias)
    summary = {**feats.summary(), "preview": preview.compare(feats), "n_pairs": len(pairs),
               "modality": cfg.modality, "model": model.name,
               "preview_by_top_percent": {str(m): preview.compare(feats.with_top(m))["after"]
                                          for m in (12.5, 25.0, 51.0, 100.0)}}
    if par.is_main:
        feats.save(out)
        atomic_write_json(out / RunFolder.SUMMARY, summary)
    return summary


def _wrap(items: list[Any], seed: int, with_audio: bool = True) -> list[EvalItem]:
    queries = data.to_queries(items, seed, with_audio=with_audio)
    return [EvalItem(q, it.category) for q, it in zip(queries, items, strict=True)]


def check_adapter(adapter: str) -> None:
    """A run folder with a finished epoch, or an adapter folder; else say what to do, before a model loads."""
    if RunFolder(adapter).completed_epochs() or (Path(adapter) / "adapter_config.json").is_file():
        return
    if not Path(adapter).is_dir():
        raise ValueError(f"adapter {adapter!r} does not exist: pass a run folder (python -m rrs train) or an "
                         "adapter folder (adapter_config.json)")
    command = reproduce_command(adapter)
    if command:  # a recorded run: its metrics and maps are committed, its weights are not
        raise ValueError(f"{adapter} is a recorded run without its adapter weights (they are not kept in the "
                         f"repository). Make them with `{command}` and pass that run's --out folder as --adapter")
    raise ValueError(f"{adapter} holds no adapter yet: no finished epoch under checkpoints/ and no "
                     "adapter_config.json. Wait for its first epoch, or resume it with python -m rrs train --resume")


def run_eval(cfg: EvalJob, results: str | Path, parallel: Parallel | None = None) -> dict[str, Any]:
    """Evaluate into ``results`` (a JSON file; per-item records beside it, so a stopped run resumes).

    Under ``accelerate launch`` the ranks share the queries (:func:`rrs.evaluation.metrics.evaluate`) and
    rank 0 writes ``results``."""
    par = parallel if parallel is not None else Parallel.single()
    if cfg.adapter:
        check_adapter(cfg.adapter)
    model = load_model(cfg.model, par.device(cfg.device), cfg.dtype, progress=par.is_main)
    epoch = None
    if cfg.adapter:
        adapter, run = Path(cfg.adapter), RunFolder(cfg.adapter)
        epoch = resolve_epoch(adapter, cfg.epoch) if run.completed_epochs() else None
        apply_adapter(model, adapter if epoch is None else run.checkpoint(epoch))
    wrapped = {label: _wrap(data.eval_items(spec, label, cfg.limit, cfg.seed), cfg.seed,
                            cfg.modality != "text-only")
               for label, spec in (("harmful", cfg.harmful), ("benign", cfg.benign))}
    judge = get_judge("llm", model=model) if cfg.judge == "llm" else get_judge(cfg.judge)
    results = Path(results)
    with contextlib.ExitStack() as stack:
        if cfg.steer:
            stack.enter_context(steer(model, SteeringVectors.load(cfg.steer), alpha=cfg.alpha, ablated=cfg.ablate))
        result = evaluate(model, wrapped["harmful"], wrapped["benign"], cfg.eval_config(model.device.type), judge,
                          records_path=results.with_suffix(".records.jsonl"), parallel=par, progress=par.is_main)
    payload = {**result.to_dict(), "method": cfg.method_name()}
    if epoch is not None:
        payload["adapter_epoch"] = epoch
    if par.is_main:
        atomic_write_json(results, payload)
    return payload


def _steer_pairs(spec: str, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, validation) pairs for SARSteer: FigStep's own split, or a seeded split of Mirror / a file."""
    if spec == "figstep":
        return data.sarsteer_pairs("figstep", "train"), data.sarsteer_pairs("figstep", "test")
    return data.named_pairs(spec, seed, "train"), data.named_pairs(spec, seed, "val")


def run_steer(cfg: SteerJob, out: str | Path, log: Any = print, parallel: Parallel | None = None) -> None:
    """Vectors, sweep and first-token curve into ``out``. Under ``accelerate launch`` the ranks share the
    vectors' forward passes and the sweep's answers; rank 0 writes (the first-token curve is its alone)."""
    par = parallel if parallel is not None else Parallel.single()
    log = log if par.is_main else (lambda _item: None)
    model = load_model(cfg.model, par.device(cfg.device), cfg.dtype, progress=par.is_main)
    train, val = _steer_pairs(cfg.pairs, cfg.seed)
    train = train[: cfg.n_pairs] if cfg.n_pairs else train
    out = Path(out)
    if cfg.vectors:
        vectors = SteeringVectors.load(cfg.vectors)
        log(f"using the SARSteer vectors in {cfg.vectors} ({len(vectors.layers)} layers)")
    else:
        harmful = data.to_queries([p.harmful for p in train], cfg.seed, progress=par.is_main)
        benign = data.to_queries([p.benign for p in train], cfg.seed, progress=par.is_main)
        vectors = compute_vectors(model, harmful, benign, cfg.steering_config(), parallel=par)
        if par.is_main:
            vectors.save(out)
        log(f"saved SARSteer vectors for {len(vectors.layers)} layers to {out}")
    layer_sets = cfg.layer_sets()
    val = val[cfg.sweep_skip : cfg.sweep_skip + cfg.sweep_limit]
    if (cfg.sweep or cfg.first_token) and not val:
        raise ValueError(f"no validation pairs left after --sweep-skip {cfg.sweep_skip}; lower it")
    if cfg.sweep:
        wrap = {label: _wrap([getattr(p, label) for p in val], cfg.seed) for label in ("harmful", "benign")}
        precision = resolve_precision(cfg.precision, model.device.type)
        settings = EvalConfig(modality=cfg.modality, samples=cfg.samples, max_new_tokens=cfg.max_new_tokens,
                              precision=precision)
        rows = sweep(model, vectors, wrap["harmful"], wrap["benign"], list(cfg.sweep), layer_sets=layer_sets,
                     judge=get_judge("keyword"), settings=settings, records_dir=out / "sweep_records",
                     progress=par.is_main, parallel=par)
        best = pick_default(rows, cfg.max_orr_rise)
        if par.is_main:
            atomic_write_json(out / "sweep.json", {"rows": rows, "chosen": best})
        log({"chosen": best})
    if cfg.first_token and par.is_main:
        queries = {label: data.to_queries([getattr(p, label) for p in val], cfg.seed)
                   for label in ("harmful", "benign")}
        rows = first_token_curve(model, vectors, queries["harmful"], queries["benign"], list(cfg.first_token),
                                 refusal_opener_ids(model.tokenizer), layer_sets=layer_sets, progress=True)
        atomic_write_json(out / "first_token.json", {"rows": rows, "n_pairs": len(val)})
        for row in rows:
            log(row)
