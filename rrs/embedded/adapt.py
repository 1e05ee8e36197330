"""Modality adaptation of the embedded LALM: teach the LLM to read the speech front end's soft tokens.

Benign speech only, as real LALMs are mostly adapted on benign data; no question used for RRS training
or evaluation (``rrs.embedded.questions`` checks that). Two tasks, mixed per step:

* repeat: "Repeat the question in the audio." -> the exact question text;
* answer: "Answer the question in the audio." -> the LLM's own greedy answer to the same question asked
  in text (self-distillation, at most ``answer_tokens`` tokens).

Only LoRA on the LLM trains (the front end is frozen and has no trainable parts).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rrs.embedded.questions import benign_questions
from rrs.hardware import PRECISIONS, cpu_native_bf16, release_free_memory, resolve_precision, rss_gib
from rrs.models.embedded.assemble import adapter_dir, load_embedded
from rrs.paths import cache_dir
from rrs.store import atomic_write, atomic_write_json

REPEAT_INSTRUCTION = "Repeat the question in the audio."
ANSWER_INSTRUCTION = "Answer the question in the audio."


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation run (recorded next to the adapter)."""

    variant: str = "embedded"
    steps: int = 110
    batch_size: int = 16
    lr: float = 5e-4
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    repeat_share: float = 0.7
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    voices_per_question: int = 2
    answer_tokens: int = 32
    seed: int = 0
    #: "auto" (bf16 autocast where the CPU multiplies bf16 natively, else fp32), "bf16" or "fp32"
    precision: str = "auto"
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.repeat_share <= 1.0:
            raise ValueError("repeat_share must lie in [0, 1]")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("steps, batch_size and checkpoint_every must be >= 1")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")


def lr_at(step: int, cfg: AdaptConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def self_answers(model: Any, questions: list[str], max_tokens: int, batch: int = 32) -> list[tuple[str, bool]]:
    """The LLM's own greedy text-mode answers; ``True`` when the answer ended within the budget."""
    from tqdm.auto import tqdm

    from rrs.models.base import GenerationSettings, Query

    out: list[tuple[str, bool]] = []
    settings = GenerationSettings(max_new_tokens=max_tokens + 1)
    for i in tqdm(range(0, len(questions), batch), desc="self answers"):
        chunk = questions[i : i + batch]
        texts = model.generate([Query(q) for q in chunk], "text-only", settings=settings)
        for t in texts:
            ids = model.tokenizer(t[0], add_special_tokens=False)["input_ids"]
            finished = len(ids) <= max_tokens
            out.append((model.tokenizer.decode(ids[:max_tokens]).strip(), finished))
    return out


def cached_self_answers(model: Any, questions: list[str], cfg: AdaptConfig) -> list[tuple[str, bool]]:
    """``self_answers`` kept on disk beside the checkpoints, so a resumed run does not regenerate them."""
    path = checkpoint_dir(cfg) / f"self-answers-{cfg.answer_tokens}.json"
    known: dict[str, list[Any]] = json.loads(path.read_text()) if path.is_file() else {}
    todo = [q for q in questions if q not in known]
    if todo:
        known.update({q: list(a) for q, a in zip(todo, self_answers(model, todo, cfg.answer_tokens), strict=True)})
        atomic_write_json(path, known)
    return [(known[q][0], bool(known[q][1])) for q in questions]


def clip_plan(cfg: AdaptConfig) -> list[tuple[str, Any]]:
    """(question, voice) for every adaptation clip: up to ``voices_per_question`` distinct voices each."""
    from rrs.speech import voice_for

    plan = []
    for q in benign_questions("adapt", seed=cfg.seed):
        used = []
        for k in range(cfg.voices_per_question):
            voice = voice_for(f"{q}|{k}", cfg.seed)
            if voice not in used:
                used.append(voice)
                plan.append((q, voice))
    return plan


def batch_schedule(cfg: AdaptConfig, n_clips: int) -> list[list[tuple[int, bool]]]:
    """Every step's (clip index, is-repeat-task) pairs, drawn up front from the seed.

    Drawing the whole schedule first means only the clips and self-answers that training will use are
    computed, and a resumed run continues exactly where it stopped.
    """
    rng = random.Random(cfg.seed)
    return [[(i, rng.random() < cfg.repeat_share) for i in rng.sample(range(n_clips), cfg.batch_size)]
            for _ in range(cfg.steps)]


def build_examples(cfg: AdaptConfig, model: Any, schedule: list[list[tuple[int, bool]]]) -> dict[int, dict[str, Any]]:
    """The examples the schedule uses, by clip index: audio, question and (where needed) the self-answer."""
    import numpy as np

    from rrs.speech import synthesize_cached

    plan = clip_plan(cfg)
    used = sorted({i for step in schedule for i, _ in step})
    answer_for = sorted({plan[i][0] for step in schedule for i, repeat in step if not repeat})
    answers = dict(zip(answer_for, cached_self_answers(model, answer_for, cfg), strict=True))
    examples = {}
    for i in used:
        question, voice = plan[i]
        answer, finished = answers.get(question, ("", True))
        examples[i] = {"question": question, "audio": np.asarray(synthesize_cached(question, voice), dtype=np.float32),
                       "voice": voice.name, "answer": answer, "answer_closes": finished}
    return examples


def checkpoint_dir(cfg: AdaptConfig) -> Path:
    """Where an adaptation run keeps its resumable state (outside the committed adapter folder)."""
    return cache_dir() / "adapt" / cfg.variant


def _config_key(cfg: AdaptConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg)))


def save_checkpoint(folder: Path, model: Any, optimiser: Any, step: int, rng: random.Random,
                    curve: list[dict[str, Any]], cfg: AdaptConfig) -> None:
    """Write the LoRA weights, optimiser moments and RNG states after ``step`` steps; atomic per file,
    with ``state.json`` written last so a kill mid-save leaves the previous checkpoint in force."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    lora = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    moments: dict[str, Any] = {}
    for i, param in enumerate(p for g in optimiser.param_groups for p in g["params"]):
        state = optimiser.state.get(param, {})
        for name in ("exp_avg", "exp_avg_sq"):
            if name in state:
                moments[f"{i}.{name}"] = state[name].detach().cpu().contiguous()
    moments["torch_rng"] = torch.get_rng_state()
    tag = f"{step:06d}"
    atomic_write(folder / f"lora-{tag}.safetensors", lambda tmp: save_file(lora, tmp))
    atomic_write(folder / f"optim-{tag}.safetensors", lambda tmp: save_file(moments, tmp))
    atomic_write_json(folder / "state.json", {"step": step, "tag": tag, "config": _config_key(cfg),
                                              "python_rng": rng.getstate(), "curve": curve})
    for old in folder.glob("*.safetensors"):
        if tag not in old.name:
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path, model: Any, optimiser: Any, rng: random.Random,
                    cfg: AdaptConfig) -> tuple[int, list[dict[str, Any]]]:
    """Restore a run saved by ``save_checkpoint``; ``(0, [])`` when there is none."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state_file = folder / "state.json"
    if not state_file.is_file():
        return 0, []
    state = json.loads(state_file.read_text())
    if state["config"] != _config_key(cfg):
        raise ValueError(
            f"{folder} holds a checkpoint of an adaptation with other settings; delete that folder to start "
            f"over, or rerun with the settings in {state_file}"
        )
    tag = state["tag"]
    set_peft_model_state_dict(model, load_file(folder / f"lora-{tag}.safetensors"))
    moments = load_file(folder / f"optim-{tag}.safetensors")
    for i, param in enumerate(p for g in optimiser.param_groups for p in g["params"]):
        if f"{i}.exp_avg" in moments:
            optimiser.state[param] = {"step": torch.tensor(float(state["step"])),
                                      "exp_avg": moments[f"{i}.exp_avg"].to(param.device),
                                      "exp_avg_sq": moments[f"{i}.exp_avg_sq"].to(param.device)}
    torch.set_rng_state(moments["torch_rng"])
    version, internal, gauss = state["python_rng"]
    rng.setstate((version, tuple(internal), gauss))
    return int(state["step"]), list(state["curve"])


def train(cfg: AdaptConfig, out_dir: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Run (or resume) the adaptation; save a peft adapter plus ``training_log.json`` into ``out_dir``.

    A checkpoint is written every ``checkpoint_every`` steps under ``checkpoint_dir(cfg)``; rerunning the
    same command after a kill resumes from it and gives the same adapter as an uninterrupted run.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    from rrs.models.base import Query

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out_dir = Path(out_dir) if out_dir else adapter_dir(cfg.variant)
    precision = resolve_precision(cfg.precision)
    model = load_embedded(cfg.variant, adapted=False)
    start = time.time()
    schedule = batch_schedule(cfg, len(clip_plan(cfg)))
    examples = build_examples(cfg, model, schedule)
    log(f"{len(examples)} clips of {len({e['question'] for e in examples.values()})} questions; precision {precision}")
    model.hear([e["audio"] for e in tqdm(examples.values(), desc="front end")])  # memoise soft tokens once
    prep_seconds = time.time() - start

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                      target_modules=list(cfg.lora_targets), bias="none")
    model.model = get_peft_model(model.model, lora)
    model.model.train()
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    ckpt = checkpoint_dir(cfg)
    done, curve = load_checkpoint(ckpt, model.model, optimiser, rng, cfg)
    if done:
        log(f"resuming after step {done} from {ckpt}")
    train_start = time.time() - (curve[-1]["seconds"] if curve else 0.0)
    bar = tqdm(range(done, cfg.steps), desc="adapting", initial=done, total=cfg.steps)
    for step in bar:
        batch = [examples[i] for i, _ in schedule[step]]
        repeat_mask = [repeat for _, repeat in schedule[step]]
        loss = _step_loss(model, batch, repeat_mask, precision, Query)
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, cfg)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        value = float(loss.detach())
        del loss
        release_free_memory()
        curve.append({"step": step + 1, "loss": round(value, 4), "lr": lr_at(step, cfg),
                      "seconds": round(time.time() - train_start, 1), "rss_gib": round(rss_gib(), 2)})
        bar.set_postfix(loss=f"{value:.3f}", rss=f"{rss_gib():.1f}G")
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            save_checkpoint(ckpt, model.model, optimiser, step + 1, rng, curve, cfg)
    model.model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.model.save_pretrained(out_dir)
    record = {
        "config": asdict(cfg),
        "precision": precision,
        "machine": machine_summary(),
        "n_clips_used": len(examples),
        "n_questions_used": len({e["question"] for e in examples.values()}),
        "n_questions_available": len(benign_questions("adapt", seed=cfg.seed)),
        "voices": sorted({e["voice"] for e in examples.values()}),
        "prep_seconds": round(prep_seconds, 1),
        "train_seconds": round(time.time() - train_start, 1),
        "trainable_params": sum(p.numel() for p in params),
        "torch_threads": torch.get_num_threads(),
        "peak_rss_gib": max((c.get("rss_gib", 0.0) for c in curve), default=0.0),
        "curve": curve,
    }
    atomic_write_json(out_dir / "training_log.json", record)
    return record


def machine_summary() -> dict[str, Any]:
    import platform

    import torch

    return {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "native_bf16": cpu_native_bf16(), "torch": torch.__version__}


def _step_loss(model: Any, batch: list[dict], repeat_mask: list[bool], precision: str, query_cls: Any) -> Any:
    """Mean token cross-entropy over the answer parts, one forward for the whole batch per instruction."""
    import torch

    total, count = 0.0, 0
    for is_repeat in (True, False):
        rows = [e for e, r in zip(batch, repeat_mask, strict=True) if r == is_repeat]
        if not rows:
            continue
        queries = [query_cls(e["question"], e["audio"]) for e in rows]
        targets = [e["question"] if is_repeat else e["answer"] for e in rows]
        closes = [True if is_repeat else e["answer_closes"] for e in rows]
        instruction = REPEAT_INSTRUCTION if is_repeat else ANSWER_INSTRUCTION
        inputs = model.prompt_with_answer(queries, "audio-text", targets, instruction, closes=closes)
        labels = inputs.pop("labels")
        base = model._base()
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            hidden = base.model(**inputs, use_cache=False).last_hidden_state
        # Gather the positions that predict answer tokens before the vocabulary projection.
        shift_labels = labels[:, 1:]
        keep = shift_labels != -100
        picked = hidden[:, :-1][keep].contiguous()
        logits = base.lm_head(picked.to(base.lm_head.weight.dtype)).float()
        loss_sum = torch.nn.functional.cross_entropy(logits, shift_labels[keep], reduction="sum")
        total = total + loss_sum
        count += int(keep.sum())
    return total / max(1, count)
