"""rrs.models.embedded: weight readers, assembly checks, and the embedded LALM end to end."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from rrs.models.base import GenerationSettings
from rrs.models.cascade import without_system_turn
from rrs.models.embedded import whisper_ct2
from rrs.models.embedded.assemble import VARIANTS, checkpoint_dir, is_prepared
from rrs.models.embedded.llm_gguf import QWEN, QWEN15, WeightIntegrityError, verify


def _ct2_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _write_ct2(path, version: int = 6) -> np.ndarray:
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    body = struct.pack("<I", version) + _ct2_string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", 1)
    body += _ct2_string("encoder/w") + struct.pack("<B", 2) + struct.pack("<II", 2, 3)
    body += struct.pack("<B", 4) + struct.pack("<I", weight.nbytes) + weight.tobytes()
    body += struct.pack("<I", 1) + _ct2_string("encoder/alias") + _ct2_string("encoder/w")
    path.write_bytes(body)
    return weight


def test_ct2_reader_reads_variables_and_aliases(tmp_path):
    weight = _write_ct2(tmp_path / "model.bin")
    spec, variables = whisper_ct2.read_ct2_variables(tmp_path / "model.bin")
    assert spec == "WhisperSpec"
    np.testing.assert_array_equal(variables["encoder/w"], weight)
    assert variables["encoder/alias"] is variables["encoder/w"]


def test_ct2_reader_rejects_other_versions_and_truncation(tmp_path):
    _write_ct2(tmp_path / "v5.bin", version=5)
    with pytest.raises(whisper_ct2.CT2FormatError, match="version 5"):
        whisper_ct2.read_ct2_variables(tmp_path / "v5.bin")
    (tmp_path / "cut.bin").write_bytes((tmp_path / "v5.bin").read_bytes()[:3])
    with pytest.raises(whisper_ct2.CT2FormatError):
        whisper_ct2.read_ct2_variables(tmp_path / "cut.bin")


def test_gguf_checksum_mismatch_is_refused(tmp_path):
    bad = tmp_path / QWEN.filename
    bad.write_bytes(b"not the model")
    with pytest.raises(WeightIntegrityError, match="expected"):
        verify(QWEN, bad)


def test_whisper_conversion_transcribes_speech():
    from rrs.models.embedded.frontend import WhisperFrontEnd
    from rrs.speech import VOICES, synthesize_cached

    model, tokenizer = whisper_ct2.load_whisper_from_ct2()
    frontend = WhisperFrontEnd(model, tokenizer, torch.zeros(model.config.vocab_size, 4))
    wave = synthesize_cached("What is the weather like tomorrow?", VOICES[0])
    (heard,) = frontend.transcribe_states([wave])
    assert "weather" in heard.text.lower() and "tomorrow" in heard.text.lower()
    # The kept states are the ones that predicted the transcript's tokens.
    logits = heard.states @ model.model.decoder.embed_tokens.weight.T
    assert logits.argmax(-1).tolist() == heard.token_ids


@pytest.mark.slow
def test_embedded_model_end_to_end(embedded, spoken):
    card = embedded.card()
    expected = {"embedded": (1536, 28), "embedded-small": (896, 24)}[embedded.name.split(" ")[0]]
    assert card.family == "embedded" and (card.hidden_size, card.n_layers) == expected
    assert embedded.refusal_token_id == embedded.tokenizer.encode("I", add_special_tokens=False)[0]
    # The front end hears the spoken questions.
    heard = embedded.transcribe([q.audio for q in spoken])
    assert "bomb" in heard[0].lower() and "france" in heard[1].lower()
    for modality in ("audio-text", "text-only", "audio-only"):
        hidden = embedded.last_hidden(spoken, modality)
        logits = embedded.first_token_logits(spoken, modality)
        assert hidden.shape == (2, expected[0])
        with torch.no_grad():
            torch.testing.assert_close(embedded.lm_head(hidden).float(), logits, atol=1e-3, rtol=1e-4)
        answers = embedded.generate(spoken, modality, settings=GenerationSettings(max_new_tokens=8))
        assert all(isinstance(a[0], str) and a[0] for a in answers)
        first_ids = embedded.tokenizer(answers[1][0], add_special_tokens=False)["input_ids"][0]
        assert first_ids == int(logits[1].argmax())
    benign = embedded.generate(spoken[1:], "audio-text", "Answer the question in the audio.",
                               GenerationSettings(max_new_tokens=12))
    assert "paris" in benign[0][0].lower()


def test_default_subject_is_the_1_5b_with_no_system_turn():
    spec = VARIANTS["embedded"]
    assert spec.llm is QWEN15 and spec.system_prompt == ""
    assert VARIANTS["embedded-small"].llm is QWEN
    rendered = ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert without_system_turn(rendered) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert without_system_turn("<|im_start|>user\nHi<|im_end|>\n") == "<|im_start|>user\nHi<|im_end|>\n"


def test_a_cache_assembled_from_another_llm_is_not_reused(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("RRS_CACHE", str(tmp_path))
    folder = checkpoint_dir("embedded")
    folder.mkdir(parents=True)
    # A cache written when "embedded" meant the 0.5B model must be rebuilt, not loaded.
    (folder / "manifest.json").write_text(json.dumps({"version": 1, "llm_sha256": QWEN.sha256}))
    assert not is_prepared("embedded")
    (folder / "manifest.json").write_text(json.dumps({"version": 1, "llm_sha256": QWEN15.sha256}))
    assert is_prepared("embedded")


@pytest.mark.slow
def test_default_subject_renders_no_system_turn(embedded):
    from rrs.models.base import Query

    pieces = embedded._render(Query("Hi"), "text-only", None)
    if embedded.system_prompt == "":
        assert "<|im_start|>system" not in pieces[0]
    else:
        assert pieces[0].startswith("<|im_start|>system\n" + embedded.system_prompt)


def test_sampled_answers_share_the_prompt_and_match_plain_generate(embedded, spoken):
    """Several answers per question come from one prefill (rrs.models.shared_prompt), drawn as plain
    ``generate`` draws them: the same text for the same seed."""
    settings = GenerationSettings(max_new_tokens=10, do_sample=True, num_return_sequences=3, seed=5)
    shared = embedded.generate(spoken, "audio-text", settings=settings)
    inputs = embedded.build_inputs(spoken, "audio-text", None)
    torch.manual_seed(5)
    with torch.no_grad():
        plain = embedded.model.generate(**inputs, max_new_tokens=10, do_sample=True, num_return_sequences=3,
                                        temperature=0.7, top_p=0.9, top_k=0, pad_token_id=embedded.pad_token_id)
    texts = [t.strip() for t in embedded.tokenizer.batch_decode(plain, skip_special_tokens=True)]
    assert [a for answers in shared for a in answers] == texts
    assert len(shared) == 2 and all(len(a) == 3 for a in shared)


def test_bf16_answers_are_the_same_with_the_weights_cast_once(embedded, spoken):
    """Under bf16 autocast on a CPU, generate holds the frozen linear weights in bf16 (rrs.models.bf16_weights):
    the same operands, so the same answers as autocast casting them at every token."""
    from unittest import mock

    settings = GenerationSettings(max_new_tokens=10, do_sample=True, num_return_sequences=2, seed=3)
    with embedded.computing_in("bf16"):
        swapped = embedded.generate(spoken, "audio-text", settings=settings)
        with mock.patch("rrs.models.base.frozen_linears_in_bf16") as off:
            off.return_value.__enter__.return_value = 0
            plain = embedded.generate(spoken, "audio-text", settings=settings)
    assert off.called and swapped == plain
    assert all(p.dtype == torch.float32 for p in embedded.model.parameters())
