"""rrs.tuning.optimizer_state: AdamW's state round-trips through safetensors + JSON, without pickle."""

from __future__ import annotations

import pytest
import torch

from rrs.tuning.optimizer_state import load_optimizer_state, save_optimizer_state


def _stepped(seed: int) -> tuple[torch.nn.Linear, torch.optim.AdamW]:
    torch.manual_seed(seed)
    layer = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-2, betas=(0.9, 0.98), weight_decay=0.01)
    for _ in range(3):
        layer(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()
    return layer, opt


def test_round_trip_continues_exactly(tmp_path):
    layer, opt = _stepped(0)
    save_optimizer_state(opt, tmp_path)
    assert not list(tmp_path.glob("*.pt"))
    twin = torch.nn.Linear(4, 3)
    twin.load_state_dict(layer.state_dict())
    twin_opt = torch.optim.AdamW(twin.parameters(), lr=0.5)  # other hyper-parameters: restored from the file
    load_optimizer_state(twin_opt, tmp_path)
    assert twin_opt.param_groups[0]["lr"] == 1e-2 and twin_opt.param_groups[0]["betas"] == (0.9, 0.98)
    x = torch.randn(5, 4)
    for model, optimiser in ((layer, opt), (twin, twin_opt)):
        model(x).pow(2).sum().backward()
        optimiser.step()
    assert torch.equal(layer.weight, twin.weight) and torch.equal(layer.bias, twin.bias)


def test_legacy_checkpoint_loads_and_a_missing_one_is_named(tmp_path):
    _, opt = _stepped(1)
    torch.save(opt.state_dict(), tmp_path / "optimizer.pt")
    _, fresh = _stepped(2)
    load_optimizer_state(fresh, tmp_path)
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(FileNotFoundError, match="optimiser state"):
        load_optimizer_state(fresh, tmp_path / "empty")
