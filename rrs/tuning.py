"""RRS tuning (paper §4.2): LoRA on the LLM moves harmful representations into the refusal zone.

The same trainer runs the paper's SFT baselines (``method`` = one of :data:`rrs.sft.SFT_METHODS`, losses in
``rrs.sft``) with the same LoRA, penalty, probe snapshots, checkpoints and resume, so that methods differ only
in their objective.

Loss per step (Eq. 13, with LoRA):  mean_batch ‖f_θ(d, t′) − V_tgt(d)‖² + λ · Σ_modules ‖scaling·B·A‖²
where V_tgt(d_h) = f0(d_h, t) + ΔV̄ˢ and V_tgt(d_b) = f0(d_b, t) − ΔV̄ˢ are frozen targets from the
original model (Eq. 12) and t′ is drawn from the paper's prompt pool at every step. The paper sums the
distance over the batch; the mean used here only rescales it against λ (stated in the config record).

A run writes a run directory (see ``RunDir``): config, features, frozen targets, ``metrics.jsonl`` (step
losses; per-epoch first-token refusal rates on a fixed probe set), per-epoch representation snapshots
of the probe set, and an adapter checkpoint per epoch. A killed run resumes from its last complete
epoch; every epoch draws its order, prompts and dropout from seeds fixed by (seed, epoch), so a resumed
run writes the same metrics as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrs.config import ConfigMixin
from rrs.store import atomic_write, atomic_write_json

LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: ``python -m rrs train --method``: RRS and the four SFT baselines (paper §5.1).
METHODS = ("rrs", "sft-full", "sft-shallow-mirror", "sft-shallow-parallel", "sft-deep")


@dataclass(frozen=True)
class TuneConfig(ConfigMixin):
    """Everything that defines an RRS run. Serialised to ``config.json``; the contract with the UI/CLI."""

    model: str = "embedded"
    method: str = "rrs"
    pairs: str = "mirror"
    modality: str = "audio-text"
    top_percent: float = 25.0
    penalty: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 4
    lora_dropout: float = 0.1
    lora_modules: tuple[str, ...] = LORA_MODULES
    lora_layers: tuple[int, ...] | None = None
    lr: float = 5e-5
    epochs: int = 10
    batch_size: int = 4
    grad_accum: int = 2
    weight_decay: float = 0.001
    betas: tuple[float, float] = (0.9, 0.98)
    max_grad_norm: float = 1.0
    seed: int = 0
    pairs_per_category: int | None = None
    val_fraction: float = 0.2
    probe_per_label: int = 50
    device: str = "auto"
    dtype: str = "auto"
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if not 0 < self.top_percent <= 100:
            raise ValueError("top_percent must lie in (0, 100]")
        if self.penalty < 0:
            raise ValueError("penalty (λ) must be >= 0")
        for name in ("epochs", "batch_size", "grad_accum", "lora_r"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        unknown = set(self.lora_modules) - set(LORA_MODULES)
        if unknown:
            raise ValueError(f"unknown LoRA modules {sorted(unknown)}; choose from {', '.join(LORA_MODULES)}")


#: The demo configuration: sized to finish in minutes on a 2-core CPU (docs/RESULTS.md).
#: A first attempt with lr 1e-3, LoRA on layers 16-23 and 3 epochs overshot (probe refusal 60% -> 95% after
#: epoch 1, then 35%); this slower, wider setting is the documented demo.
DEMO_CONFIG = TuneConfig(
    pairs_per_category=8, epochs=4, batch_size=8, grad_accum=1, lr=3e-4, lora_r=8, lora_alpha=16,
    lora_layers=tuple(range(12, 24)), probe_per_label=40,
)


class RunDir:
    """Paths and small helpers for one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    status = property(lambda self: self.path / "status.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    features = property(lambda self: self.path / "features")
    targets = property(lambda self: self.path / "targets.safetensors")
    probe = property(lambda self: self.path / "probe.json")
    snapshots = property(lambda self: self.path / "snapshots")
    checkpoints = property(lambda self: self.path / "checkpoints")
    log = property(lambda self: self.path / "log.txt")

    def snapshot(self, epoch: int) -> Path:
        return self.snapshots / f"epoch_{epoch:03d}.safetensors"

    def checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:03d}"

    def completed_epochs(self) -> list[int]:
        if not self.checkpoints.exists():
            return []
        done = []
        for folder in self.checkpoints.iterdir():
            match = re.fullmatch(r"epoch_(\d+)", folder.name)
            if match and (folder / "COMPLETE").is_file():
                done.append(int(match.group(1)))
        return sorted(done)

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        rows = []
        for line in self.metrics.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a killed process
        return rows

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_status(self, **fields: Any) -> None:
        status = self.read_status()
        status.update(fields, updated=time.time())
        atomic_write_json(self.status, status)

    def append_metric(self, row: dict[str, Any]) -> None:
        with open(self.metrics, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def truncate_metrics(self, last_epoch: int) -> None:
        """Keep only rows of epochs <= last_epoch (used when resuming)."""
        rows = [r for r in self.read_metrics() if r["epoch"] <= last_epoch]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write(self.metrics, lambda tmp: Path(tmp).write_text(text))


# ---- LoRA helpers ----------------------------------------------------------------------------------


def lora_targets(model: Any, modules: Sequence[str], layers: Sequence[int] | None) -> list[str]:
    """Full names of the LLM projections to adapt, optionally restricted to some decoder layers."""
    names = [n for n in model.lora_target_modules if n.rsplit(".", 1)[-1] in modules]
    if layers is not None:
        wanted = {int(i) for i in layers}
        names = [n for n in names if int(re.search(r"layers\.(\d+)\.", n).group(1)) in wanted]
    if not names:
        raise ValueError("no LoRA target modules matched the chosen modules/layers")
    return names


def attach_lora(model: Any, cfg: TuneConfig) -> Any:
    """Wrap ``model.model`` with a fresh peft LoRA adapter (everything else frozen)."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, cfg.lora_modules, cfg.lora_layers)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none")
    model.model = get_peft_model(model.model, lora)
    return model.model


def lora_delta_penalty(peft_model: Any) -> Any:
    """Σ over adapted modules of ‖scaling · B·A‖²_F, i.e. ‖θ − θ0‖² for LoRA (Eq. 13's penalty)."""
    import torch
    from peft.tuners.lora import LoraLayer

    total = torch.zeros((), dtype=torch.float32)
    for module in peft_model.modules():
        if not isinstance(module, LoraLayer):
            continue
        for name in module.active_adapters:
            if name not in module.lora_A:
                continue
            a = module.lora_A[name].weight.float()
            b = module.lora_B[name].weight.float()
            delta = (b @ a) * module.scaling[name]
            total = total + (delta**2).sum().to(total.device)
    return total


def apply_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """Load a saved adapter into ``model`` and merge it (for evaluation and export)."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter_dir} holds no adapter (adapter_config.json missing)")
    model.model = PeftModel.from_pretrained(model.model, str(adapter_dir)).merge_and_unload()
    model.invalidate_fingerprint()
    return model


# ---- the trainer -----------------------------------------------------------------------------------


@dataclass
class Sample:
    query: Any
    target: Any  # RRS: the frozen target representation (hidden,); SFT: an rrs.sft.SFTTarget
    label: str


class RRSTrainer:
    """Runs one RRS tuning job into a run directory."""

    def __init__(self, cfg: TuneConfig, run_dir: str | Path, model: Any = None,
                 log: Callable[[str], None] = print, progress: bool = True) -> None:
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self._model = model
        self.log = log
        self.progress = progress

    # -- data -------------------------------------------------------------------------------------
    def load_model(self) -> Any:
        if self._model is None:
            from rrs.models.loader import load_model

            self._model = load_model(self.cfg.model, self.cfg.device, self.cfg.dtype, progress=self.progress)
        return self._model

    def pairs(self) -> tuple[list[Any], list[Any]]:
        from rrs import data

        pairs = data.mirror_pairs() if self.cfg.pairs == "mirror" else data.load_pairs_file(self.cfg.pairs)
        train, val = data.split_pairs(pairs, self.cfg.val_fraction, self.cfg.seed)
        train = data.pairs_per_category(train, self.cfg.pairs_per_category)
        return train, val

    def prepare(self) -> dict[str, Any]:
        """Targets from the ORIGINAL model (written once per run) and the probe set."""
        from rrs import data

        self.load_model()
        train, val = self.pairs()
        probe_pairs = val[: self.cfg.probe_per_label]
        probe_items = [p.harmful for p in probe_pairs] + [p.benign for p in probe_pairs]
        probe = data.to_queries(probe_items, self.cfg.seed)
        if not self.run.probe.is_file():
            self._write_probe(probe_items, probe)
        prepared = self._rrs_samples(train) if self.cfg.method == "rrs" else self._sft_samples(train)
        return {**prepared, "probe": probe, "probe_items": probe_items, "n_train_pairs": len(train),
                "n_val_pairs": len(val)}

    def _sft_samples(self, train: Sequence[Any]) -> dict[str, Any]:
        from rrs import data, sft

        cfg = self.cfg
        items = sft.training_items(cfg.method, train, cfg.seed)
        path = self.run.path / "sft_targets.json"
        if path.is_file():
            targets = [sft.SFTTarget.from_json(t) for t in json.loads(path.read_text())]
        else:
            self.run.write_status(message="generating SFT targets with the original model")
            targets = sft.build_targets(cfg.method, self._model, items, cfg.modality, cfg.seed)
            atomic_write_json(path, [t.__dict__ for t in targets])
        if [t.uid for t in targets] != [it.uid for it in items]:
            raise ValueError(f"{path} does not match this run's training questions; start a new run folder")
        with_audio = cfg.modality != "text-only"
        queries = data.to_queries(items, cfg.seed, with_audio=with_audio, progress=self.progress)
        return {"samples": [Sample(q, t, t.label) for q, t in zip(queries, targets, strict=True)]}

    def _rrs_samples(self, train: Sequence[Any]) -> dict[str, Any]:
        """Features and frozen targets f0(d, t) ± ΔV̄ˢ (Eq. 12)."""
        from safetensors.torch import load_file, save_file

        from rrs import data
        from rrs.features import SafetyFeatures, compute_features
        from rrs.representations import extract_pairs

        model = self._model
        harmful = data.to_queries([p.harmful for p in train], self.cfg.seed)
        benign = data.to_queries([p.benign for p in train], self.cfg.seed)
        if self.run.targets.is_file() and (self.run.features / "features.json").is_file():
            targets = load_file(self.run.targets)
            features = SafetyFeatures.load(self.run.features)
        else:
            reps = extract_pairs(model, harmful, benign, self.cfg.modality, data.EXTRACTION_PROMPT,
                                 data.REFUSAL_EXTRACTION_PROMPT, progress=self.progress)
            w = model.lm_head_row(model.refusal_token_id)
            features = compute_features(reps, w, self.cfg.top_percent, model.refusal_token_id)
            features.save(self.run.features)
            shift = features.safety_vector
            targets = {"harmful": reps["harmful"] + shift, "benign": reps["benign"] - shift}
            atomic_write(self.run.targets, lambda tmp: save_file({k: v.contiguous() for k, v in targets.items()}, tmp))
        samples = [Sample(q, t, "harmful") for q, t in zip(harmful, targets["harmful"], strict=True)]
        samples += [Sample(q, t, "benign") for q, t in zip(benign, targets["benign"], strict=True)]
        return {"samples": samples, "features": features}

    def batch_loss(self, batch: Sequence[Sample], prompt: str, rng: random.Random) -> Any:
        """The method's objective on one micro-batch (without the penalty)."""
        import torch

        model, cfg = self._model, self.cfg
        queries = [s.query for s in batch]
        if cfg.method != "rrs":
            from rrs.sft import sft_loss

            return sft_loss(model, cfg.method, queries, [s.target for s in batch], cfg.modality, prompt, rng)
        pred = model.last_hidden(queries, cfg.modality, prompt, grad=True).float()
        target = torch.stack([s.target for s in batch]).to(pred.device)
        return ((pred - target) ** 2).sum(-1).mean()

    def _write_probe(self, items: Sequence[Any], queries: Sequence[Any]) -> None:
        from rrs.speech import save_wav

        records = []
        for item, query in zip(items, queries, strict=True):
            audio = None
            if query.audio is not None:
                audio = f"probe_audio/{item.uid}.wav"
                save_wav(self.run.path / audio, query.audio)
            records.append({"uid": item.uid, "prompt": item.prompt, "label": item.label,
                            "category": item.category, "audio": audio})
        atomic_write_json(self.run.probe, records)

    # -- per-epoch snapshot ------------------------------------------------------------------------
    def snapshot(self, epoch: int, probe: Sequence[Any], probe_items: Sequence[Any]) -> dict[str, Any]:
        """Probe representations f(d, t) at this epoch, and the first-token refusal rates they imply."""
        import torch
        from safetensors.torch import save_file

        from rrs import data
        from rrs.features import refusal_opener_ids

        model = self._model
        was_training = model.model.training
        model.model.eval()
        reps = []
        with torch.no_grad():
            for start in range(0, len(probe), 8):
                reps.append(model.last_hidden(probe[start : start + 8], self.cfg.modality, data.EXTRACTION_PROMPT))
        model.model.train(was_training)
        reps_t = torch.cat(reps).float().cpu()
        with torch.no_grad():
            top = model.lm_head(reps_t.to(model.device, model.dtype)).argmax(-1).cpu()
        openers = torch.tensor(refusal_opener_ids(model.tokenizer))
        refused = torch.isin(top, openers)
        labels = [it.label for it in probe_items]
        is_h = torch.tensor([lab == "harmful" for lab in labels])
        self.run.snapshots.mkdir(parents=True, exist_ok=True)
        atomic_write(self.run.snapshot(epoch), lambda tmp: save_file({"representations": reps_t.contiguous()}, tmp))
        return {
            "harmful_refusal": round(100.0 * float(refused[is_h].float().mean()), 2),
            "benign_refusal": round(100.0 * float(refused[~is_h].float().mean()), 2),
        }

    # -- training ----------------------------------------------------------------------------------
    def train(self, resume: bool = False, stop_after_steps: int | None = None) -> RunDir:
        """Run (or resume) the job. ``stop_after_steps`` simulates a kill, for tests."""
        import torch

        from rrs import data

        cfg = self.cfg
        self.run.path.mkdir(parents=True, exist_ok=True)
        if self.run.config.is_file():
            saved = TuneConfig.from_json(json.loads(self.run.config.read_text()))
            if not resume:
                raise FileExistsError(f"{self.run.path} already holds a run; pass --resume or choose a new folder")
            if saved != cfg:
                self.log("resuming with the configuration saved in the run directory")
                self.cfg = cfg = saved
        else:
            atomic_write_json(self.run.config, cfg.to_json())
        self.run.write_status(state="preparing", pid=os.getpid(), message="extracting representations")
        try:
            return self._train(resume, stop_after_steps, torch, data)
        except KeyboardInterrupt:
            self.run.write_status(state="stopped", message="interrupted; resume with --resume")
            raise
        except Exception as err:
            self.run.write_status(state="failed", message=f"{type(err).__name__}: {err}")
            raise

    def _train(self, resume: bool, stop_after_steps: int | None, torch: Any, data: Any) -> RunDir:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file
        from tqdm.auto import tqdm

        cfg = self.cfg
        prepared = self.prepare()
        samples, probe, probe_items = prepared["samples"], prepared["probe"], prepared["probe_items"]
        model = self._model
        torch.manual_seed(cfg.seed)  # LoRA's A matrices are drawn at random: make that reproducible
        peft_model = attach_lora(model, cfg)
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        done = self.run.completed_epochs()
        start_epoch = done[-1] if (resume and done) else 0
        if start_epoch:
            ckpt = self.run.checkpoint(start_epoch)
            set_peft_model_state_dict(peft_model, load_file(ckpt / "adapter_model.safetensors"))
            optimiser.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
            self.run.truncate_metrics(start_epoch)
            self.log(f"resuming after epoch {start_epoch}")
        else:
            if self.run.metrics.exists():
                self.run.metrics.unlink()
            rates = self.snapshot(0, probe, probe_items)
            self.run.append_metric({"type": "epoch", "epoch": 0, **rates})
        steps_per_epoch = -(-len(samples) // (cfg.batch_size * cfg.grad_accum))
        total = steps_per_epoch * cfg.epochs
        self.run.write_status(state="running", epoch=start_epoch, step=start_epoch * steps_per_epoch,
                              total_steps=total, message="training", n_samples=len(samples),
                              n_train_pairs=prepared["n_train_pairs"])
        bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, desc=cfg.method.upper(), disable=not self.progress)
        steps_run = 0
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            rng = random.Random(f"{cfg.seed}-{epoch}")
            torch.manual_seed(cfg.seed * 1000 + epoch)
            order = list(range(len(samples)))
            rng.shuffle(order)
            peft_model.train()
            started = time.time()
            for step in range(steps_per_epoch):
                chunk = order[step * cfg.batch_size * cfg.grad_accum : (step + 1) * cfg.batch_size * cfg.grad_accum]
                prompt = rng.choice(data.PROMPT_POOL)
                optimiser.zero_grad(set_to_none=True)
                rep_total = 0.0
                for micro in range(cfg.grad_accum):
                    ids = chunk[micro * cfg.batch_size : (micro + 1) * cfg.batch_size]
                    if not ids:
                        continue
                    rep_loss = self.batch_loss([samples[i] for i in ids], prompt, rng)
                    (rep_loss * len(ids) / len(chunk)).backward()
                    rep_total += float(rep_loss.detach()) * len(ids) / len(chunk)
                penalty = lora_delta_penalty(peft_model)
                if cfg.penalty > 0:
                    (cfg.penalty * penalty).backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimiser.step()
                row = {"type": "step", "epoch": epoch, "step": (epoch - 1) * steps_per_epoch + step + 1,
                       "rep_loss": round(rep_total, 4), "penalty": float(f"{float(penalty.detach()):.6g}"),
                       "loss": round(rep_total + cfg.penalty * float(penalty.detach()), 4), "prompt": prompt}
                self.run.append_metric(row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.2f}")
                self.run.write_status(epoch=epoch - 1, step=row["step"], loss=row["loss"])
                steps_run += 1
                if stop_after_steps is not None and steps_run >= stop_after_steps:
                    raise KeyboardInterrupt("stop_after_steps reached")
            rates = self.snapshot(epoch, probe, probe_items)
            self.run.append_metric({"type": "epoch", "epoch": epoch, **rates})
            ckpt = self.run.checkpoint(epoch)
            ckpt.mkdir(parents=True, exist_ok=True)
            peft_model.save_pretrained(str(ckpt))
            torch.save(optimiser.state_dict(), ckpt / "optimizer.pt")
            (ckpt / "COMPLETE").write_text(f"{time.time() - started:.1f}\n")
            self.run.write_status(epoch=epoch, message=f"epoch {epoch} done")
        bar.close()
        self.run.write_status(state="done", message="finished", epoch=cfg.epochs)
        return self.run


def export_adapter(run_dir: str | Path, out: str | Path, epoch: int | None = None) -> Path:
    """Copy a run's adapter (peft format) to ``out``; the last complete epoch by default."""
    import shutil

    run = RunDir(run_dir)
    done = run.completed_epochs()
    if not done:
        raise FileNotFoundError(f"{run_dir} has no complete epoch to export")
    src = run.checkpoint(epoch or done[-1])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(src / name, out / name)
    return out


def export_merged(run_dir: str | Path, out: str | Path, epoch: int | None = None) -> Path:
    """Save the tuned LLM with the adapter merged into its weights (``save_pretrained`` layout)."""
    from rrs.models.loader import load_model

    run = RunDir(run_dir)
    cfg = TuneConfig.from_json(json.loads(run.config.read_text()))
    done = run.completed_epochs()
    if not done:
        raise FileNotFoundError(f"{run_dir} has no complete epoch to export")
    model = apply_adapter(load_model(cfg.model, cfg.device, cfg.dtype), run.checkpoint(epoch or done[-1]))
    out = Path(out)
    model.model.save_pretrained(str(out))
    model.tokenizer.save_pretrained(str(out))
    return out
