"""RRS tuning (paper §4.2): LoRA on the LLM moves harmful representations into the refusal zone.

The same trainer runs the paper's SFT baselines with the same LoRA, penalty, probe snapshots, checkpoints and
resume: each method is one objective (:mod:`rrs.tuning.objectives`), so that methods differ only there.

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

import functools
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rrs.data.builtin import mirror_pairs
from rrs.data.prompts import EXTRACTION_PROMPT, PROMPT_POOL
from rrs.data.queries import to_queries
from rrs.data.splits import split_pairs, stratified_take
from rrs.data.user_files import load_pairs_file
from rrs.features import refusal_opener_ids
from rrs.hardware import release_free_memory, resolve_precision
from rrs.models.device import resolve_device_dtype
from rrs.models.loader import load_model as load_lalm
from rrs.models.prefix import FrozenPrefix
from rrs.pair_selection import benign_anchors, select_pairs
from rrs.parallel import Parallel
from rrs.separation import separation_scores
from rrs.speech import save_wav
from rrs.store import atomic_write, atomic_write_json, folder_lock
from rrs.tuning.config import TuneConfig
from rrs.tuning.generation_probe import generation_probe
from rrs.tuning.lora import attach_lora, lora_delta_penalty
from rrs.tuning.objectives import Sample, objective_for
from rrs.tuning.optimizer_state import load_optimizer_state, save_optimizer_state
from rrs.tuning.run_dir import RunDir

__all__ = ["RRSTrainer", "Trainer"]


class Trainer:
    """Runs one tuning job (RRS or an SFT baseline, by ``cfg.method``) into a run directory."""

    def __init__(self, cfg: TuneConfig, run_dir: str | Path, model: Any = None,
                 log: Callable[[str], None] = print, progress: bool = True) -> None:
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self._model = model
        self.log = log
        self.progress = progress
        self.objective = objective_for(cfg.method)
        self.parallel = Parallel()
        self._prefix: FrozenPrefix | None = None  # the probe's frozen-layer states, kept across epochs

    # -- data -------------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        return self._model

    def load_model(self) -> Any:
        if self._model is None:
            device = self.parallel.device(self.cfg.device)
            self._model = load_lalm(self.cfg.model, device, self.cfg.dtype, progress=self.progress and self.parallel.is_main)
        return self._model

    def _split(self) -> tuple[list[Any], list[Any]]:
        """Every candidate training pair, and the held-out validation pairs."""
        pairs = mirror_pairs() if self.cfg.pairs == "mirror" else load_pairs_file(self.cfg.pairs)
        return split_pairs(pairs, self.cfg.val_fraction, self.cfg.seed)

    def pairs(self) -> tuple[list[Any], list[Any]]:
        train, val = self._split()
        train = select_pairs(self.load_model, train, self.cfg.pairs_per_category, self.cfg.pair_selection,
                             progress=self.progress)
        return train, val

    def benign_anchors(self, train: Sequence[Any]) -> list[Any]:
        """The extra benign training questions of ``cfg.benign_anchors`` (none by default)."""
        if not self.cfg.benign_anchors:
            return []
        return benign_anchors(self.load_model, self._split()[0], train, self.cfg.benign_anchors, self.progress)

    def prepare(self) -> dict[str, Any]:
        """Targets from the ORIGINAL model (written once per run) and the probe set."""
        self.load_model()
        train, val = self.pairs()
        probe_pairs = stratified_take(val, self.cfg.probe_per_label)  # every category, even in a small probe
        probe_items = [p.harmful for p in probe_pairs] + [p.benign for p in probe_pairs]
        probe = to_queries(probe_items, self.cfg.seed)
        if not self.run.probe.is_file():
            self._write_probe(probe_items, probe)
        prepared = self.objective.samples(self, train)
        return {**prepared, "probe": probe, "probe_items": probe_items, "n_train_pairs": len(train),
                "n_val_pairs": len(val)}

    def batch_loss(self, batch: Sequence[Sample], prompt: str, rng: random.Random) -> Any:
        """The method's objective on one micro-batch (without the penalty)."""
        return self.objective.loss(self._model, batch, self.cfg.modality, prompt, rng)

    def _write_probe(self, items: Sequence[Any], queries: Sequence[Any]) -> None:
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
        """Probe representations f(d, t) at this epoch, the first-token refusal rates they imply, and (with
        ``gen_probe_per_label``) generation-based ASR/ORR on a stratified sample of the probe."""
        import torch
        from safetensors.torch import save_file

        model = self._model
        was_training = model.model.training
        model.model.eval()
        # Only the main rank scores the probe: its forward passes must not go through DDP, whose forward
        # talks to the other ranks (they are waiting at a barrier meanwhile).
        wrapped, model.forward_module = model.forward_module, None
        started = time.perf_counter()
        answers = 2 * self.cfg.gen_probe_per_label * self.cfg.gen_probe_samples
        self.run.write_status(message=f"epoch {epoch}: scoring the probe set ({len(probe)} representations"
                                      + (f", {answers} sampled answers)" if answers else ")"))
        reps = []
        with torch.no_grad(), model.computing_in(self.cfg.precision), model.frozen_weights_in_bf16():
            size, prefix = self.cfg.probe_batch_size, self._probe_prefix()
            for start in range(0, len(probe), size):
                batch = probe[start : start + size]
                reps.append(prefix.last_hidden(start, batch, self.cfg.modality, EXTRACTION_PROMPT) if prefix
                            else model.last_hidden(batch, self.cfg.modality, EXTRACTION_PROMPT))
            reps_seconds = time.perf_counter() - started
            generated = (generation_probe(model, self.cfg, probe, probe_items, window=self.cfg.gen_probe_window)
                         if self.cfg.gen_probe_per_label else None)
            gen_seconds = time.perf_counter() - started - reps_seconds
        model.model.train(was_training)
        model.forward_module = wrapped
        reps_t = torch.cat(reps).float().cpu()
        with torch.no_grad():
            top = model.lm_head(reps_t.to(model.device, model.dtype)).argmax(-1).cpu()
        openers = torch.tensor(refusal_opener_ids(model.tokenizer))
        refused = torch.isin(top, openers)
        labels = [it.label for it in probe_items]
        is_h = torch.tensor([lab == "harmful" for lab in labels])
        self.run.snapshots.mkdir(parents=True, exist_ok=True)
        atomic_write(self.run.snapshot(epoch), lambda tmp: save_file({"representations": reps_t.contiguous()}, tmp))
        rates = {
            "harmful_refusal": round(100.0 * float(refused[is_h].float().mean()), 2),
            "benign_refusal": round(100.0 * float(refused[~is_h].float().mean()), 2),
            "separation": separation_scores(reps_t, labels, seed=self.cfg.seed),
        }
        if generated is not None:
            rates["generation"] = generated
        total = time.perf_counter() - started
        self.run.append_timing({"epoch": epoch, "probe_seconds": round(total, 1),
                                "representations_seconds": round(reps_seconds, 1),
                                "generation_seconds": round(gen_seconds, 1)})
        return rates

    def _probe_prefix(self) -> FrozenPrefix | None:
        """With LoRA on the top layers only, the layers below never change: the probe replays the rest."""
        if self._prefix is None and self.cfg.lora_layers:
            self._prefix = FrozenPrefix(self._model, min(self.cfg.lora_layers))
        return self._prefix

    # -- training ----------------------------------------------------------------------------------
    def train(self, resume: bool = False, stop_after_steps: int | None = None) -> RunDir:
        """Run (or resume) the job. ``stop_after_steps`` simulates a kill, for tests.

        Launched by ``accelerate launch``, every rank runs this; rank 0 alone holds the folder's lock and
        writes the folder (:mod:`rrs.tuning.parallel`)."""
        import torch

        if not self.parallel.is_main:
            return self._train_locked(resume, stop_after_steps, torch)
        with folder_lock(self.run.path):  # a second job on this folder is refused before it writes anything
            return self._train_locked(resume, stop_after_steps, torch)

    def _status(self, **fields: Any) -> None:
        if self.parallel.is_main:
            self.run.write_status(**fields)

    def _train_locked(self, resume: bool, stop_after_steps: int | None, torch: Any) -> RunDir:
        cfg = self.cfg
        if not self.parallel.is_main:  # the main rank checks and writes the config; the others read it
            self.parallel.wait()
            self.cfg = TuneConfig.from_json(json.loads(self.run.config.read_text()))
            return self._train(resume, stop_after_steps, torch)
        if self.run.config.is_file():
            raw = json.loads(self.run.config.read_text())
            raw.setdefault("precision", "fp32")  # runs recorded before the field existed trained in fp32
            saved = TuneConfig.from_json(raw)
            if cfg.precision == "auto":
                cfg = self.cfg = replace(cfg, precision=saved.precision)
            if not resume:
                raise FileExistsError(f"{self.run.path} already holds a run; pass --resume or choose a new folder")
            if saved != cfg:
                self.log("resuming with the configuration saved in the run directory")
                self.cfg = cfg = saved
        else:
            if cfg.precision == "auto":  # record what "auto" chose on this machine
                device = self.parallel.device(resolve_device_dtype(cfg.device, cfg.dtype)[0])
                cfg = self.cfg = replace(cfg, precision=resolve_precision("auto", device.split(":")[0]))
            atomic_write_json(self.run.config, cfg.to_json())
        self.parallel.wait()
        self.run.write_status(state="preparing", pid=os.getpid(), message="extracting representations")
        try:
            return self._train(resume, stop_after_steps, torch)
        except KeyboardInterrupt:
            self.run.write_status(state="stopped", message="interrupted; resume with --resume")
            raise
        except Exception as err:
            self.run.write_status(state="failed", message=f"{type(err).__name__}: {err}")
            raise

    def _prepare_all(self) -> dict[str, Any]:
        """Targets and probe set: the main rank computes and writes them, the others then read them."""
        with self.load_model().computing_in(self.cfg.precision):  # targets in the precision the steps use
            if self.parallel.world > 1:  # the ranks share the forward passes first (representation cache)
                self.objective.share_extraction(self, self.pairs()[0])
            if self.parallel.is_main:
                prepared = self.prepare()
                self.parallel.wait()
            else:
                self.parallel.wait()
                prepared = self.prepare()
        return prepared

    def _train(self, resume: bool, stop_after_steps: int | None, torch: Any) -> RunDir:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file
        from tqdm.auto import tqdm

        cfg, par, main = self.cfg, self.parallel, self.parallel.is_main
        prepared = self._prepare_all()
        samples, probe, probe_items = prepared["samples"], prepared["probe"], prepared["probe_items"]
        model = self._model
        torch.manual_seed(cfg.seed)  # LoRA's A matrices are drawn at random: make that reproducible
        peft_model = attach_lora(model, cfg)
        if cfg.gradient_checkpointing:
            peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        wrapped = par.wrap(peft_model)  # DDP over the ranks (None in one process)
        model.forward_module = wrapped
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        done = self.run.completed_epochs()
        start_epoch = done[-1] if (resume and done) else 0
        if start_epoch:
            ckpt = self.run.checkpoint(start_epoch)
            set_peft_model_state_dict(peft_model, load_file(ckpt / "adapter_model.safetensors"))
            load_optimizer_state(optimiser, ckpt)
            if main:
                self.run.truncate_metrics(start_epoch)
            self.log(f"resuming after epoch {start_epoch}")
        elif main:
            for stale in (self.run.metrics, self.run.timings):
                stale.unlink(missing_ok=True)
            rates = self.snapshot(0, probe, probe_items)
            self.run.append_metric({"type": "epoch", "epoch": 0, **rates})
        par.wait()
        per_step = cfg.batch_size * cfg.grad_accum * par.world  # the global batch
        steps_per_epoch = -(-len(samples) // per_step)
        total = steps_per_epoch * cfg.epochs
        self._status(state="running", epoch=start_epoch, step=start_epoch * steps_per_epoch, total_steps=total,
                     epochs=cfg.epochs, message="training", n_samples=len(samples), processes=par.world,
                     n_train_pairs=prepared["n_train_pairs"])
        bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, desc=cfg.method.upper(),
                   disable=not self.progress or not main)
        steps_run = 0
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            rng = random.Random(f"{cfg.seed}-{epoch}")  # the epoch's order and prompts: the same on every rank
            torch.manual_seed(cfg.seed * 1000 + epoch)
            order = list(range(len(samples)))
            rng.shuffle(order)
            peft_model.train()
            started = time.time()
            # the frozen weights are cast to bf16 once per epoch, not by autocast in every forward pass
            # (lm_head excepted: the SFT objectives' answer loss calls it outside autocast, in fp32)
            with model.frozen_weights_in_bf16(cfg.precision, keep_lm_head=True):
                for step in range(steps_per_epoch):
                    chunk = order[step * per_step : (step + 1) * per_step]
                    prompt = rng.choice(PROMPT_POOL)
                    optimiser.zero_grad(set_to_none=True)
                    rep_total = 0.0
                    penalty = None
                    micro_size = cfg.batch_size * par.world
                    micros = [chunk[m * micro_size : (m + 1) * micro_size] for m in range(cfg.grad_accum)]
                    micros = [m for m in micros if m]
                    for index, micro in enumerate(micros):
                        ids, weight = par.share(micro, cfg.batch_size)
                        last = index == len(micros) - 1
                        # the objective's own draws (e.g. sft-deep's prefill cut): per rank and micro-batch
                        loss_rng = random.Random(f"{cfg.seed}-{epoch}-{step}-{index}-{par.rank}")
                        with par.no_sync(wrapped, sync=last):
                            with model.computing_in(cfg.precision):
                                rep_loss = self.batch_loss([samples[i] for i in ids], prompt, loss_rng)
                            share = rep_loss * (weight * len(ids) * par.world / len(chunk))
                            if last:
                                penalty = lora_delta_penalty(peft_model)
                                if cfg.penalty > 0:  # identical on every rank: DDP's average keeps it whole
                                    share = share + cfg.penalty * penalty
                            share.backward()
                        rep_total += float(rep_loss.detach()) * weight * len(ids) / len(chunk)
                    rep_total = par.total(rep_total)
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimiser.step()
                    release_free_memory()  # variable-length batches fragment the CPU heap (docs/EMBEDDED.md)
                    row = {"type": "step", "epoch": epoch, "step": (epoch - 1) * steps_per_epoch + step + 1,
                           "rep_loss": round(rep_total, 4), "penalty": float(f"{float(penalty.detach()):.6g}"),
                           "loss": round(rep_total + cfg.penalty * float(penalty.detach()), 4), "prompt": prompt}
                    if main:
                        self.run.append_metric(row)
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.2f}")
                    self._status(epoch=epoch - 1, step=row["step"], loss=row["loss"],
                                 message=f"training epoch {epoch} of {cfg.epochs}")
                    steps_run += 1
                    if stop_after_steps is not None and steps_run >= stop_after_steps:
                        raise KeyboardInterrupt("stop_after_steps reached")
            train_seconds = time.time() - started
            if main:
                rates = self.snapshot(epoch, probe, probe_items)
                self.run.append_metric({"type": "epoch", "epoch": epoch, **rates})
                ckpt = self.run.checkpoint(epoch)
                ckpt.mkdir(parents=True, exist_ok=True)
                peft_model.save_pretrained(str(ckpt))
                save_optimizer_state(optimiser, ckpt)
                atomic_write(ckpt / "COMPLETE", functools.partial(_write_text, f"{time.time() - started:.1f}\n"))
                self.run.append_timing({"epoch": epoch, "train_seconds": round(train_seconds, 1)})
                self.run.write_status(epoch=epoch, message=f"epoch {epoch} done")
            par.wait()
        bar.close()
        model.forward_module = None
        self._status(state="done", message="finished", epoch=cfg.epochs)
        return self.run


def _write_text(text: str, path: str) -> None:
    Path(path).write_text(text)


#: The name the trainer had when it ran RRS only; kept for callers and saved scripts.
RRSTrainer = Trainer
