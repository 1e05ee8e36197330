"""The one serialisation of every job's config (``rrs.config.ConfigMixin``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from rrs.compare import CompareConfig
from rrs.config import ConfigMixin
from rrs.evaluation.metrics import EvalConfig
from rrs.steering import SteeringConfig
from rrs.tuning import DEMO_CONFIG, TuneConfig


@dataclass(frozen=True)
class Toy(ConfigMixin):
    name: str
    layers: tuple[int, ...] | None = None
    pair: tuple[float, float] = (0.5, 1.5)
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must not be empty")


@pytest.mark.parametrize("cfg", [DEMO_CONFIG, TuneConfig(), SteeringConfig(layers=(1, 2)), EvalConfig(),
                                 CompareConfig(modalities=("text-only",), runs={"rrs": "runs/x"})])
def test_every_config_round_trips_through_json(cfg, tmp_path):
    data = cfg.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert type(cfg).from_dict(data) == cfg
    assert type(cfg).from_json(cfg.to_json()) == cfg  # the older spelling
    assert type(cfg).load(cfg.save(tmp_path / "config.json")) == cfg


def test_tuples_unknown_keys_defaults_and_validation(tmp_path):
    toy = Toy.from_dict({"name": "a", "layers": [1, 2], "pair": [1, 2], "old_setting": 3})
    assert toy.layers == (1, 2) and toy.pair == (1, 2)
    assert Toy.from_dict({"name": "a", "layers": None}).layers is None
    with pytest.raises(ValueError, match="old_setting"):
        Toy.from_dict({"name": "a", "old_setting": 3}, strict=True)
    with pytest.raises(ValueError, match="name"):
        Toy.from_dict({"name": ""})
    with pytest.raises(ValueError, match="Toy"):
        Toy.from_dict({})
    assert Toy.defaults() == {"layers": None, "pair": (0.5, 1.5), "notes": {}}
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ValueError, match="JSON object"):
        Toy.load(tmp_path / "bad.json")
