"""Tuning: RRS (paper §4.2) and the paper's SFT baselines, through one LoRA trainer with one objective per
method.

* :mod:`~rrs.tuning.config` -- :class:`TuneConfig` (the run's contract, ``config.json``) and :data:`DEMO_CONFIG`.
* :mod:`~rrs.tuning.objectives` -- what each method learns: samples and loss.
* :mod:`~rrs.tuning.sft` -- the SFT baselines' training questions and targets.
* :mod:`~rrs.tuning.lora` -- attaching, penalising and loading LoRA adapters.
* :mod:`~rrs.tuning.trainer` -- :class:`Trainer`: epochs, probe snapshots, checkpoints and resume.
* :mod:`~rrs.tuning.run_dir` -- the files of a run folder.
* :mod:`~rrs.tuning.export` -- a run's adapter, or the LLM with it merged.
* :mod:`~rrs.tuning.epoch_choice` -- which epoch's checkpoint to use: last, best by the probe, or a number.
"""

from rrs.tuning.config import DEMO_CONFIG, LORA_MODULES, METHODS, PRESETS, TuneConfig
from rrs.tuning.export import export_adapter, export_merged
from rrs.tuning.lora import apply_adapter, attach_lora, lora_delta_penalty, lora_targets
from rrs.tuning.objectives import OBJECTIVES, Objective, Sample, objective_for
from rrs.tuning.run_dir import RunDir
from rrs.tuning.trainer import RRSTrainer, Trainer

__all__ = [
    "DEMO_CONFIG",
    "PRESETS",
    "LORA_MODULES",
    "METHODS",
    "OBJECTIVES",
    "Objective",
    "RRSTrainer",
    "RunDir",
    "Sample",
    "Trainer",
    "TuneConfig",
    "apply_adapter",
    "attach_lora",
    "export_adapter",
    "export_merged",
    "lora_delta_penalty",
    "lora_targets",
    "objective_for",
]
