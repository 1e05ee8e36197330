"""What each tuning method learns: one objective per method, all run by the same LoRA trainer.

An objective builds its training samples once per run (from the ORIGINAL model, saved in the run folder so a
resumed run learns the same targets) and gives the loss of one micro-batch (the penalty is added by the
trainer). Methods therefore differ only here:

==========================  =====================================================================
``rrs``                     ‖f_θ(d, t′) − V_tgt(d)‖², frozen targets f0(d, t) ± ΔV̄ˢ (paper Eq. 12-13)
``sft-full``                cross-entropy of a full refusal (harmful) or the model's own answer (benign)
``sft-shallow-mirror``      cross-entropy of the first token: "I" (harmful) or the benign prefix
``sft-shallow-parallel``    as shallow-mirror, on Parallel pairs
``sft-deep``                as full, the harmful refusal learnt after a 0-10 token harmful prefill
==========================  =====================================================================

torch and safetensors are imported when used.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from rrs.data.prompts import EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT
from rrs.data.queries import to_queries
from rrs.data.types import Pair
from rrs.features import SafetyFeatures, compute_features
from rrs.parallel import Parallel
from rrs.representations import extract, extract_pairs
from rrs.store import atomic_write, atomic_write_json
from rrs.tuning import sft
from rrs.tuning.config import TuneConfig
from rrs.tuning.run_dir import RunDir

__all__ = [
    "OBJECTIVES",
    "Objective",
    "RRSObjective",
    "SFTDeepObjective",
    "SFTFullObjective",
    "SFTShallowMirrorObjective",
    "SFTShallowParallelObjective",
    "Sample",
    "objective_for",
]


class Trainer(Protocol):
    """What an objective reads from the trainer running it."""

    cfg: TuneConfig
    run: RunDir
    progress: bool
    parallel: Parallel

    @property
    def model(self) -> Any: ...

    def benign_anchors(self, train: Sequence[Pair]) -> list[Any]: ...


@dataclass
class Sample:
    query: Any
    target: Any  # RRS: the frozen target representation (hidden,); SFT: an rrs.tuning.sft.SFTTarget
    label: str


class Objective:
    """One method's training samples and loss."""

    method: ClassVar[str]

    def samples(self, trainer: Trainer, train: Sequence[Pair]) -> dict[str, Any]:
        """``{"samples": [Sample, ...], ...}`` for the training pairs; extra keys are passed on."""
        raise NotImplementedError

    def loss(self, model: Any, batch: Sequence[Sample], modality: str, prompt: str, rng: random.Random) -> Any:
        """The objective on one micro-batch, without the penalty."""
        raise NotImplementedError

    def share_extraction(self, trainer: Trainer, train: Sequence[Pair]) -> None:
        """Under ``accelerate launch``, every rank calls this before rank 0 runs :meth:`samples`: the ranks
        share the forward passes that :meth:`samples` needs, through the representation cache."""


class RRSObjective(Objective):
    """RRS (paper §4.2): move f_θ(d, t′) onto frozen targets f0(d, t) ± ΔV̄ˢ."""

    method = "rrs"

    def samples(self, trainer: Trainer, train: Sequence[Pair]) -> dict[str, Any]:
        """Features and frozen targets f0(d, t) ± ΔV̄ˢ (Eq. 12)."""
        from safetensors.torch import load_file, save_file

        cfg, run, model = trainer.cfg, trainer.run, trainer.model
        harmful = to_queries([p.harmful for p in train], cfg.seed)
        benign = to_queries([p.benign for p in train], cfg.seed)
        anchors = to_queries(trainer.benign_anchors(train), cfg.seed)
        if run.targets.is_file() and (run.features / "features.json").is_file():
            targets = load_file(run.targets)
            features = SafetyFeatures.load(run.features)
        else:
            reps = extract_pairs(model, harmful, benign, cfg.modality, EXTRACTION_PROMPT,
                                 REFUSAL_EXTRACTION_PROMPT, progress=trainer.progress)
            w = model.lm_head_row(model.refusal_token_id)
            features = compute_features(reps, w, cfg.top_percent, model.refusal_token_id)  # from the pairs only
            features.save(run.features)
            shift = features.safety_vector
            targets = {"harmful": reps["harmful"] + shift, "benign": reps["benign"] - shift}
            if anchors:  # pushed out of the refusal zone like every benign twin
                targets["anchors"] = extract(model, anchors, cfg.modality, EXTRACTION_PROMPT,
                                             progress=trainer.progress, desc="benign anchors f(d_b, t)") - shift
            atomic_write(run.targets, lambda tmp: save_file({k: v.contiguous() for k, v in targets.items()}, tmp))
        samples = [Sample(q, t, "harmful") for q, t in zip(harmful, targets["harmful"], strict=True)]
        samples += [Sample(q, t, "benign") for q, t in zip(benign, targets["benign"], strict=True)]
        if anchors:
            samples += [Sample(q, t, "benign") for q, t in zip(anchors, targets["anchors"], strict=True)]
        return {"samples": samples, "features": features}

    def share_extraction(self, trainer: Trainer, train: Sequence[Pair]) -> None:
        cfg, run = trainer.cfg, trainer.run
        if run.targets.is_file() and (run.features / "features.json").is_file():
            return
        main = trainer.parallel.is_main
        harmful = to_queries([p.harmful for p in train], cfg.seed, progress=main)
        benign = to_queries([p.benign for p in train], cfg.seed, progress=main)
        extract_pairs(trainer.model, harmful, benign, cfg.modality, EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT,
                      progress=trainer.progress and main, parallel=trainer.parallel)

    def loss(self, model: Any, batch: Sequence[Sample], modality: str, prompt: str, rng: random.Random) -> Any:
        import torch

        pred = model.last_hidden([s.query for s in batch], modality, prompt, grad=True).float()
        target = torch.stack([s.target for s in batch]).to(pred.device)
        return ((pred - target) ** 2).sum(-1).mean()


class _SFTObjective(Objective):
    """The SFT baselines share their samples: targets from :mod:`rrs.tuning.sft`, kept in ``sft_targets.json``."""

    def samples(self, trainer: Trainer, train: Sequence[Pair]) -> dict[str, Any]:
        cfg, run = trainer.cfg, trainer.run
        items = sft.training_items(self.method, train, cfg.seed)
        path = run.path / "sft_targets.json"
        if path.is_file():
            targets = [sft.SFTTarget.from_json(t) for t in json.loads(path.read_text())]
        else:
            run.write_status(message="generating SFT targets with the original model")
            targets = sft.build_targets(self.method, trainer.model, items, cfg.modality, cfg.seed)
            atomic_write_json(path, [t.__dict__ for t in targets])
        if [t.uid for t in targets] != [it.uid for it in items]:
            raise ValueError(f"{path} does not match this run's training questions; start a new run folder")
        with_audio = cfg.modality != "text-only"
        queries = to_queries(items, cfg.seed, with_audio=with_audio, progress=trainer.progress)
        return {"samples": [Sample(q, t, t.label) for q, t in zip(queries, targets, strict=True)]}


class SFTFullObjective(_SFTObjective):
    """Mean token cross-entropy of the target answer after the prompt."""

    method = "sft-full"

    def prefixes(self, model: Any, batch: Sequence[Sample], rng: random.Random) -> list[str]:
        return ["" for _ in batch]

    def loss(self, model: Any, batch: Sequence[Sample], modality: str, prompt: str, rng: random.Random) -> Any:
        targets = [s.target for s in batch]
        prefixes = self.prefixes(model, batch, rng)
        answers = [(" " if f else "") + t.answer for f, t in zip(prefixes, targets, strict=True)]
        inputs = model.prompt_with_answer([s.query for s in batch], modality, answers, prompt,
                                          prefixes=prefixes if any(prefixes) else None)
        return model.answer_loss(inputs)


class SFTDeepObjective(SFTFullObjective):
    """As sft-full, with a harmful answer's first 0-10 tokens prefilled before each refusal."""

    method = "sft-deep"

    def prefixes(self, model: Any, batch: Sequence[Sample], rng: random.Random) -> list[str]:
        return [sft.deep_prefill(model, s.target, rng) if s.target.label == "harmful" else "" for s in batch]


class SFTShallowMirrorObjective(_SFTObjective):
    """Cross-entropy of the first response token only."""

    method = "sft-shallow-mirror"

    def loss(self, model: Any, batch: Sequence[Sample], modality: str, prompt: str, rng: random.Random) -> Any:
        import torch

        logits = model.first_token_logits([s.query for s in batch], modality, prompt, grad=True)
        wanted = torch.tensor([s.target.token_id for s in batch], device=logits.device)
        return torch.nn.functional.cross_entropy(logits, wanted)


class SFTShallowParallelObjective(SFTShallowMirrorObjective):
    """As shallow-mirror, each harmful question paired with an unrelated benign one."""

    method = "sft-shallow-parallel"


#: method name -> its objective; the keys are :data:`rrs.tuning.config.METHODS`.
OBJECTIVES: dict[str, type[Objective]] = {
    cls.method: cls
    for cls in (RRSObjective, SFTFullObjective, SFTShallowMirrorObjective, SFTShallowParallelObjective,
                SFTDeepObjective)
}


def objective_for(method: str) -> Objective:
    """The objective of ``method``; ``ValueError`` for an unknown one."""
    if method not in OBJECTIVES:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(OBJECTIVES)}")
    return OBJECTIVES[method]()
