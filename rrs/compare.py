"""``python -m rrs compare``: every method on the same held-out sets, judge and sampling, resumable.

A comparison folder holds:

- ``compare.json``: the settings, the methods and modalities, where each finished cell's result lives, and
  the wall time of every training and every cell (the dashboard's Compare page reads it);
- ``runs/<method>/``: the run directories of the trained methods (RRS and the SFT baselines), unless an
  existing run is reused with ``--run METHOD=DIR``;
- ``steer/``: SARSteer vectors from the vanilla model, and ``steer/sweep.json``, the α chosen by NSI on
  Mirror validation pairs that the evaluation does not use;
- ``cells/<method>__<modality>.json`` (+ ``.records.jsonl``): one evaluation result per cell;
- ``table/``: the paper's Table 2/3 layout (``rrs.evaluation.report``) and ``overrefusal_by_category.md``.

Cells run column by column (every method's audio-text cell before any text-only one), a method trained at its
first cell. Finished cells, runs and vectors are never recomputed: an interrupted comparison started again with
the same command continues where it stopped (a cell cut short resumes from its per-item records).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rrs import data
from rrs.config import ConfigMixin
from rrs.evaluation.judges import get_judge
from rrs.evaluation.metrics import EvalConfig, EvalItem, EvalResult, evaluate
from rrs.evaluation.report import write_report
from rrs.hardware import PRECISIONS, resolve_precision
from rrs.models.base import MODALITIES
from rrs.models.loader import load_model
from rrs.parallel import Parallel
from rrs.steering import SteeringConfig, SteeringVectors, compute_vectors, pick_default, steer, sweep
from rrs.store import RunFolder, atomic_write, atomic_write_json
from rrs.tuning import DEMO_CONFIG, RRSTrainer, TuneConfig, apply_adapter

TRAINED = ("sft-full", "sft-shallow-mirror", "sft-shallow-parallel", "sft-deep", "rrs")
#: Table rows in the paper's order, then the steering methods. ``steer`` is SARSteer without the ablation
#: (the raw refusal vector d at the same α), for the ablation the SARSteer paper claims.
ALL_METHODS = ("vanilla", *TRAINED, "sarsteer", "steer", "rrs+sarsteer")


@dataclass(frozen=True)
class CompareConfig(ConfigMixin):
    """Everything a comparison depends on; saved in ``compare.json``. Changing it needs a new folder."""
    model: str = "embedded"
    methods: tuple[str, ...] = ALL_METHODS
    modalities: tuple[str, ...] = MODALITIES
    harmful: str = "mirror-val-harmful"
    benign: str = "mirror-val-benign"
    limit: int | None = 60
    samples: int = 5
    max_new_tokens: int = 32
    batch_size: int = 8
    #: Batch the evaluated queries by length (EvalConfig.by_length).
    by_length: bool = False
    judge: str = "keyword"
    seed: int = 0
    #: Training pairs of the tuned methods and the SARSteer vectors: "mirror" or a pairs file.
    pairs: str = "mirror"
    #: Train with the CPU demo configuration (rrs.tuning.DEMO_CONFIG) instead of the paper's defaults.
    demo: bool = True
    #: TuneConfig fields to override for every trained method (e.g. {"epochs": 2}).
    train_overrides: dict[str, Any] = field(default_factory=dict)
    #: Existing run directories to reuse per trained method, e.g. {"rrs": "runs/demo"}.
    runs: dict[str, str] = field(default_factory=dict)
    steer_pairs: int = 100
    steer_k: int = 10
    #: Fixed α, or None to choose one from ``sweep_alphas`` by NSI on held-out validation pairs.
    steer_alpha: float | None = None
    sweep_alphas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    sweep_limit: int = 24
    #: The sweep only picks an α whose ORR rises by at most this many points (None: best NSI, unconstrained).
    max_orr_rise: float | None = None
    device: str = "auto"
    dtype: str = "auto"
    #: Generation precision of the cells and the sweep: "auto" = bf16 autocast where the device multiplies bf16
    #: natively, else fp32 (rrs.hardware), as ``python -m rrs eval``. A compute setting: a folder may continue
    #: under another one, and each cell records its own. Comparisons made before it existed ran in fp32.
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        unknown = set(self.methods) - set(ALL_METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(ALL_METHODS)}")
        bad = set(self.modalities) - set(MODALITIES)
        if bad:
            raise ValueError(f"unknown modalities {sorted(bad)}; choose from {', '.join(MODALITIES)}")
        if self.samples < 1 or (self.limit is not None and self.limit < 1):
            raise ValueError("samples and limit must be >= 1")
        for method in self.runs:
            if method not in TRAINED:
                raise ValueError(f"--run names a trained method ({', '.join(TRAINED)}), not {method!r}")


def cell_name(method: str, modality: str) -> str:
    return f"{method.replace('+', '_plus_')}__{modality}"


class Comparison:
    """Runs (or resumes) one comparison into ``out``."""
    def __init__(self, cfg: CompareConfig, out: str | Path, log: Callable[[str], None] = print,
                 progress: bool = True, parallel: Parallel | None = None) -> None:
        self.cfg = cfg
        self.out = Path(out)
        self.par = parallel if parallel is not None else Parallel.single()
        self.log = log if self.par.is_main else (lambda _message: None)
        self.progress = progress and self.par.is_main
        self.meta_path = self.out / "compare.json"

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        if self.meta_path.is_file():
            meta = json.loads(self.meta_path.read_text())
            saved = CompareConfig.from_dict(meta["settings"])
            if replace(saved, precision=self.cfg.precision) != self.cfg:
                raise ValueError(f"{self.out} holds a comparison with other settings; use a new --out folder "
                                 "or repeat the original command")
            meta["settings"]["precision"] = self.cfg.precision  # the cells say which one each ran under
            return meta
        return {"model": self.cfg.model, "settings": self.cfg.to_dict(), "methods": list(self.cfg.methods),
                "modalities": list(self.cfg.modalities), "cells": {}, "wall_s": {}, "steering": None}

    def _save(self, meta: dict[str, Any]) -> None:
        """Rank 0 keeps ``compare.json``; under ``accelerate launch`` the others only compute."""
        if self.par.is_main:
            meta["updated"] = time.time()
            atomic_write_json(self.meta_path, meta)

    # ---- the pieces ------------------------------------------------------------------------------
    def run_dir(self, method: str) -> Path:
        return Path(self.cfg.runs.get(method) or self.out / "runs" / method)

    def train(self, method: str, meta: dict[str, Any]) -> None:
        run = RunFolder(self.run_dir(method))
        if run.read_status().get("state") == "done":
            wall = meta["wall_s"].setdefault(method, {})
            if wall.get("train") is None:  # a reused run: its epochs' own durations
                wall["train"] = run.epochs_seconds()
            return
        if method in self.cfg.runs:
            raise ValueError(f"--run {method}={run.path} is not a finished run (status.json state != done)")
        base = DEMO_CONFIG.to_dict() if self.cfg.demo else TuneConfig().to_dict()
        cfg = TuneConfig.from_dict({**base, **self.cfg.train_overrides, "method": method, "model": self.cfg.model,
                                    "pairs": self.cfg.pairs, "seed": self.cfg.seed, "device": self.cfg.device,
                                    "dtype": self.cfg.dtype})
        self.log(f"training {method} into {run.path}")
        started = time.perf_counter()
        RRSTrainer(cfg, run.path, log=self.log, progress=self.progress).train(resume=True)
        meta["wall_s"].setdefault(method, {})["train"] = round(time.perf_counter() - started, 1)
        self._save(meta)

    def steering(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Vectors (from the vanilla model) and the α to use, chosen once and stored in ``compare.json``.

        Under ``accelerate launch`` the ranks share the forward passes and the sweep; rank 0 writes."""
        if meta.get("steering"):
            return meta["steering"]

        folder = self.out / "steer"
        model = self._load()
        started = time.perf_counter()
        if (folder / "steering.json").is_file():
            vectors = SteeringVectors.load(folder)
        else:
            train = data.named_pairs(self.cfg.pairs, self.cfg.seed, "train")[: self.cfg.steer_pairs]
            harmful = data.to_queries([p.harmful for p in train], self.cfg.seed, progress=self.progress)
            benign = data.to_queries([p.benign for p in train], self.cfg.seed, progress=self.progress)
            cfg = SteeringConfig(k=self.cfg.steer_k, alpha=self.cfg.steer_alpha or 0.1)
            vectors = compute_vectors(model, harmful, benign, cfg, progress=self.progress, parallel=self.par)
            if self.par.is_main:
                vectors.save(folder)
            self.par.wait()  # the steered cells read them from the folder
        alpha, chosen = self.cfg.steer_alpha, None
        if alpha is None:
            # Validation pairs the evaluation does not use: those after the evaluated Mirror items.
            same = self.cfg.pairs == "mirror" and self.cfg.harmful == "mirror-val-harmful"
            skip = (self.cfg.limit or 0) if same else 0
            val = data.named_pairs(self.cfg.pairs, self.cfg.seed, "val")[skip : skip + self.cfg.sweep_limit]
            if not val:
                raise ValueError("no validation pairs left for the α sweep; pass --alpha or a smaller --limit")
            wrap = {label: self._wrap([getattr(p, label) for p in val], "audio-text")
                    for label in ("harmful", "benign")}
            settings = self._eval_config("audio-text", model.device.type, samples=1)
            rows = sweep(model, vectors, wrap["harmful"], wrap["benign"], list(self.cfg.sweep_alphas),
                         judge=get_judge("keyword"), settings=settings, records_dir=folder / "sweep_records",
                         progress=self.progress, parallel=self.par)
            chosen = pick_default(rows, self.cfg.max_orr_rise)
            if self.par.is_main:
                atomic_write_json(folder / "sweep.json", {"rows": rows, "chosen": chosen})
            alpha = float(chosen["alpha"])
        meta["steering"] = {"folder": "steer", "alpha": alpha, "sweep": chosen is not None,
                            "seconds": round(time.perf_counter() - started, 1)}
        self._save(meta)
        return meta["steering"]

    def _load(self) -> Any:
        return load_model(self.cfg.model, self.par.device(self.cfg.device), self.cfg.dtype, progress=self.progress)

    def _eval_config(self, modality: str, device_type: str, samples: int | None = None) -> Any:
        return EvalConfig(modality=modality, samples=samples or self.cfg.samples, batch_size=self.cfg.batch_size,
                          max_new_tokens=self.cfg.max_new_tokens, seed=self.cfg.seed, judge=self.cfg.judge,
                          by_length=self.cfg.by_length, precision=resolve_precision(self.cfg.precision, device_type))

    def _items(self, spec: str, label: str, modality: str, limit: int | None, skip: int = 0) -> list[Any]:
        return self._wrap(data.eval_items(spec, label, limit, self.cfg.seed, skip=skip), modality)

    def _wrap(self, items: Sequence[Any], modality: str) -> list[Any]:
        queries = data.to_queries(items, self.cfg.seed, with_audio=modality != "text-only", progress=False)
        return [EvalItem(q, it.category) for q, it in zip(queries, items, strict=True)]

    @contextlib.contextmanager
    def method_model(self, method: str, meta: dict[str, Any]) -> Iterator[Any]:
        """A fresh model set up as ``method``: adapter merged and/or steering hooks installed."""
        model = self._load()
        trained = method.split("+")[0]
        if trained in TRAINED:
            run = RunFolder(self.run_dir(trained))
            apply_adapter(model, run.checkpoint(run.completed_epochs()[-1]))
        with contextlib.ExitStack() as stack:
            if method.endswith("sarsteer") or method == "steer":

                info = meta["steering"]
                vectors = SteeringVectors.load(self.out / info["folder"])
                stack.enter_context(steer(model, vectors, alpha=info["alpha"], ablated=method != "steer"))
            yield model

    def cell(self, method: str, modality: str, meta: dict[str, Any]) -> None:
        name = cell_name(method, modality)
        path = self.out / "cells" / f"{name}.json"
        if path.is_file():
            meta["cells"].setdefault(method, {})[modality] = f"cells/{name}.json"
            return
        self.log(f"evaluating {method} ({modality})")
        started = time.perf_counter()
        with self.method_model(method, meta) as model:
            harmful = self._items(self.cfg.harmful, "harmful", modality, self.cfg.limit)
            benign = self._items(self.cfg.benign, "benign", modality, self.cfg.limit)
            judge = get_judge("llm", model=model) if self.cfg.judge == "llm" else get_judge(self.cfg.judge)
            settings = self._eval_config(modality, model.device.type)
            result = evaluate(model, harmful, benign, settings, judge, self.progress,
                              path.with_suffix(".records.jsonl"), parallel=self.par)
        payload = {**result.to_dict(), "method": method, "precision": settings.precision}
        if self.par.is_main:
            atomic_write_json(path, payload)
        meta["cells"].setdefault(method, {})[modality] = f"cells/{name}.json"
        meta["wall_s"].setdefault(method, {}).setdefault("eval", {})[modality] = round(time.perf_counter() - started, 1)
        self._save(meta)
        self.write_tables(meta)

    # ---- the whole thing -----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        meta = self._meta()
        self._save(meta)
        for method, modality in self.execution_order():
            trained = method.split("+")[0]
            if trained in TRAINED:
                self.train(trained, meta)  # at its first cell; later ones find the run done
            if "steer" in method:
                self.steering(meta)
            self.cell(method, modality, meta)
        self.write_tables(meta)
        meta["finished"] = True
        self._save(meta)
        return meta

    def execution_order(self) -> list[tuple[str, str]]:
        """The cells, ``(method, modality)``, column by column: every method's first modality (audio-text, the
        paper's main column) before any second one, so a comparison cut short holds whole columns. Within a
        column, the methods that need no new training come first."""
        def needs_training(method: str) -> bool:
            trained = method.split("+")[0]
            return trained in TRAINED and RunFolder(self.run_dir(trained)).read_status().get("state") != "done"

        methods = sorted(self.cfg.methods, key=needs_training)  # stable: table order within each group
        return [(method, modality) for modality in self.cfg.modalities for method in methods]

    def write_tables(self, meta: dict[str, Any]) -> None:
        results = read_results(self.out, meta) if self.par.is_main else {}
        if not results:
            return

        write_report(results, self.out / "table")
        text = overrefusal_markdown(results)
        atomic_write(self.out / "table" / "overrefusal_by_category.md", lambda tmp: Path(tmp).write_text(text))
        atomic_write(self.out / "table" / "wall_times.md",
                     lambda tmp: Path(tmp).write_text(wall_time_markdown(meta)))


def read_results(out: str | Path, meta: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """``{method: {modality: EvalResult}}`` of the finished cells, in the comparison's method order.

    Cells not written yet, unreadable, or holding another modality's result are left out.
    """

    out = Path(out)
    meta = meta or json.loads((out / "compare.json").read_text())
    cells = meta.get("cells") or {}
    results: dict[str, dict[str, Any]] = {}
    for method in meta.get("methods") or list(cells):
        for modality in meta.get("modalities") or MODALITIES:
            rel = cells.get(method, {}).get(modality)
            if not rel:
                continue
            try:
                payload = json.loads((out / rel).read_text())
                payload.pop("method", None)
                result = EvalResult.from_dict(payload)
            except (OSError, ValueError, TypeError, KeyError, AttributeError):
                continue
            if result.modality == modality:
                results.setdefault(method, {})[modality] = result
    return results


def overrefusal_markdown(results: dict[str, dict[str, Any]]) -> str:
    """Benign over-refusal (ORR %) per category: one row per category, one column per method × modality."""
    columns = [(m, mod) for m, per in results.items() for mod in per]
    categories = sorted({c for per in results.values() for r in per.values() for c in r.per_category})
    head = "| category | " + " | ".join(f"{m} ({mod})" for m, mod in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for cat in categories:
        cells = []
        for m, mod in columns:
            stats = results[m][mod].per_category.get(cat, {})
            orr = stats.get("orr")
            cells.append("–" if orr is None else f"{orr:.1f}")
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def wall_time_markdown(meta: dict[str, Any]) -> str:
    lines = ["| method | training (s) | evaluation (s) per modality |", "|---|---:|---|"]
    steering = meta.get("steering") or {}
    for method in meta["methods"]:
        wall = meta["wall_s"].get(method, {})
        train = wall.get("train")
        if "steer" in method and steering.get("seconds") is not None:
            train = f"{steering['seconds']} (vectors + α sweep)" + (f" + {wall['train']}" if wall.get("train") else "")
        evals = ", ".join(f"{m}: {s}" for m, s in wall.get("eval", {}).items())
        lines.append(f"| {method} | {'–' if train is None else train} | {evals or '–'} |")
    return "\n".join(lines) + "\n"


def run_comparison(cfg: CompareConfig, out: str | Path, progress: bool = True,
                   parallel: Parallel | None = None) -> dict[str, Any]:
    """Run or resume a comparison; under ``accelerate launch`` pass ``Parallel()`` to share its work."""
    return Comparison(cfg, out, progress=progress, parallel=parallel).run()


__all__ = ["ALL_METHODS", "CompareConfig", "Comparison", "MODALITIES", "TRAINED", "cell_name",
           "overrefusal_markdown", "read_results", "run_comparison", "wall_time_markdown"]


def parse_runs(specs: Sequence[str]) -> dict[str, str]:
    """``["rrs=runs/demo"]`` → ``{"rrs": "runs/demo"}``."""
    runs = {}
    for spec in specs:
        method, sep, path = spec.partition("=")
        if not sep or not path:
            raise ValueError(f"--run takes METHOD=DIR, got {spec!r}")
        runs[method] = path
    return runs
