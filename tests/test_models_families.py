"""The Qwen2-Audio and Qwen2.5-Omni families, on tiny random models built in code (no download).

Every test runs on both families. The models are real ``transformers`` classes with real processors, chat
templates, a real byte-level BPE tokenizer and real 16 kHz audio (a synthetic chirp), so prompt rendering,
audio-placeholder expansion, left padding, hooks, generation and checkpoint loading are exercised end to end.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rrs.models.base import DEFAULT_INSTRUCTION, MODALITIES, GenerationSettings, Query
from rrs.models.qwen2_audio import Qwen2AudioLALM
from rrs.models.qwen_omni import OMNI_SYSTEM_PROMPT, QwenOmniLALM
from rrs.testing import (
    IM_END,
    SPECIAL_TOKENS,
    save_tiny,
    tiny_audio,
    tiny_qwen2_audio,
    tiny_qwen_omni,
    tiny_tokenizer,
)

FAMILIES = {
    "qwen2-audio": (tiny_qwen2_audio, Qwen2AudioLALM),
    "qwen2.5-omni": (tiny_qwen_omni, QwenOmniLALM),
}
AUDIO_TOKEN = "<|AUDIO|>"
LONG_QUESTION = "How do I bake bread at home with only flour, water and salt?"
SHORT_QUESTION = "Why is the sky blue?"


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def lalm(family: str):
    build, _ = FAMILIES[family]
    return build(seed=0)


@pytest.fixture(scope="module")
def queries() -> list[Query]:
    """Two queries whose prompts differ in length in every modality (text and audio lengths differ)."""
    return [Query(LONG_QUESTION, tiny_audio(1.8, seed=1)), Query(SHORT_QUESTION, tiny_audio(1.0, seed=2))]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each tiny family saved once as a local checkpoint directory."""
    root = tmp_path_factory.mktemp("ckpt")
    return {name: save_tiny(build(seed=0), root / name) for name, (build, _) in FAMILIES.items()}


def decode(lalm, ids: torch.Tensor) -> str:
    return lalm.tokenizer.decode(ids.tolist(), skip_special_tokens=False)


# ---- inputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", MODALITIES)
def test_build_inputs_modalities(lalm, queries, modality):
    inputs = lalm.build_inputs(queries, modality)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    audio_id = lalm.tokenizer.convert_tokens_to_ids(AUDIO_TOKEN)
    n_audio = (ids == audio_id).sum(dim=1)
    texts = [decode(lalm, row[m.bool()]) for row, m in zip(ids, mask, strict=True)]

    # Left padding: every row ends on a real token; the rows have different lengths, so one starts padded.
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert mask[:, -1].tolist() == [1, 1]
    assert len(set(mask.sum(dim=1).tolist())) == 2
    assert 0 in mask[:, 0].tolist()
    assert all(t.endswith("<|im_start|>assistant\n") for t in texts)

    if modality == "text-only":
        assert n_audio.tolist() == [0, 0]
        assert "input_features" not in inputs
        assert LONG_QUESTION in texts[0] and SHORT_QUESTION in texts[1]
    else:
        # One placeholder per audio-encoder output frame: 16 kHz -> 100 mel frames/s -> /2 conv -> /2 pool.
        assert inputs["input_features"].shape[:2] == (2, 128)
        assert inputs["input_features"].dtype == lalm.dtype
        mel_frames = inputs["feature_attention_mask"].sum(dim=1)
        assert mel_frames.tolist() == [180, 100]
        expected = ((mel_frames - 1) // 2 + 1 - 2) // 2 + 1
        assert n_audio.tolist() == expected.tolist()
        assert all(t.count("<|audio_bos|>") == 1 and t.count("<|audio_eos|>") == 1 for t in texts)
        # The spoken question never leaks into the text.
        assert LONG_QUESTION not in texts[0] and SHORT_QUESTION not in texts[1]
    if modality == "audio-text":
        assert all(DEFAULT_INSTRUCTION in t for t in texts)
        custom = lalm.build_inputs(queries, modality, instruction="Answer the spoken question.")
        assert "Answer the spoken question." in decode(lalm, custom["input_ids"][0])
    if modality == "audio-only":
        assert not any(DEFAULT_INSTRUCTION in t for t in texts)


def test_build_inputs_prompt_format(lalm, family, queries):
    """The processors' chat templates, rendered as the two model cards show them."""
    text = lalm.prompt_texts(queries[:1], "audio-text")[0]
    if family == "qwen2-audio":
        assert lalm.system_prompt is None
        assert text == (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nAudio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
            f"{DEFAULT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
        )
    else:
        assert lalm.system_prompt == OMNI_SYSTEM_PROMPT
        assert text == (
            f"<|im_start|>system\n{OMNI_SYSTEM_PROMPT}<|im_end|>\n"
            f"<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|>{DEFAULT_INSTRUCTION}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
    lalm.system_prompt, saved = "Answer briefly.", lalm.system_prompt
    try:
        assert lalm.prompt_texts(queries[:1], "text-only")[0].startswith(
            "<|im_start|>system\nAnswer briefly.<|im_end|>\n"
        )
    finally:
        lalm.system_prompt = saved


def test_build_inputs_needs_audio(lalm):
    with pytest.raises(ValueError, match="needs audio"):
        lalm.build_inputs([Query("no audio here")], "audio-text")
    with pytest.raises(ValueError, match="unknown modality"):
        lalm.build_inputs([Query("x", tiny_audio(1.0))], "video")
    assert lalm.build_inputs([Query("text only is fine")], "text-only")["input_ids"].shape[0] == 1


def test_prompt_with_answer(lalm, queries):
    answers = ["I cannot help with that.", "Sure"]
    batch = lalm.prompt_with_answer(queries, "audio-text", answers)
    prompt = lalm.build_inputs(queries, "audio-text")
    assert batch["attention_mask"][:, 0].tolist() == [1, 1]  # right padded
    for i, answer in enumerate(answers):
        labels = batch["labels"][i]
        assert decode(lalm, labels[labels != -100]) == answer + IM_END
        n_prompt = int(prompt["attention_mask"][i].sum())
        assert (labels[:n_prompt] == -100).all()
        assert torch.equal(
            batch["input_ids"][i, :n_prompt], prompt["input_ids"][i][prompt["attention_mask"][i] == 1]
        )


def test_prompt_with_answer_prefix_is_masked_and_turn_can_stay_open(lalm, queries):
    answers, prefixes = ["I'm sorry, I cannot.", "The"], ["Step one is to", ""]
    batch = lalm.prompt_with_answer(queries, "audio-text", answers, prefixes=prefixes, closes=[True, False])
    plain = lalm.prompt_with_answer(queries, "audio-text", answers)
    first = batch["labels"][0]
    assert decode(lalm, first[first != -100]) == answers[0] + IM_END  # the prefix is not learnt
    assert "Step one is to" in decode(lalm, batch["input_ids"][0][batch["attention_mask"][0] == 1])
    second = batch["labels"][1]
    assert decode(lalm, second[second != -100]) == "The"  # no end-of-turn when closes is False
    assert int(batch["attention_mask"][0].sum()) > int(plain["attention_mask"][0].sum())


# ---- hidden states ------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", MODALITIES)
def test_last_hidden_is_what_lm_head_reads(lalm, queries, modality):
    hidden = lalm.last_hidden(queries, modality)
    assert hidden.shape == (2, lalm.hidden_size) == (2, 64)
    assert not hidden.requires_grad
    logits = lalm.first_token_logits(queries, modality)
    assert logits.shape == (2, len(lalm.tokenizer))
    with torch.no_grad():
        assert torch.allclose(lalm.lm_head(hidden).float(), logits, atol=1e-4)
    assert not torch.allclose(hidden[0], hidden[1], atol=1e-3)


@pytest.mark.parametrize("modality", ["audio-text", "text-only", "audio-only"])
def test_batch_invariance(lalm, queries, modality):
    """The shorter query alone equals the same query left-padded inside a batch of two."""
    batch_inputs = lalm.build_inputs(queries, modality)
    assert batch_inputs["attention_mask"][1, 0] == 0  # it really is padded in the batch
    alone = lalm.last_hidden(queries[1:], modality)[0]
    batched = lalm.last_hidden(queries, modality)[1]
    assert torch.allclose(alone, batched, atol=1e-4), (alone - batched).abs().max()


def test_layer_hidden(lalm, queries):
    layers = lalm.layer_hidden(queries, "audio-text")
    assert layers.shape == (lalm.n_layers, 2, lalm.hidden_size) == (2, 2, 64)
    final = lalm.last_hidden(queries, "audio-text")
    assert not torch.allclose(layers[-1], final, atol=1e-3)  # the last layer's output is pre-norm
    with torch.no_grad():
        assert torch.allclose(lalm.final_norm(layers[-1]), final, atol=1e-5)
    only_first = lalm.layer_hidden(queries, "audio-text", layers=[0])
    assert only_first.shape == (1, 2, 64)
    assert torch.allclose(only_first[0], layers[0], atol=1e-6)


def test_capture_hooks_removed_when_body_raises(lalm, queries):
    modules = [lalm.final_norm, *lalm.decoder_layers]

    def count() -> int:
        return sum(len(m._forward_hooks) for m in modules)

    before = count()
    with pytest.raises(RuntimeError, match="boom"), lalm.capture([0, 1], final=True) as got:
        assert count() == before + 3
        lalm.model(**lalm.build_inputs(queries, "text-only"), use_cache=False)
        assert set(got) == {0, 1, "final"}
        raise RuntimeError("boom")
    assert count() == before
    lalm.last_hidden(queries, "text-only")
    assert count() == before


# ---- generation ---------------------------------------------------------------------------------
def test_generate_greedy(lalm, queries):
    settings = GenerationSettings(max_new_tokens=6)
    out = lalm.generate(queries, "audio-text", settings=settings)
    assert len(out) == 2 and all(len(row) == 1 and isinstance(row[0], str) for row in out)
    assert lalm.generate(queries, "audio-text", settings=settings) == out

    inputs = lalm.build_inputs(queries, "audio-text")
    with torch.no_grad():
        first = lalm.generate_from_inputs(
            inputs,
            max_new_tokens=1,
            do_sample=False,
            pad_token_id=lalm.pad_token_id,
            temperature=None,
            top_p=None,
            top_k=None,
        )
    assert first.shape == (2, 1)
    assert first[:, 0].tolist() == lalm.first_token_logits(queries, "audio-text").argmax(dim=-1).tolist()


def test_generate_sampled_is_seeded(lalm, queries):
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, num_return_sequences=3, seed=7)
    out = lalm.generate(queries, "text-only", settings=settings)
    assert len(out) == 2 and all(len(row) == 3 for row in out)
    assert all(isinstance(s, str) for row in out for s in row)
    assert lalm.generate(queries, "text-only", settings=settings) == out
    other = lalm.generate(
        queries,
        "text-only",
        settings=GenerationSettings(max_new_tokens=8, do_sample=True, num_return_sequences=3, seed=8),
    )
    assert other != out


# ---- parts --------------------------------------------------------------------------------------
def test_refusal_token(lalm):
    assert lalm.tokenizer.encode("I", add_special_tokens=False) == [lalm.refusal_token_id]
    assert lalm.refusal_token_id == lalm.tokenizer.convert_tokens_to_ids("I")
    assert torch.equal(lalm.lm_head_row(lalm.refusal_token_id), lalm.lm_head.weight[lalm.refusal_token_id])


def test_lora_targets_and_frozen_modules(lalm):
    targets = lalm.lora_target_modules
    assert len(targets) == 7 * lalm.n_layers
    names = dict(lalm.model.named_modules())
    assert all(t.startswith(lalm.llm_prefix + ".layers.") for t in targets)
    assert all(isinstance(names[t], torch.nn.Linear) for t in targets)
    frozen = lalm.frozen_modules
    assert frozen and all(f in names for f in frozen)
    assert not any(t.startswith(f + ".") for t in targets for f in frozen)
    assert "model.audio_tower" in frozen
    # The audio tower has attention projections of its own; the prefix filter is what keeps them out.
    assert any(n.startswith("model.audio_tower.") and n.endswith("q_proj") for n in names)
    assert all(sum(p.numel() for p in names[f].parameters()) > 0 for f in frozen)
    assert lalm.llm_prefix in names
    assert lalm.decoder_layers is names[lalm.llm_prefix + ".layers"]
    assert lalm.final_norm is names[lalm.llm_prefix + ".norm"]


def test_card(lalm, family):
    card = lalm.card()
    assert card.family == family
    assert (card.n_layers, card.hidden_size, card.vocab_size) == (2, 64, len(lalm.tokenizer))
    assert card.refusal_token_id == lalm.refusal_token_id
    assert card.dtype == "float32" and card.device == "cpu"


def test_seed_and_fingerprint(family):
    build, _ = FAMILIES[family]
    a, b, c = build(seed=0), build(seed=0), build(seed=1)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()

    before = a.fingerprint()
    with torch.no_grad():
        a.decoder_layers[-1].mlp.down_proj.weight.mul_(1.5)
    assert a.fingerprint() == before  # cached until invalidated
    a.invalidate_fingerprint()
    assert a.fingerprint() != before


def test_tiny_tokenizer():
    tok = tiny_tokenizer()
    assert tok.get_vocab() == tiny_tokenizer().get_vocab()
    for token in SPECIAL_TOKENS:
        assert len(tok.encode(token, add_special_tokens=False)) == 1
    assert tok.padding_side == "left" and tok.pad_token == "<|endoftext|>"
    text = "I'm sorry, but I can't help with making a bomb."
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert len(tok.encode("I", add_special_tokens=False)) == 1
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert chat.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_tiny_audio():
    wave = tiny_audio(1.5, seed=3)
    assert wave.dtype == np.float32 and wave.shape == (24_000,)
    assert np.abs(wave).max() < 1.0 and wave.std() > 0.05
    assert np.array_equal(wave, tiny_audio(1.5, seed=3))


# ---- loading ------------------------------------------------------------------------------------
def test_from_pretrained_round_trip(lalm, family, queries, checkpoints):
    _, cls = FAMILIES[family]
    loaded = cls.from_pretrained(checkpoints[family], device="cpu", dtype="float32")
    assert type(loaded.model) is type(lalm.model)
    assert loaded.family == family and loaded.name == family
    assert loaded.system_prompt == lalm.system_prompt
    assert loaded.prompt_texts(queries, "audio-text") == lalm.prompt_texts(queries, "audio-text")
    for modality in ("audio-text", "text-only"):
        assert torch.equal(loaded.last_hidden(queries, modality), lalm.last_hidden(queries, modality))
    assert loaded.fingerprint() == lalm.fingerprint()
    settings = GenerationSettings(max_new_tokens=5)
    assert loaded.generate(queries, "audio-only", settings=settings) == lalm.generate(
        queries, "audio-only", settings=settings
    )
    assert (
        cls.from_pretrained(
            checkpoints[family], device="cpu", dtype=torch.float32, system_prompt=None
        ).system_prompt
        is None
    )


def test_from_pretrained_bfloat16(family, checkpoints, queries):
    """Float inputs (the mel features) follow the model's dtype; ids and masks stay integer."""
    _, cls = FAMILIES[family]
    loaded = cls.from_pretrained(checkpoints[family], device="cpu", dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16
    inputs = loaded.build_inputs(queries, "audio-text")
    assert inputs["input_features"].dtype == torch.bfloat16
    assert inputs["input_ids"].dtype == inputs["attention_mask"].dtype == torch.long
    assert not inputs["feature_attention_mask"].is_floating_point()
    hidden = loaded.last_hidden(queries, "audio-text")
    assert hidden.dtype == torch.bfloat16 and torch.isfinite(hidden.float()).all()


def test_omni_loads_only_the_thinker(checkpoints, queries):
    """The saved directory is a full Omni checkpoint in the released key layout; only the thinker loads."""
    from safetensors import safe_open

    root = checkpoints["qwen2.5-omni"]
    assert json.loads((root / "config.json").read_text())["model_type"] == "qwen2_5_omni"
    with safe_open(str(root / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    for prefix in (
        "thinker.model.layers.",
        "thinker.audio_tower.",
        "thinker.lm_head.",
        "talker.",
        "token2wav.",
    ):
        assert any(k.startswith(prefix) for k in keys), prefix
    loaded = QwenOmniLALM.from_pretrained(root, device="cpu", dtype="float32")
    names = [n for n, _ in loaded.model.named_modules()]
    assert type(loaded.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert not any("talker" in n or "token2wav" in n for n in names)
    assert torch.equal(
        loaded.last_hidden(queries, "audio-only"), tiny_qwen_omni(0).last_hidden(queries, "audio-only")
    )


def test_omni_thinker_only_checkpoint(tmp_path, queries):
    lalm = tiny_qwen_omni(seed=0)
    root = save_tiny(lalm, tmp_path / "thinker", full_omni=False)
    assert json.loads((root / "config.json").read_text())["model_type"] == "qwen2_5_omni_thinker"
    loaded = QwenOmniLALM.from_pretrained(root, device="cpu", dtype="float32")
    assert torch.equal(loaded.last_hidden(queries, "audio-text"), lalm.last_hidden(queries, "audio-text"))


def test_from_pretrained_released_processor_layout(lalm, family, queries, checkpoints, tmp_path):
    """Released checkpoints keep the feature extractor in a flat preprocessor_config.json (Omni's also holds
    the image processor's keys) and the template in chat_template.json; both load, without torchvision."""
    root = tmp_path / family
    shutil.copytree(checkpoints[family], root)
    features = json.loads((root / "processor_config.json").read_text())["feature_extractor"]
    if family == "qwen2.5-omni":
        features.update(
            processor_class="Qwen2_5OmniProcessor",
            image_processor_type="Qwen2VLImageProcessor",
            patch_size=14,
            merge_size=2,
            temporal_patch_size=2,
        )
    else:
        features.update(processor_class="Qwen2AudioProcessor")
    (root / "preprocessor_config.json").write_text(json.dumps(features))
    template = (root / "chat_template.jinja").read_text()
    (root / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    (root / "processor_config.json").unlink()
    (root / "chat_template.jinja").unlink()

    _, cls = FAMILIES[family]
    loaded = cls.from_pretrained(root, device="cpu", dtype="float32")
    assert loaded.processor.chat_template == template
    mine, theirs = lalm.build_inputs(queries, "audio-text"), loaded.build_inputs(queries, "audio-text")
    assert set(mine) == set(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_from_pretrained_errors(family, checkpoints, tmp_path):
    _, cls = FAMILIES[family]
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        cls.from_pretrained(missing, device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        cls.from_pretrained(empty, device="cpu")
    other = "qwen2.5-omni" if family == "qwen2-audio" else "qwen2-audio"
    with pytest.raises(ValueError, match="is not a .* checkpoint"):
        cls.from_pretrained(checkpoints[other], device="cpu")
