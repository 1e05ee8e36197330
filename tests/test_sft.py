"""The SFT baselines (paper §5.1, Appendix E) on tiny random models: targets, losses and runs."""

from __future__ import annotations

import json
import random

import pytest
import torch
from conftest import TINY_PAIRS, write_pairs

from rrs import data
from rrs.features import refusal_opener_ids
from rrs.models.base import GenerationSettings, Query
from rrs.testing import tiny_qwen2_audio
from rrs.tuning import RRSTrainer, TuneConfig, sft


@pytest.fixture(scope="module")
def model():
    return tiny_qwen2_audio(seed=0)


@pytest.fixture()
def pairs(tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    return data.load_pairs_file(write_pairs(tmp_path / "pairs.jsonl", TINY_PAIRS))


def greedy_text(model, prompts, n):
    settings = GenerationSettings(max_new_tokens=n, do_sample=False, num_return_sequences=1)
    return [r[0] for r in model.generate([Query(p) for p in prompts], "text-only", None, settings)]


def test_shallow_mirror_targets_refusal_token_and_the_vanilla_benign_prefix(model, pairs):
    items = sft.training_items("sft-shallow-mirror", pairs, seed=0)
    assert [it.uid for it in items] == [it.uid for it in data.flatten(pairs)]  # Mirror: the twins
    targets = sft.build_targets("sft-shallow-mirror", model, items, "audio-text", seed=0)
    openers = refusal_opener_ids(model.tokenizer)
    benign = [it for it in items if it.label == "benign"]
    logits = model.first_token_logits(data.to_queries(benign, 0, progress=False), "audio-text",
                                      data.EXTRACTION_PROMPT)
    logits[:, openers] = -torch.inf
    expected = logits.argmax(-1).tolist()
    for target, item in zip(targets, items, strict=True):
        assert target.uid == item.uid and target.answer is None
        if item.label == "harmful":
            assert target.token_id == model.refusal_token_id == model.token_id("I")
    assert [t.token_id for t in targets if t.label == "benign"] == expected
    assert not set(expected) & set(openers)


def test_shallow_parallel_pairs_harmful_questions_with_unrelated_benign_ones(model, pairs):
    items = sft.training_items("sft-shallow-parallel", pairs, seed=0)
    twins = {p.harmful.uid: p.benign.uid for p in pairs}
    assert len(items) == 2 * len(pairs)
    for harmful, benign in zip(items[::2], items[1::2], strict=True):
        assert harmful.label == "harmful" and benign.label == "benign"
        assert twins[harmful.uid] != benign.uid


def test_full_targets_refusals_for_harmful_and_the_models_own_answers_for_benign(model, pairs):
    items = sft.training_items("sft-full", pairs, seed=0)
    targets = sft.build_targets("sft-full", model, items, "audio-text", seed=0)
    benign_prompts = [it.prompt for it in items if it.label == "benign"]
    own = greedy_text(model, benign_prompts, sft.ANSWER_TOKENS)
    assert [t.answer for t in targets if t.label == "benign"] == own
    assert all(t.answer in data.REFUSAL_TEMPLATES for t in targets if t.label == "harmful")
    assert all(t.harmful_answer is None and t.token_id is None for t in targets)


def test_deep_prefills_at_most_ten_tokens_of_a_harmful_answer_and_learns_only_the_refusal(model, pairs):
    items = sft.training_items("sft-deep", pairs, seed=0)
    targets = sft.build_targets("sft-deep", model, items, "audio-text", seed=0)
    harmful = [t for t in targets if t.label == "harmful"]
    own = greedy_text(model, [it.prompt for it in items if it.label == "harmful"], sft.ANSWER_TOKENS)
    assert [t.harmful_answer for t in harmful] == own
    rng = random.Random(0)
    lengths = set()
    for _ in range(60):
        prefill = sft.deep_prefill(model, harmful[0], rng)
        assert own[0].startswith(prefill.strip()) or prefill == ""
        lengths.add(len(model.tokenizer(prefill, add_special_tokens=False)["input_ids"]))
    assert min(lengths) == 0 and 5 < max(lengths) <= sft.DEEP_PREFILL_MAX
    # The labels hold the refusal (and the end of turn) only: prompt and prefill are masked.
    query = data.to_queries([items[0]], 0, progress=False)
    batch = model.prompt_with_answer(query, "audio-text", [" " + harmful[0].answer], "Answer.",
                                      prefixes=["To do that, first"])
    labels = batch["labels"][0]
    learnt = model.tokenizer.decode(labels[labels != -100])
    assert learnt.startswith(" " + harmful[0].answer[:20]) and "To do that" not in learnt


def test_answer_loss_equals_the_models_own_loss(model, pairs):
    query = data.to_queries([pairs[0].benign, pairs[1].benign], 0, progress=False)
    batch = model.prompt_with_answer(query, "audio-text", ["Sure, here it is.", "The answer"], "Answer.")
    with torch.no_grad():
        ours = float(model.answer_loss(batch))
        theirs = float(model.model(**batch, use_cache=False).loss)
    assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.mark.parametrize("method", ["sft-shallow-mirror", "sft-deep"])
def test_sft_run_lowers_its_loss_and_resumes_with_its_saved_targets(method, tmp_path, monkeypatch):
    monkeypatch.setenv("RRS_CACHE", str(tmp_path / "cache"))
    pairs_file = write_pairs(tmp_path / "pairs.jsonl", TINY_PAIRS)
    cfg = TuneConfig(model="tiny", method=method, pairs=str(pairs_file), epochs=6, batch_size=4, grad_accum=1,
                     lr=5e-2, lora_r=4, lora_alpha=8, lora_dropout=0.0, penalty=0.0, val_fraction=0.25,
                     probe_per_label=2)
    run = RRSTrainer(cfg, tmp_path / "run", model=tiny_qwen2_audio(seed=0), progress=False).train()
    steps = [r for r in run.read_metrics() if r["type"] == "step"]
    first, last = steps[:2], steps[-2:]
    assert sum(r["rep_loss"] for r in last) < 0.8 * sum(r["rep_loss"] for r in first)
    saved = json.loads((run.path / "sft_targets.json").read_text())
    train, _ = RRSTrainer(cfg, tmp_path / "run").pairs()
    assert len(saved) == 2 * len(train)
    assert {t["label"] for t in saved} == {"harmful", "benign"}
    # A resumed run reads the saved targets instead of generating them again.
    resumed = RRSTrainer(cfg, tmp_path / "run", model=tiny_qwen2_audio(seed=0), progress=False)
    monkeypatch.setattr(sft, "build_targets", lambda *a, **k: pytest.fail("targets regenerated"))
    assert [s.target.uid for s in resumed.prepare()["samples"]] == [t["uid"] for t in saved]


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="choose from"):
        TuneConfig(method="sft-everything")
