"""tools/record_run.py: a finished run becomes a recorded bundle, with its last adapter when asked."""

from __future__ import annotations

import json

import pytest
from tool_module import load_tool

from rrs.runs.commands import check_adapter
from rrs.store import RunFolder, atomic_write_json


def _finished_run(root):
    run = RunFolder(root / "run")
    atomic_write_json(run.config, {"model": "embedded", "method": "rrs"})
    atomic_write_json(run.status, {"state": "done", "pid": 123})
    run.metrics.write_text('{"epoch": 0}\n')
    for epoch in (1, 2):
        ck = run.checkpoint(epoch)
        ck.mkdir(parents=True)
        (ck / "adapter_model.safetensors").write_bytes(bytes([epoch]) * 64)
        (ck / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/home/me/llm", "r": 8}))
        (ck / "optimizer.safetensors").write_bytes(b"state")
        (ck / "README.md").write_text("model card")
        (ck / "COMPLETE").write_text(f"{10.0 * epoch}")
    return run


def test_a_bundle_keeps_the_last_adapter_only_when_asked(tmp_path):
    tool = load_tool("record_run")
    run = _finished_run(tmp_path)

    plain = RunFolder(tool.record(run.path, tmp_path / "plain"))
    assert plain.completed_epochs() == [] and "pid" not in plain.read_status()
    assert plain.metrics.read_text() == run.metrics.read_text()

    bundle = RunFolder(tool.record(run.path, tmp_path / "bundle", adapter=True))
    assert bundle.completed_epochs() == [2]
    last = bundle.checkpoint(2)
    assert sorted(p.name for p in last.iterdir()) == [
        "COMPLETE", "adapter_config.json", "adapter_model.safetensors", "adapter_model.safetensors.part01",
        "adapter_model.safetensors.parts.json"]
    assert (last / "adapter_model.safetensors.part01").read_bytes() == bytes([2]) * 64
    config = json.loads((last / "adapter_config.json").read_text())
    assert config == {"base_model_name_or_path": "embedded", "r": 8}  # no local path of this machine
    check_adapter(str(bundle.path))  # `eval --adapter <bundle>` is accepted


def test_an_unfinished_run_is_not_recorded(tmp_path):
    tool = load_tool("record_run")
    run = _finished_run(tmp_path)
    atomic_write_json(run.status, {"state": "running"})
    with pytest.raises(SystemExit, match="not a finished run"):
        tool.record(run.path, tmp_path / "bundle", adapter=True)


def test_split_weights_join_back_and_bad_parts_are_named(tmp_path):
    import hashlib

    from rrs.store import join_parts, split_file

    weights = tmp_path / "adapter_model.safetensors"
    data = bytes(range(256)) * 40
    weights.write_bytes(data)
    split_file(weights, part_bytes=4096)
    assert len(list(tmp_path.glob("*.part*[0-9]"))) == 3
    weights.unlink()  # a fresh clone has the parts only
    assert join_parts(weights).read_bytes() == data
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    weights.write_bytes(b"stale")  # a wrong whole file is made again from the parts
    assert join_parts(weights).read_bytes() == data
    weights.unlink()
    (tmp_path / "adapter_model.safetensors.part02").write_bytes(b"edited")
    with pytest.raises(ValueError, match="do not match"):
        join_parts(weights)
    (tmp_path / "adapter_model.safetensors.part03").unlink()
    with pytest.raises(FileNotFoundError, match="part03"):
        join_parts(weights)
