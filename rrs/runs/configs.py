"""The configs of the jobs that have no method config of their own: ``features``, ``eval``, ``steer``, ``project``.

``train`` is described by :class:`rrs.tuning.TuneConfig` and ``compare`` by :class:`rrs.compare.CompareConfig`.
Each config is frozen and checked when built; ``python -m rrs <command>``'s flags are its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rrs.config import ConfigMixin, parse_layers
from rrs.data import EVAL_SETS
from rrs.evaluation.metrics import EvalConfig
from rrs.hardware import PRECISIONS, resolve_precision
from rrs.models.base import Modality, check_modality
from rrs.projection import METHODS as MAP_METHODS
from rrs.steering import SteeringConfig, refusal_prompt_text
from rrs.store import RunFolder, read_json


@dataclass(frozen=True)
class ModelJob(ConfigMixin):
    """The model a job loads: ``embedded``, ``embedded-smol``, a checkpoint folder or a cached model id."""

    model: str = "embedded"
    device: str = "auto"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if not str(self.model).strip():
            raise ValueError("choose a model (embedded, a checkpoint folder, or a cached model id)")


@dataclass(frozen=True)
class FeaturesJob(ModelJob):
    """``features``: ΔV̄, per-feature contributions, the top-m% selection and the first-token preview."""

    pairs: str = "mirror"
    modality: Modality = "audio-text"
    top_percent: float = 25.0
    pairs_per_category: int | None = None
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_modality(self.modality)
        if not 0 < self.top_percent <= 100:
            raise ValueError("top_percent must lie in (0, 100]")


@dataclass(frozen=True)
class EvalJob(ModelJob):
    """``eval``: ASR / ORR of one model (vanilla, with an adapter and/or steering) in one modality."""

    #: A run directory (its last complete epoch) or an adapter folder.
    adapter: str | None = None
    #: Which epoch of a run directory: "last", "best" (by the run's probe, rrs.tuning.epoch_choice) or a number.
    epoch: str = "last"
    #: The method's name in reports (default: vanilla, the run's name, or sarsteer / steer).
    name: str | None = None
    #: A folder of SARSteer vectors to apply while generating.
    steer: str | None = None
    #: Steering strength (default: the vectors' own α).
    alpha: float | None = None
    #: Steer with v (the benign subspace ablated); False: the raw refusal vector d.
    ablate: bool = True
    harmful: str = "harmbench"
    benign: str = "overrefusal"
    limit: int | None = None
    modality: Modality = "audio-text"
    samples: int = 5
    max_new_tokens: int = 48
    batch_size: int = 8
    judge: str = "keyword"
    seed: int = 0
    #: "auto": bf16 autocast where the device multiplies bf16 natively, else fp32 (rrs.hardware).
    precision: str = "auto"
    #: Batch queries of similar length together (rrs.evaluation.metrics.EvalConfig.by_length).
    by_length: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        self.eval_config()  # modality, samples, judge, ...
        for spec in (self.harmful, self.benign):
            if spec not in EVAL_SETS and not Path(spec).is_file():
                raise ValueError(f"{spec!r} is neither a built-in set ({', '.join(EVAL_SETS)}) nor a file")
        if self.epoch not in ("last", "best") and not self.epoch.isdigit():
            raise ValueError(f"epoch must be 'last', 'best' or a number, not {self.epoch!r}")
        if self.epoch != "last" and not (self.adapter and RunFolder(self.adapter).completed_epochs()):
            raise ValueError("--epoch picks a checkpoint of a run folder: pass the run folder as --adapter")
        if self.adapter:
            trained_on = read_json(RunFolder(self.adapter).config, {}).get("model")
            if trained_on and trained_on != self.model:
                raise ValueError(f"run {Path(self.adapter).name!r} was trained on {trained_on!r}; set the model to it")

    def eval_config(self, device: str = "cpu") -> EvalConfig:
        """The evaluation's settings, with "auto" precision resolved for ``device``."""
        precision = resolve_precision(self.precision, device) if self.precision == "auto" else self.precision
        return EvalConfig(modality=self.modality, samples=self.samples, max_new_tokens=self.max_new_tokens,
                          batch_size=self.batch_size, seed=self.seed, judge=self.judge, precision=precision,
                          by_length=self.by_length)

    def method_name(self) -> str:
        if self.name:
            return self.name
        if self.steer:
            return ("rrs+" if self.adapter else "") + ("sarsteer" if self.ablate else "steer")
        if not self.adapter:
            return "vanilla"
        return Path(self.adapter).name + ("" if self.epoch == "last" else f"@{self.epoch}")


@dataclass(frozen=True)
class SteerJob(ModelJob):
    """``steer``: SARSteer vectors (or saved ones), then optionally an α sweep and a first-token curve."""

    #: 'figstep' (SARSteer's train/test split), 'mirror' or a pairs file.
    pairs: str = "figstep"
    #: Training pairs to use (0: all).
    n_pairs: int = 100
    layers: tuple[int, ...] | None = None
    k: int = 10
    lam: float = 1.0
    alpha: float = 0.1
    modality: Modality = "audio-text"
    refusal_prompt: str = "default"
    #: Saved vectors to use instead of computing them (the extraction settings are then ignored).
    vectors: str | None = None
    sweep: tuple[float, ...] = ()
    max_orr_rise: float | None = None
    #: Layer sets the sweep and the curve try with every α, separated by ';' (e.g. 'all;12-23').
    sweep_layers: str = "all"
    sweep_limit: int = 40
    sweep_skip: int = 0
    first_token: tuple[float, ...] = ()
    samples: int = 1
    max_new_tokens: int = 32
    seed: int = 0
    #: "auto": bf16 autocast for the sweep's generation where the device multiplies bf16 natively.
    precision: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_pairs < 0 or self.n_pairs == 1:
            raise ValueError("use at least 2 training pairs (0: all)")
        self.steering_config()
        self.layer_sets()

    def steering_config(self) -> SteeringConfig:
        return SteeringConfig(layers=self.layers, k=self.k, lam=self.lam, alpha=self.alpha, modality=self.modality,
                              refusal_prompt=refusal_prompt_text(self.refusal_prompt))

    def layer_sets(self) -> list[tuple[int, ...] | None]:
        return [parse_layers(spec) for spec in self.sweep_layers.split(";") if spec.strip()] or [None]


@dataclass(frozen=True)
class ProjectionJob(ConfigMixin):
    """``project``: a training run's map across epochs (cached in ``RUN/projections/<method>.npz``)."""

    #: The training run's folder.
    run: str = ""
    method: str = "pca"
    seed: int = 0

    def __post_init__(self) -> None:
        if not str(self.run).strip():
            raise ValueError("name the training run whose map to compute (--run)")
        if self.method not in MAP_METHODS:
            raise ValueError(f"unknown projection {self.method!r}; choose one of {', '.join(MAP_METHODS)}")
