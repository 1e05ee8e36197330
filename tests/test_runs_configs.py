"""rrs.runs.configs and rrs.runs.flags: the job configs, and CLI flags that are their fields."""

from __future__ import annotations

import argparse

import pytest

from rrs.runs.configs import EvalJob, FeaturesJob, SteerJob
from rrs.runs.flags import add_config, add_fields, config_from


def test_job_configs_validate_when_built(tmp_path):
    with pytest.raises(ValueError, match="model"):
        FeaturesJob(model=" ")
    with pytest.raises(ValueError, match="top_percent"):
        FeaturesJob(top_percent=0)
    with pytest.raises(ValueError, match="neither"):
        EvalJob(harmful=str(tmp_path / "nothing.csv"))
    with pytest.raises(ValueError, match="judge"):
        EvalJob(judge="magic")
    with pytest.raises(ValueError, match="2 training pairs"):
        SteerJob(n_pairs=1)
    with pytest.raises(ValueError, match="layers"):
        SteerJob(sweep_layers="all;top")
    assert SteerJob(sweep_layers="all;2-3").layer_sets() == [None, (2, 3)]
    assert SteerJob(layers=(1, 2), refusal_prompt="sorry").steering_config().layers == (1, 2)
    assert EvalJob(steer="v", adapter="runs/x", ablate=False).method_name() == "rrs+steer"
    assert EvalJob(steer="v").method_name() == "sarsteer" and EvalJob(adapter="runs/x").method_name() == "x"
    assert EvalJob(name="mine").method_name() == "mine" and EvalJob().eval_config().samples == 5


def test_flags_are_typed_from_the_fields_and_override_a_config_file(tmp_path):
    parser = argparse.ArgumentParser()
    add_fields(parser, SteerJob, {"model": "", "layers": "", "sweep": "", "k": "", "modality": "",
                                  "refusal_prompt": ("", {"flags": ("--refusal-prompt", "--prompt")})})
    add_config(parser, "the folder")
    args = parser.parse_args(["--layers", "3-5", "--sweep", "0.1,0.2", "--prompt", "sorry", "--out", "x"])
    cfg = config_from(args, SteerJob)
    assert (cfg.layers, cfg.sweep, cfg.refusal_prompt, cfg.k) == ((3, 4, 5), (0.1, 0.2), "sorry", 10)
    SteerJob(k=3, pairs="mirror").save(tmp_path / "config.json")
    args = parser.parse_args(["--config", str(tmp_path / "config.json"), "--k", "4", "--out", "x"])
    assert config_from(args, SteerJob) == SteerJob(k=4, pairs="mirror")
    with pytest.raises(SystemExit):
        parser.parse_args(["--modality", "video", "--out", "x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--layers", "top", "--out", "x"])
