"""Modality adaptation: resumable checkpoints, precision choice, the widened question set."""

from __future__ import annotations

import random

import pytest
import torch

from rrs.embedded.adapt import AdaptConfig, load_checkpoint, lr_at, save_checkpoint
from rrs.embedded.questions import benign_questions
from rrs.hardware import cpu_native_bf16, resolve_precision, rss_gib


def _tiny_lora_model(seed: int):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    model = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    params = [p for p in model.parameters() if p.requires_grad]
    return model, params, torch.optim.AdamW(params, lr=1e-2)


def _run(model, params, optimiser, rng: random.Random, steps: range) -> list[float]:
    losses = []
    for _ in steps:
        ids = torch.tensor([[rng.randrange(64) for _ in range(8)] for _ in range(2)])
        noise = torch.randn(())  # draws from the torch RNG too, so its state must be restored
        loss = model(input_ids=ids, labels=ids).loss * (1 + 0.01 * noise)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(round(float(loss), 6))
    return losses


def test_checkpoint_resume_gives_the_uninterrupted_run(tmp_path):
    cfg = AdaptConfig(steps=6, batch_size=2)
    model, params, opt = _tiny_lora_model(0)
    rng = random.Random(0)
    torch.manual_seed(1)
    straight = _run(model, params, opt, rng, range(6))
    final = [p.detach().clone() for p in params]

    model, params, opt = _tiny_lora_model(0)
    rng = random.Random(0)
    torch.manual_seed(1)
    first = _run(model, params, opt, rng, range(3))
    save_checkpoint(tmp_path, model, opt, 3, rng, [{"step": 3}], cfg)

    model, params, opt = _tiny_lora_model(0)  # a fresh process: new weights, new RNGs
    rng = random.Random(123)
    torch.manual_seed(99)
    step, curve = load_checkpoint(tmp_path, model, opt, rng, cfg)
    assert (step, curve) == (3, [{"step": 3}])
    rest = _run(model, params, opt, rng, range(3, 6))
    assert first + rest == straight
    for a, b in zip(params, final, strict=True):
        torch.testing.assert_close(a, b)


def test_checkpoint_of_other_settings_is_refused(tmp_path):
    model, params, opt = _tiny_lora_model(0)
    save_checkpoint(tmp_path, model, opt, 2, random.Random(0), [], AdaptConfig(steps=6))
    with pytest.raises(ValueError, match="other settings"):
        load_checkpoint(tmp_path, model, opt, random.Random(0), AdaptConfig(steps=7))


def test_no_checkpoint_starts_at_zero(tmp_path):
    model, params, opt = _tiny_lora_model(0)
    assert load_checkpoint(tmp_path, model, opt, random.Random(0), AdaptConfig()) == (0, [])


def test_precision_choice():
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") == ("bf16" if cpu_native_bf16() else "fp32")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8")
    with pytest.raises(ValueError, match="precision"):
        AdaptConfig(precision="half")
    assert rss_gib() > 0.01


def test_learning_rate_warms_up_then_decays():
    cfg = AdaptConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(99, cfg) == pytest.approx(1e-4, rel=0.05)


def test_adaptation_questions_cover_the_evaluation_forms():
    questions = benign_questions("adapt")
    starts = {q.split()[0] for q in questions}
    assert {"Write", "Give", "Explain", "How"} <= starts
    assert any("step-by-step" in q for q in questions)
    lengths = [len(q.split()) for q in questions]
    assert max(lengths) >= 20 and max(lengths) <= 30
    heldout = benign_questions("heldout")
    assert any(q.split()[0] in {"Write", "Tell", "Describe"} for q in heldout)

